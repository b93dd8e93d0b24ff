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
