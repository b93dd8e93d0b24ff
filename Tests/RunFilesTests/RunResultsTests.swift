import Foundation
import RunFiles
import XCTest

final class RunResultsTests: XCTestCase {
    /// results.json keeps its snake_case keys, sorted, and leaves out what a run does not report.
    func testEncodesTheFileKeysAndOmitsUnknownValues() throws {
        var results = RunResults()
        (results.method, results.testTop1, results.labelFraction, results.randomInit) = ("knn", 0.5, 0.1, true)
        (results.kRequested, results.imagesPerSecond, results.syncBatchNorm) = (200, 12.5, false)
        results.trainLoss = .nan
        let object = try XCTUnwrap(JSONSerialization.jsonObject(with: results.encoded()) as? [String: Any])
        XCTAssertEqual(Set(object.keys), ["method", "test_top1", "label_fraction", "random_init", "k_requested",
                                          "img_per_s", "sync_batchnorm"], "NaN train_loss left out")
        XCTAssertEqual(object["test_top1"] as? Double, 0.5)
        let text = String(decoding: try results.encoded(), as: UTF8.self)
        let keys = object.keys.sorted()
        let positions = keys.map { text.range(of: "\"\($0)\"")!.lowerBound }
        XCTAssertEqual(positions, positions.sorted(), "keys in sorted order")
    }

    func testReadsWhatItWritesAndToleratesUnknownKeysAndNulls() throws {
        var results = RunResults()
        (results.method, results.encoder, results.seed, results.width, results.epochs) = ("linear-eval", "random-init", 3, 0.25, 100)
        let url = FileManager.default.temporaryDirectory.appendingPathComponent("results-\(UUID().uuidString).json")
        defer { try? FileManager.default.removeItem(at: url) }
        try results.encoded().write(to: url)
        XCTAssertEqual(try RunResults.read(url), results)
        try Data(#"{"method": "knn", "test_top1": null, "someday": [1, 2]}"#.utf8).write(to: url)
        let read = try RunResults.read(url)
        XCTAssertEqual(read.method, "knn")
        XCTAssertNil(read.testTop1)
        try Data(#"{"test_top1": "high"}"#.utf8).write(to: url)
        XCTAssertThrowsError(try RunResults.read(url), "a number of the wrong type is refused")
    }
}

/// The encoding is derived from the type: a property added later is written (or the encoding fails), and
/// drops a non-finite number like the others.
final class RunResultsDerivedEncodingTests: XCTestCase {
    private func properties() -> [(name: String, value: Any)] {
        Mirror(reflecting: RunResults()).children.map { ($0.label!, $0.value) }
    }

    /// Every stored property has a key and every key a property.
    func testEveryPropertyHasACodingKey() {
        let names = Set(properties().map(\.name))
        XCTAssertEqual(names.count, 41, "a new property: add it to CodingKeys and count it here")
        XCTAssertEqual(names, Set(RunResults.fileKeys.keys))
        XCTAssertEqual(RunResults.fileKeys["testTop1"], "test_top1")
        XCTAssertEqual(RunResults.fileKeys["imagesPerSecond"], "img_per_s")
    }

    /// Each Double property in turn, found by reflection: a finite value is written under its key, NaN and
    /// infinity are left out.
    func testEveryDoublePropertyWritesFiniteValuesAndDropsOthers() throws {
        let doubles = properties().filter { type(of: $0.value) == Optional<Double>.self }.map(\.name)
        XCTAssertEqual(doubles.count, 18)
        let decoder = JSONDecoder()
        decoder.nonConformingFloatDecodingStrategy = .convertFromString(positiveInfinity: "inf", negativeInfinity: "-inf", nan: "nan")
        for name in doubles {
            let key = try XCTUnwrap(RunResults.fileKeys[name])
            for (json, kept) in [("0.25", true), ("\"nan\"", false), ("\"inf\"", false), ("\"-inf\"", false)] {
                let results = try decoder.decode(RunResults.self, from: Data("{\"\(key)\": \(json)}".utf8))
                XCTAssertNotEqual(results, RunResults(), "\(key) decoded")
                let object = try XCTUnwrap(JSONSerialization.jsonObject(with: results.encoded()) as? [String: Any])
                if kept {
                    XCTAssertEqual(object as? [String: Double], [key: 0.25], name)
                } else {
                    XCTAssert(object.isEmpty, "\(key) = \(json) left out: \(object)")
                }
            }
        }
    }

    /// Every key set at once round-trips.
    func testEveryKeyRoundTrips() throws {
        var object: [String: Any] = [:]
        for (name, value) in properties() {
            let key = RunResults.fileKeys[name]!
            // By the exact type: a nil of any optional type would cast to every other.
            switch ObjectIdentifier(type(of: value)) {
            case ObjectIdentifier(String?.self): object[key] = "x"
            case ObjectIdentifier(Bool?.self): object[key] = true
            case ObjectIdentifier(Double?.self): object[key] = 0.5
            default: object[key] = 7
            }
        }
        let results = try JSONDecoder().decode(RunResults.self, from: JSONSerialization.data(withJSONObject: object))
        let written = try XCTUnwrap(JSONSerialization.jsonObject(with: results.encoded()) as? [String: Any])
        XCTAssertEqual(Set(written.keys), Set(object.keys))
        XCTAssertEqual(try JSONDecoder().decode(RunResults.self, from: results.encoded()), results)
    }
}
