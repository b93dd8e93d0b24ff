import Datasets
import Foundation
import Kernels
import XCTest

final class ImageFolderTests: XCTestCase {
    private func image(_ seed: UInt64, width: Int = 8, height: Int = 8) -> RGBImage {
        var rng = RandomStream(seed: seed)
        return RGBImage(width: width, height: height, pixels: (0..<(width * height * 3)).map { _ in UInt8(truncatingIfNeeded: rng.next()) })
    }

    /// `root/train/<class>/<n>.png` for classes given out of order.
    private func labelledFolder(_ root: String) throws -> (dir: String, images: [String: [RGBImage]]) {
        let train = path(root, "train")
        var images: [String: [RGBImage]] = [:]
        for (k, name) in ["dog", "cat", "emu"].enumerated() {
            try FileManager.default.createDirectory(atPath: path(train, name), withIntermediateDirectories: true)
            images[name] = (0..<(k + 2)).map { image(UInt64(10 * k + $0)) }
            for (i, im) in images[name]!.enumerated() { try ImageFile.write(im, to: path(path(train, name), "\(i).png")) }
        }
        try Data("notes".utf8).write(to: URL(fileURLWithPath: path(path(train, "cat"), "README.txt")))
        return (train, images)
    }

    func testLabelledFolderIsReadBackExactlyWithSortedClasses() throws {
        let root = try makeTemporaryDirectory(self)
        let (train, written) = try labelledFolder(root)
        let read = try ImageFolder.load(train, size: 8, cacheDirectory: path(root, "cache"))
        XCTAssertEqual(read.classNames, ["cat", "dog", "emu"])
        XCTAssertEqual(read.labels, [0, 0, 0, 1, 1, 2, 2, 2, 2])
        let expected = (written["cat"]! + written["dog"]! + written["emu"]!).flatMap(\.pixels)
        XCTAssertEqual(read.pixels, expected)
        XCTAssertNil(ImageFolder.evaluationFolder(besides: train))
        try FileManager.default.createDirectory(atPath: path(root, "val"), withIntermediateDirectories: true)
        XCTAssertEqual(ImageFolder.evaluationFolder(besides: train), URL(fileURLWithPath: path(root, "val")).standardizedFileURL.path)
    }

    func testFlatFolderIsUnlabelled() throws {
        let root = try makeTemporaryDirectory(self)
        for i in 0..<3 { try ImageFile.write(image(UInt64(i)), to: path(root, "\(i).png")) }
        let read = try ImageFolder.load(root, size: 8, cacheDirectory: path(root, ".cache"))
        XCTAssertEqual(read.labels, [-1, -1, -1])
        XCTAssertEqual(read.pixels, (0..<3).flatMap { image(UInt64($0)).pixels })
    }

    func testBadImagesAreNamedAndSkippedOnRequest() throws {
        let root = try makeTemporaryDirectory(self)
        let (train, _) = try labelledFolder(root)
        let good = ImageFile.png(image(99))
        try good.prefix(good.count - 30).write(to: URL(fileURLWithPath: path(path(train, "dog"), "cut.png")))
        try Data("hello".utf8).write(to: URL(fileURLWithPath: path(path(train, "emu"), "fake.jpg")))
        assertDatasetError(try ImageFolder.load(train, size: 8, cacheDirectory: path(root, "cache")), mentions: "cut.png") {
            if case .badImages(_, 2, 11, let names) = $0 { return names.contains("fake.jpg") } else { return false }
        }
        var lines: [String] = []
        let read = try ImageFolder.load(train, size: 8, cacheDirectory: path(root, "cache"), skipBadImages: true) { lines.append($0) }
        XCTAssertEqual(read.count, 9)
        XCTAssertTrue(lines.contains { $0.contains("skipped 2 of 11") && $0.contains("cut.png") && $0.contains("fake.jpg") }, "\(lines)")
    }

    func testCacheIsReusedAndInvalidatedWhenAFileChanges() throws {
        let root = try makeTemporaryDirectory(self)
        let (train, _) = try labelledFolder(root)
        let cache = path(root, "cache")
        var lines: [String] = []
        let first = try ImageFolder.load(train, size: 4, cacheDirectory: cache) { lines.append($0) }
        XCTAssertTrue(lines.last!.contains("decoded 9 images"), "\(lines)")
        let second = try ImageFolder.load(train, size: 4, cacheDirectory: cache) { lines.append($0) }
        XCTAssertTrue(lines.last!.contains("using cached"), "\(lines)")
        XCTAssertEqual(first.pixels, second.pixels)
        XCTAssertEqual(first.labels, second.labels)
        // Another size is another cache file; a changed file invalidates.
        _ = try ImageFolder.load(train, size: 2, cacheDirectory: cache) { lines.append($0) }
        XCTAssertTrue(lines.last!.contains("decoded"), "\(lines)")
        try ImageFile.write(image(1234, width: 12, height: 8), to: path(path(train, "emu"), "0.png"))
        let third = try ImageFolder.load(train, size: 4, cacheDirectory: cache) { lines.append($0) }
        XCTAssertTrue(lines.last!.contains("decoded 9 images"), "\(lines)")
        XCTAssertNotEqual(third.pixels, first.pixels)
        // A damaged cache file is rebuilt, not trusted.
        let file = try FileManager.default.contentsOfDirectory(atPath: cache).filter { $0.hasSuffix("-4.simclr-images") }
        XCTAssertEqual(file.count, 1)
        let url = URL(fileURLWithPath: path(cache, file[0]))
        try Data(try Data(contentsOf: url).dropLast(5)).write(to: url)
        XCTAssertEqual(try ImageFolder.load(train, size: 4, cacheDirectory: cache) { lines.append($0) }.pixels, third.pixels)
        XCTAssertTrue(lines.last!.contains("decoded"), "\(lines)")
    }

    func testResizeShorterSideThenCenterCrop() {
        // A constant image stays constant; a 16x8 image of two halves shrinks to 8x4 and its central 4x4.
        let flat = RGBImage(width: 10, height: 6, fill: (200, 10, 70))
        XCTAssertEqual(ImageFolder.resizedCenterCrop(flat, size: 3), RGBImage(width: 3, height: 3, fill: (200, 10, 70)))
        var halves = RGBImage(width: 16, height: 8, fill: (0, 0, 0))
        halves.paste(RGBImage(width: 8, height: 8, fill: (255, 255, 255)), x: 8, y: 0)
        let out = ImageFolder.resizedCenterCrop(halves, size: 4)
        XCTAssertEqual([out.width, out.height], [4, 4])
        // Columns of the crop come from the 8-wide resize's columns 2...5: 0, ~0, ~255, 255 at the edge.
        let row = (0..<4).map { Int(out.pixels[3 * $0]) }
        XCTAssertEqual(row[0], 0)
        XCTAssertEqual(row[3], 255)
        XCTAssertLessThan(row[1], 64)
        XCTAssertGreaterThan(row[2], 191)
    }
}
