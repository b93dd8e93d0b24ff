import Foundation
import XCTest
import Datasets

final class CIFAR10Tests: XCTestCase {
    func testRoundTripThroughWriter() throws {
        let dir = try makeTemporaryDirectory(self)
        let train = randomImages(count: 25, size: 32, seed: 1)
        let test = randomImages(count: 7, size: 32, seed: 2)
        let out = try CIFAR10.writeDirectory(train: train, test: test, to: dir, trainBatches: 3)
        XCTAssertEqual(out, path(dir, "cifar-10-batches-bin"))
        for name in ["data_batch_1.bin", "data_batch_2.bin", "data_batch_3.bin", "test_batch.bin", "batches.meta.txt"] {
            XCTAssertTrue(FileManager.default.fileExists(atPath: path(out, name)), name)
        }
        let readTrain = try CIFAR10.load(directory: out, split: .train)
        XCTAssertEqual(readTrain.pixels, train.pixels)
        XCTAssertEqual(readTrain.labels, train.labels)
        XCTAssertEqual(readTrain.classNames, CIFAR10.defaultClassNames)
        let readTest = try CIFAR10.load(directory: out, split: .test)
        XCTAssertEqual(readTest.pixels, test.pixels)
        XCTAssertEqual(readTest.labels, test.labels)
        // limit spans files
        let first10 = try CIFAR10.load(directory: out, split: .train, limit: 10)
        XCTAssertEqual(first10.count, 10)
        XCTAssertEqual(first10.pixels, Array(train.pixels.prefix(10 * 3072)))
    }

    /// The record layout, written byte by byte here: label, then R, G, B planes, row-major.
    func testRecordLayoutIsPlanarRGB() throws {
        let dir = try makeTemporaryDirectory(self)
        var record = [UInt8](repeating: 0, count: 3073)
        record[0] = 7
        for c in 0..<3 {
            for y in 0..<32 {
                for x in 0..<32 { record[1 + c * 1024 + y * 32 + x] = UInt8((x + 3 * y + 80 * c) % 256) }
            }
        }
        try Data(record).write(to: URL(fileURLWithPath: path(dir, "test_batch.bin")))
        let images = try CIFAR10.load(directory: dir, split: .test)
        XCTAssertEqual(images.labels, [7])
        for (y, x, c) in [(0, 0, 0), (5, 9, 1), (31, 31, 2), (17, 2, 0)] {
            XCTAssertEqual(images.pixels[(y * 32 + x) * 3 + c], UInt8((x + 3 * y + 80 * c) % 256))
        }
    }

    func testTrainSplitUsesTheBatchesThatExistInOrder() throws {
        let dir = try makeTemporaryDirectory(self)
        let a = randomImages(count: 3, size: 32, seed: 3), b = randomImages(count: 2, size: 32, seed: 4)
        try CIFAR10.writeBatch(a, to: path(dir, "data_batch_4.bin"))
        try CIFAR10.writeBatch(b, to: path(dir, "data_batch_2.bin"))
        let train = try CIFAR10.load(directory: dir, split: .train)
        XCTAssertEqual(train.pixels, b.pixels + a.pixels)
        XCTAssertEqual(train.count, 5)
    }

    func testClassNamesFile() throws {
        let dir = try makeTemporaryDirectory(self)
        try CIFAR10.writeBatch(randomImages(count: 4, size: 32, classes: 3, seed: 5), to: path(dir, "test_batch.bin"))
        try "a\nb\nc\n\n".write(toFile: path(dir, "batches.meta.txt"), atomically: true, encoding: .utf8)
        XCTAssertEqual(try CIFAR10.load(directory: dir, split: .test).classNames, ["a", "b", "c"])
        // label 3 of image 3 is out of range for three names
        try CIFAR10.writeBatch(randomImages(count: 4, size: 32, classes: 4, seed: 5), to: path(dir, "test_batch.bin"))
        assertDatasetError(try CIFAR10.load(directory: dir, split: .test), mentions: "test_batch.bin") {
            if case .labelOutOfRange(_, 3, 3, 0...2) = $0 { return true } else { return false }
        }
        let names = (0..<11).map { "c\($0)" }.joined(separator: "\n")
        try names.write(toFile: path(dir, "batches.meta.txt"), atomically: true, encoding: .utf8)
        assertDatasetError(try CIFAR10.load(directory: dir, split: .test), mentions: "batches.meta.txt") {
            if case .badClassNames(_, 11, _) = $0 { return true } else { return false }
        }
    }

    func testMalformedInputsAreReported() throws {
        let dir = try makeTemporaryDirectory(self)
        // empty directory: no training batches
        assertDatasetError(try CIFAR10.load(directory: dir, split: .train), mentions: "data_batch_1.bin") {
            if case .noDataFiles = $0 { return true } else { return false }
        }
        // missing test file
        assertDatasetError(try CIFAR10.load(directory: dir, split: .test), mentions: "test_batch.bin") {
            if case .missing = $0 { return true } else { return false }
        }
        // missing directory
        assertDatasetError(try CIFAR10.load(directory: path(dir, "nope"), split: .train), mentions: "nope") {
            if case .missing = $0 { return true } else { return false }
        }
        // not a multiple of 3073
        try Data(count: 3073 * 2 + 5).write(to: URL(fileURLWithPath: path(dir, "data_batch_1.bin")))
        assertDatasetError(try CIFAR10.load(directory: dir, split: .train), mentions: "data_batch_1.bin") {
            if case .badSize(_, 6151, 3073) = $0 { return true } else { return false }
        }
        // empty file
        try Data().write(to: URL(fileURLWithPath: path(dir, "data_batch_1.bin")))
        assertDatasetError(try CIFAR10.load(directory: dir, split: .train), mentions: "empty") {
            if case .badSize(_, 0, 3073) = $0 { return true } else { return false }
        }
        // label out of range in the second record
        var bytes = [UInt8](repeating: 0, count: 3073 * 3)
        bytes[3073] = 10
        try Data(bytes).write(to: URL(fileURLWithPath: path(dir, "data_batch_1.bin")))
        assertDatasetError(try CIFAR10.load(directory: dir, split: .train), mentions: "label 10") {
            if case .labelOutOfRange(_, 1, 10, 0...9) = $0 { return true } else { return false }
        }
        // the writer refuses what the format cannot hold
        assertDatasetError(try CIFAR10.writeBatch(randomImages(count: 1, size: 16, seed: 1), to: path(dir, "x.bin")),
                           mentions: "32x32x3") { if case .incompatibleImages = $0 { return true } else { return false } }
        // CIFAR-10 has no unlabeled split
        assertDatasetError(try CIFAR10.load(directory: dir, split: .unlabeled), mentions: "unlabeled") {
            if case .unsupportedSplit = $0 { return true } else { return false }
        }
    }
}
