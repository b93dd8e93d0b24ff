import Foundation
import XCTest
import Datasets

/// Counts and limits a caller or a file gives the binary readers: each is refused with an error, never a
/// trap (each case here trapped before the checks were added: a negative array count, an empty range, or
/// concatenating no files).
final class ReaderBoundsTests: XCTestCase {
    private let oneRecord = Data(count: CIFAR10.recordBytes)
    private let oneImage = Data(count: STL10.imageBytes)

    func testCIFARLimitsBelowOneAreRefused() throws {
        let dir = try makeTemporaryDirectory(self)
        let cifar = try CIFAR10.writeDirectory(train: randomImages(count: 3, size: 32, seed: 1),
                                               test: randomImages(count: 2, size: 32, seed: 2), to: dir)
        for limit in [0, -1, Int.min] {
            assertDatasetError(try CIFAR10.load(directory: cifar, split: .train, limit: limit), mentions: "at least 1") {
                if case .invalidConfiguration = $0 { return true } else { return false }
            }
            assertDatasetError(try CIFAR10.decodeBatch(oneRecord, file: "b.bin", limit: limit), mentions: "at least 1") {
                if case .invalidConfiguration = $0 { return true } else { return false }
            }
        }
        XCTAssertEqual(try CIFAR10.load(directory: cifar, split: .train, limit: 1).count, 1)
    }

    func testCIFARWithoutClassNamesIsRefused() {
        assertDatasetError(try CIFAR10.decodeBatch(oneRecord, file: "b.bin", classNames: []), mentions: "b.bin") {
            if case .invalidConfiguration = $0 { return true } else { return false }
        }
    }

    func testSTLLimitsAndClassNamesAreChecked() throws {
        let labels = (bytes: Data([1]), file: "y.bin")
        for limit in [0, -5] {
            assertDatasetError(try STL10.decode(images: oneImage, file: "x.bin", labels: labels, limit: limit),
                               mentions: "at least 1") { if case .invalidConfiguration = $0 { return true } else { return false } }
        }
        assertDatasetError(try STL10.decode(images: oneImage, file: "x.bin", labels: labels, classNames: []),
                           mentions: "x.bin") { if case .invalidConfiguration = $0 { return true } else { return false } }
        let dir = try makeTemporaryDirectory(self)
        try oneImage.write(to: URL(fileURLWithPath: path(dir, "train_X.bin")))
        try labels.bytes.write(to: URL(fileURLWithPath: path(dir, "train_y.bin")))
        assertDatasetError(try STL10.load(directory: dir, split: .train, limit: 0), mentions: "at least 1") {
            if case .invalidConfiguration = $0 { return true } else { return false }
        }
        XCTAssertEqual(try STL10.load(directory: dir, split: .train).labels, [0])
    }

    /// The in-memory decoders take slices of larger buffers (indices need not start at 0).
    func testDecodersReadSlices() throws {
        let images = randomImages(count: 2, size: 32, seed: 3)
        let dir = try makeTemporaryDirectory(self)
        let file = path(dir, "b.bin")
        try CIFAR10.writeBatch(images, to: file)
        let bytes = try Data(contentsOf: URL(fileURLWithPath: file))
        let slice = (Data([7, 7, 7]) + bytes).dropFirst(3)
        let read = try CIFAR10.decodeBatch(slice, file: file)
        XCTAssertEqual(read.pixels, images.pixels)
        XCTAssertEqual(read.labels, images.labels)

        var stl = Data(count: STL10.imageBytes)
        stl[stl.startIndex + 1] = 200   // plane R, column 0, row 1
        let labelSlice = Data([9, 3]).dropFirst()
        let decoded = try STL10.decode(images: (Data([1]) + stl).dropFirst(), file: "x.bin",
                                       labels: (bytes: labelSlice, file: "y.bin"))
        XCTAssertEqual(decoded.labels, [2])
        XCTAssertEqual(decoded.pixels[(1 * 96 + 0) * 3], 200)
    }
}
