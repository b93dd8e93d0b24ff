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

    /// Only the centre square is resampled now; it must be the square of the whole resized image.
    func testTheCentreCropIsTheCropOfTheWholeResize() {
        for (w, h, size) in [(37, 11, 5), (11, 37, 5), (64, 48, 16), (9, 9, 4), (3, 2, 8), (150, 4, 3)] {
            let im = image(UInt64(w * 100 + h), width: w, height: h)
            let scale = Double(size) / Double(min(w, h))
            let rw = max(size, Int((Double(w) * scale).rounded())), rh = max(size, Int((Double(h) * scale).rounded()))
            let whole = ImageFolder.resized(im, width: rw, height: rh)
            let top = (rh - size) / 2, left = (rw - size) / 2
            var expected: [UInt8] = []
            for y in top..<(top + size) { expected += whole.pixels[((y * rw + left) * 3)..<((y * rw + left + size) * 3)] }
            XCTAssertEqual(ImageFolder.resizedCenterCrop(im, size: size).pixels, expected, "\(w)x\(h) to \(size)")
        }
    }

    /// An empty class folder became a class no image has (torchvision refuses it).
    func testAnEmptyClassFolderIsRefused() throws {
        let root = try makeTemporaryDirectory(self)
        let (train, _) = try labelledFolder(root)
        try FileManager.default.createDirectory(atPath: path(train, "yak"), withIntermediateDirectories: true)
        try Data("not an image".utf8).write(to: URL(fileURLWithPath: path(path(train, "yak"), "notes.txt")))
        assertDatasetError(try ImageFolder.load(train, size: 4, cacheDirectory: path(root, "cache")), mentions: "yak") {
            if case .emptyClasses(_, ["yak"]) = $0 { return true } else { return false }
        }
        XCTAssertTrue(ImageFolder.isImageFolder(train), "still an image folder (with an error to report)")
        // A folder whose subfolders hold no image at all is no image folder (e.g. one holding cifar-10-batches-bin/).
        let other = path(root, "other")
        try FileManager.default.createDirectory(atPath: path(other, "cifar-10-batches-bin"), withIntermediateDirectories: true)
        XCTAssertFalse(ImageFolder.isImageFolder(other))
    }

    /// Dangling symbolic links, link loops and FIFOs named like images were dropped without a word (or read as
    /// "You don't have permission"); they are now bad images: named, and counted when skipped.
    func testLinksThatLeadNowhereAndFIFOsAreBadImages() throws {
        let root = try makeTemporaryDirectory(self)
        let (train, _) = try labelledFolder(root)
        let fm = FileManager.default
        try fm.createSymbolicLink(atPath: path(path(train, "cat"), "gone.png"), withDestinationPath: path(root, "missing.png"))
        try fm.createSymbolicLink(atPath: path(path(train, "dog"), "a.png"), withDestinationPath: path(path(train, "dog"), "b.png"))
        try fm.createSymbolicLink(atPath: path(path(train, "dog"), "b.png"), withDestinationPath: path(path(train, "dog"), "a.png"))
        XCTAssertEqual(mkfifo(path(path(train, "emu"), "pipe.jpg"), 0o644), 0)
        try fm.createSymbolicLink(atPath: path(train, "gnu"), withDestinationPath: path(root, "no-such-class"))
        assertDatasetError(try ImageFolder.load(train, size: 4, cacheDirectory: path(root, "cache")), mentions: "gone.png") {
            guard case .badImages(_, 5, 14, let names) = $0 else { return false }
            return names.contains("dangling symbolic link") && names.contains("symbolic link loop")
                && names.contains("a FIFO") && names.contains("gnu")
        }
        var lines: [String] = []
        let read = try ImageFolder.load(train, size: 4, cacheDirectory: path(root, "cache"), skipBadImages: true) { lines.append($0) }
        XCTAssertEqual(read.count, 9)
        XCTAssertTrue(lines.contains { $0.contains("skipped 5 of 14") }, "\(lines)")
    }

    /// A flipped byte in the decoded-image cache was used silently. The cache has a checksum now: the folder
    /// is decoded again and the damaged file replaced.
    func testAFlippedByteInTheCacheIsCaughtAndTheFolderDecodedAgain() throws {
        let root = try makeTemporaryDirectory(self)
        let (train, _) = try labelledFolder(root)
        let cache = path(root, "cache")
        let first = try ImageFolder.load(train, size: 4, cacheDirectory: cache)
        let name = try XCTUnwrap(try FileManager.default.contentsOfDirectory(atPath: cache).first)
        let url = URL(fileURLWithPath: path(cache, name))
        var bytes = [UInt8](try Data(contentsOf: url))
        bytes[bytes.count - 7] ^= 0x10
        try Data(bytes).write(to: url)
        var lines: [String] = []
        let again = try ImageFolder.load(train, size: 4, cacheDirectory: cache) { lines.append($0) }
        XCTAssertEqual(again.pixels, first.pixels)
        XCTAssertTrue(lines.first?.contains("damaged") == true && lines.last?.contains("decoded 9 images") == true, "\(lines)")
        _ = try ImageFolder.load(train, size: 4, cacheDirectory: cache) { lines.append($0) }
        XCTAssertTrue(lines.last!.contains("using cached"), "\(lines)")
    }

    /// The cache holds only the images that decoded; a later run without --skip-bad-images used it and left the
    /// bad files out without a word. They are recorded in the cache and reported (or refused) again.
    func testFilesSkippedIntoTheCacheAreReportedAgain() throws {
        let root = try makeTemporaryDirectory(self)
        let (train, _) = try labelledFolder(root)
        try Data("hello".utf8).write(to: URL(fileURLWithPath: path(path(train, "emu"), "fake.jpg")))
        let cache = path(root, "cache")
        _ = try ImageFolder.load(train, size: 4, cacheDirectory: cache, skipBadImages: true)
        assertDatasetError(try ImageFolder.load(train, size: 4, cacheDirectory: cache), mentions: "fake.jpg") {
            if case .badImages(_, 1, 10, _) = $0 { return true } else { return false }
        }
        var lines: [String] = []
        _ = try ImageFolder.load(train, size: 4, cacheDirectory: cache, skipBadImages: true) { lines.append($0) }
        XCTAssertTrue(lines.contains { $0.contains("skipped 1 of 10") } && lines.last!.contains("using cached"), "\(lines)")
    }

    /// A header claiming more pixels than allowed is a bad image of the folder (named, skippable), and the
    /// limit is part of the cache's identity.
    func testThePixelLimitMakesABadImage() throws {
        let root = try makeTemporaryDirectory(self)
        let (train, _) = try labelledFolder(root)
        try ImageDecodingTests.pngClaiming(width: 20000, height: 20000).write(to: URL(fileURLWithPath: path(path(train, "cat"), "bomb.png")))
        let cache = path(root, "cache")
        assertDatasetError(try ImageFolder.load(train, size: 4, cacheDirectory: cache), mentions: "bomb.png") {
            guard case .badImages(_, 1, 10, let names) = $0 else { return false }
            return names.contains("400000000 pixels, more than the limit of 89478485")
        }
        var lines: [String] = []
        _ = try ImageFolder.load(train, size: 4, cacheDirectory: cache, skipBadImages: true) { lines.append($0) }
        _ = try ImageFolder.load(train, size: 4, cacheDirectory: cache, skipBadImages: true, maxImagePixels: 400_000_000) { lines.append($0) }
        XCTAssertTrue(lines.last!.contains("decoded 9 images"), "another limit is another cache: \(lines)")
    }
}
