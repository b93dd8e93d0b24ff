import Foundation
import XCTest
import Datasets

final class STL10Tests: XCTestCase {
    /// The value the hand-written files hold at image i, row y, column x, channel c.
    func pattern(_ i: Int, _ y: Int, _ x: Int, _ c: Int) -> UInt8 { UInt8((x + 2 * y + 50 * c + 7 * i) % 256) }

    /// Writes `count` images in STL-10's column-major planes byte by byte (independently of `STL10.write`).
    func writeRaw(_ file: String, count: Int) throws {
        var bytes = [UInt8](repeating: 0, count: count * 27648)
        for i in 0..<count {
            for c in 0..<3 {
                for x in 0..<96 {
                    for y in 0..<96 { bytes[i * 27648 + c * 9216 + x * 96 + y] = pattern(i, y, x, c) }
                }
            }
        }
        try Data(bytes).write(to: URL(fileURLWithPath: file))
    }

    func testColumnMajorPlanesAreTransposed() throws {
        let dir = try makeTemporaryDirectory(self)
        try writeRaw(path(dir, "train_X.bin"), count: 3)
        try Data([1, 10, 4]).write(to: URL(fileURLWithPath: path(dir, "train_y.bin")))
        let images = try STL10.load(directory: dir, split: .train)
        XCTAssertEqual(images.count, 3)
        XCTAssertEqual([images.height, images.width, images.channels], [96, 96, 3])
        XCTAssertEqual(images.labels, [0, 9, 3])
        XCTAssertEqual(images.classNames, STL10.defaultClassNames)
        for i in 0..<3 {
            for (y, x, c) in [(0, 1, 0), (1, 0, 0), (10, 70, 1), (95, 3, 2), (40, 95, 1)] {
                XCTAssertEqual(images.pixels[i * 27648 + (y * 96 + x) * 3 + c], pattern(i, y, x, c), "\(i) \(y) \(x) \(c)")
            }
        }
    }

    func testSplitsAndWriterRoundTrip() throws {
        let dir = try makeTemporaryDirectory(self)
        let train = randomImages(count: 3, size: 96, seed: 11, classNames: STL10.defaultClassNames)
        let test = randomImages(count: 2, size: 96, seed: 12, classNames: STL10.defaultClassNames)
        let unlabeled = randomImages(count: 4, size: 96, seed: 13)
        try STL10.write(train, imagesPath: path(dir, "train_X.bin"), labelsPath: path(dir, "train_y.bin"))
        try STL10.write(test, imagesPath: path(dir, "test_X.bin"), labelsPath: path(dir, "test_y.bin"))
        try STL10.write(unlabeled, imagesPath: path(dir, "unlabeled_X.bin"), labelsPath: nil)
        try "a\nb\nc\nd\ne\nf\ng\nh\ni\nj\n".write(toFile: path(dir, "class_names.txt"), atomically: true, encoding: .utf8)

        let readTrain = try STL10.load(directory: dir, split: .train)
        XCTAssertEqual(readTrain.pixels, train.pixels)
        XCTAssertEqual(readTrain.labels, train.labels)
        XCTAssertEqual(readTrain.classNames.first, "a")
        XCTAssertEqual(try STL10.load(directory: dir, split: .test).pixels, test.pixels)
        let readUnlabeled = try STL10.load(directory: dir, split: .unlabeled)
        XCTAssertEqual(readUnlabeled.pixels, unlabeled.pixels)
        XCTAssertEqual(readUnlabeled.labels, [-1, -1, -1, -1])
        let both = try STL10.load(directory: dir, split: .trainPlusUnlabeled)
        XCTAssertEqual(both.count, 7)
        XCTAssertEqual(both.pixels, train.pixels + unlabeled.pixels)
        XCTAssertEqual(both.labels, train.labels + [-1, -1, -1, -1])
        XCTAssertEqual(try STL10.load(directory: dir, split: .trainPlusUnlabeled, limit: 5).labels, train.labels + [-1, -1])
    }

    func testMalformedInputsAreReported() throws {
        let dir = try makeTemporaryDirectory(self)
        assertDatasetError(try STL10.load(directory: dir, split: .train), mentions: "train_X.bin") {
            if case .missing = $0 { return true } else { return false }
        }
        try Data(count: 27648 + 1).write(to: URL(fileURLWithPath: path(dir, "train_X.bin")))
        assertDatasetError(try STL10.load(directory: dir, split: .train), mentions: "27648") {
            if case .badSize(_, 27649, 27648) = $0 { return true } else { return false }
        }
        try Data(count: 2 * 27648).write(to: URL(fileURLWithPath: path(dir, "train_X.bin")))
        assertDatasetError(try STL10.load(directory: dir, split: .train), mentions: "train_y.bin") {
            if case .missing = $0 { return true } else { return false }
        }
        try Data([1, 2, 3]).write(to: URL(fileURLWithPath: path(dir, "train_y.bin")))
        assertDatasetError(try STL10.load(directory: dir, split: .train), mentions: "train_y.bin") {
            if case .countMismatch(_, 3, _, 2) = $0 { return true } else { return false }
        }
        for bad: UInt8 in [0, 11] {
            try Data([1, bad]).write(to: URL(fileURLWithPath: path(dir, "train_y.bin")))
            assertDatasetError(try STL10.load(directory: dir, split: .train), mentions: "label \(bad)") {
                if case .labelOutOfRange(_, 1, Int(bad), 1...10) = $0 { return true } else { return false }
            }
        }
    }
}
