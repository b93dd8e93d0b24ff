import Datasets
import Foundation
import Kernels
import XCTest

/// A fresh temporary directory, removed when the test ends.
func makeTemporaryDirectory(_ test: XCTestCase) throws -> String {
    let url = FileManager.default.temporaryDirectory
        .appendingPathComponent("DatasetsTests-\(UUID().uuidString)")
    try FileManager.default.createDirectory(at: url, withIntermediateDirectories: true)
    test.addTeardownBlock { try? FileManager.default.removeItem(at: url) }
    return url.path
}

func path(_ directory: String, _ name: String) -> String {
    URL(fileURLWithPath: directory).appendingPathComponent(name).path
}

/// Small random images with labels `i % classes`, deterministic in `seed`.
func randomImages(count: Int, size: Int, classes: Int = 10, seed: UInt64,
                  classNames: [String] = CIFAR10.defaultClassNames) -> LabeledImages {
    var rng = RandomStream(seed: seed)
    let bytes = (0..<(count * size * size * 3)).map { _ in UInt8(truncatingIfNeeded: rng.next()) }
    return LabeledImages(height: size, width: size, channels: 3, pixels: bytes,
                         labels: (0..<count).map { $0 % classes }, classNames: classNames)
}

func maxAbsDifference(_ a: [Float], _ b: [Float]) -> Float {
    precondition(a.count == b.count, "\(a.count) vs \(b.count) values")
    return zip(a, b).map { abs($0 - $1) }.max() ?? 0
}

/// Asserts that `body` throws a `DatasetError` for which `matches` holds, and that its description names `mentions`.
func assertDatasetError<T>(_ body: @autoclosure () throws -> T, mentions: String,
                           file: StaticString = #filePath, line: UInt = #line,
                           _ matches: (DatasetError) -> Bool) {
    do {
        _ = try body()
        XCTFail("expected an error mentioning \(mentions)", file: file, line: line)
    } catch let error as DatasetError {
        XCTAssertTrue(matches(error), "unexpected error: \(error)", file: file, line: line)
        XCTAssertTrue(error.description.contains(mentions), "'\(error)' does not mention \(mentions)", file: file, line: line)
    } catch {
        XCTFail("not a DatasetError: \(error)", file: file, line: line)
    }
}

extension RandomStream {
    /// The augmentation stream keyed as the tests knew it, with the rank in the key (the program always
    /// passed 0 there; `RandomStream(.augmentation, ...)` keeps that 0).
    init(seed: UInt64, rank: Int, epoch: Int, sample: Int, substream: Int = 0) {
        self.init(seed: seed, key: [RandomDomain.augmentation.rawValue, rank, epoch, sample, substream])
    }
}
