import Foundation
import Kernels

/// A folder of PNG/JPEG images: torchvision's ImageFolder layout (one subfolder per class, class names
/// sorted, label = index) or a flat folder of unlabelled images (label -1).
///
/// Every image is decoded once, converted to RGB, its shorter side resized to `size` (a triangle filter
/// widened by the reduction factor, as PIL's antialiased bilinear) and centre-cropped to `size` x `size`;
/// the result is kept in a cache file of this project's own format (`ImageFolderCache`), reused while
/// the folder's files (names, sizes, modification times), the size and the pixel limit are unchanged and its
/// checksum holds.
public enum ImageFolder {
    public static let extensions: Set<String> = ["png", "jpg", "jpeg"]

    /// The files of a folder and their labels.
    public struct Listing: Equatable, Sendable {
        public var classNames: [String]
        public var files: [String]
        public var labels: [Int]
        /// Entries named like images that cannot be read as files (a dangling symbolic link, a link loop, a
        /// FIFO or device), with why: reported with the images that do not decode.
        public var unreadable: [Unreadable] = []
    }

    public struct Unreadable: Equatable, Sendable, Codable {
        public var file: String
        public var reason: String
    }

    /// Image files directly in `directory` (flat) or in its subfolders (labelled); hidden entries skipped.
    /// Files with other extensions are not listed (they are not images by name); an image file that
    /// does not decode is reported by `load`. A class folder without images is an error (as in torchvision).
    public static func list(_ directory: String) throws -> Listing {
        guard FileAccess.isDirectory(directory) else {
            throw DatasetError.missing(path: directory, expected: "a folder of images")
        }
        func entries(_ dir: String) throws -> [String] {
            do {
                return try FileManager.default.contentsOfDirectory(atPath: dir).filter { !$0.hasPrefix(".") }.sorted()
            } catch {
                throw DatasetError.io(path: dir, reason: "cannot list: \(FileAccess.reason(error))")
            }
        }
        func isImage(_ name: String) -> Bool { extensions.contains(URL(fileURLWithPath: name).pathExtension.lowercased()) }
        var unreadable: [Unreadable] = []
        /// The image files among `names` in `dir`; the ones that are not regular files go to `unreadable`.
        func images(in dir: String, _ names: [String]) -> [String] {
            names.filter(isImage).map { FileAccess.join(dir, $0) }.filter { file in
                if let why = FileAccess.notARegularFile(file) { unreadable.append(Unreadable(file: file, reason: why)); return false }
                return true
            }
        }
        let top = try entries(directory)
        let classes = top.filter { FileAccess.isDirectory(FileAccess.join(directory, $0)) }
        // A link among the top entries that leads nowhere may have been a class folder or an image: report it.
        for name in top where !classes.contains(name) && !isImage(name) {
            if let why = FileAccess.brokenLink(FileAccess.join(directory, name)) {
                unreadable.append(Unreadable(file: FileAccess.join(directory, name), reason: why))
            }
        }
        if !classes.isEmpty {
            var files: [String] = [], labels: [Int] = [], empty: [String] = []
            for (label, name) in classes.enumerated() {
                let dir = FileAccess.join(directory, name)
                let found = images(in: dir, try entries(dir))
                if found.isEmpty { empty.append(name) }
                files += found
                labels += [Int](repeating: label, count: found.count)
            }
            // No image at all: not an image folder (e.g. a folder holding cifar-10-batches-bin/).
            guard !files.isEmpty else {
                throw DatasetError.noDataFiles(directory: directory, expected: "PNG or JPEG images in its class folders")
            }
            guard empty.isEmpty else { throw DatasetError.emptyClasses(directory: directory, classes: empty) }
            return Listing(classNames: classes, files: files, labels: labels, unreadable: unreadable)
        }
        let files = images(in: directory, top)
        guard !files.isEmpty else { throw DatasetError.noDataFiles(directory: directory, expected: "PNG or JPEG images") }
        return Listing(classNames: [], files: files, labels: [Int](repeating: -1, count: files.count), unreadable: unreadable)
    }

    /// True when `path` is a folder holding images, directly or one level down.
    /// True when `path` is a folder holding images, directly or one level down (also when some of its class
    /// folders are empty: that is an error `list` reports, not another kind of dataset).
    public static func isImageFolder(_ path: String) -> Bool {
        do { _ = try list(path); return true } catch DatasetError.emptyClasses { return true } catch { return false }
    }

    /// The evaluation split beside a training folder: `DIR/../test` or `DIR/../val`, whichever exists.
    public static func evaluationFolder(besides directory: String) -> String? {
        let parent = URL(fileURLWithPath: directory).standardizedFileURL.deletingLastPathComponent()
        return ["test", "val"].map { parent.appendingPathComponent($0).path }
            .first { $0 != URL(fileURLWithPath: directory).standardizedFileURL.path && FileAccess.isDirectory($0) }
    }

    /// The images of `directory` at `size` x `size`, from the cache in `cacheDirectory` when it is current.
    /// Files that do not decode, or that `maxImagePixels` refuses (checked from their headers), are named in the
    /// error; with `skipBadImages` they are left out and named in a `log` line instead. JPEGs are decoded at
    /// a reduced size (libjpeg's 1/2 to 1/8 scaling) while their shorter side stays at least twice `size`
    /// (PIL's `thumbnail` keeps the same margin, its `reducing_gap`), so a large photo never exists at full size.
    public static func load(_ directory: String, size: Int, cacheDirectory: String, skipBadImages: Bool = false,
                            maxImagePixels: Int = ImageDecoder.Limits.defaultMaxPixels,
                            log: (String) -> Void = { _ in }) throws -> LabeledImages {
        guard size > 0 else { throw DatasetError.invalidConfiguration("image size \(size)") }
        let listing = try list(directory)
        let fingerprint = try ImageFolderCache.fingerprint(listing, size: size, maxImagePixels: maxImagePixels)
        let cacheFile = ImageFolderCache.path(for: directory, size: size, in: cacheDirectory)
        switch ImageFolderCache.read(cacheFile, fingerprint: fingerprint) {
        case let .current(cached, skipped):
            try report(skipped, of: listing.files.count + listing.unreadable.count, in: directory, skipBadImages: skipBadImages, log: log)
            log("using cached images of \(FileAccess.printable(directory)) at \(FileAccess.printable(cacheFile))")
            return cached
        case .damaged:
            log("the cached images at \(FileAccess.printable(cacheFile)) are damaged (their checksum does not match): "
                + "decoding \(FileAccess.printable(directory)) again")
        case .absent:
            break
        }
        let limits = ImageDecoder.Limits(maxPixels: maxImagePixels, minShorterSide: 2 * size)
        var pixels: [UInt8] = [], labels: [Int] = [], bad = listing.unreadable
        pixels.reserveCapacity(listing.files.count * size * size * 3)
        for (file, label) in zip(listing.files, listing.labels) {
            do {
                let image = try ImageDecoder.decode(try FileAccess.read(file, expected: "an image"), file: file, limits: limits)
                pixels += resizedCenterCrop(image, size: size).pixels
                labels.append(label)
            } catch let error as DatasetError {
                if case let .unreadableImage(_, reason) = error { bad.append(Unreadable(file: file, reason: reason)) }
                else { bad.append(Unreadable(file: file, reason: "\(error)")) }
            }
        }
        guard !labels.isEmpty else {
            throw DatasetError.badImages(directory: directory, count: bad.count, total: bad.count, names: names(bad))
        }
        try report(bad, of: listing.files.count + listing.unreadable.count, in: directory, skipBadImages: skipBadImages, log: log)
        let images = LabeledImages(height: size, width: size, channels: 3, pixels: pixels, labels: labels,
                                   classNames: listing.classNames.isEmpty ? ["unlabelled"] : listing.classNames)
        try ImageFolderCache.write(images, skipped: bad, fingerprint: fingerprint, to: cacheFile)
        log("decoded \(labels.count) images of \(FileAccess.printable(directory)) to \(size)x\(size); cached at \(FileAccess.printable(cacheFile))")
        return images
    }

    /// The first ten bad files with their reasons, for a message.
    private static func names(_ bad: [Unreadable]) -> String {
        bad.prefix(10).map { "\(FileAccess.printable($0.file)) (\($0.reason))" }.joined(separator: ", ") + (bad.count > 10 ? ", ..." : "")
    }

    /// Refuses `bad` files (unless skipped on request, then logs them).
    private static func report(_ bad: [Unreadable], of total: Int, in directory: String, skipBadImages: Bool,
                               log: (String) -> Void) throws {
        guard !bad.isEmpty else { return }
        guard skipBadImages else {
            throw DatasetError.badImages(directory: directory, count: bad.count, total: total, names: names(bad))
        }
        log("skipped \(bad.count) of \(total) images in \(FileAccess.printable(directory)) that cannot be used: \(names(bad))")
    }

    /// The shorter side resized to `size`, then the central `size` x `size` square. Only the square is
    /// computed (the same numbers as resizing the whole image and cropping it), so a very wide image costs
    /// no more memory than a square one.
    public static func resizedCenterCrop(_ image: RGBImage, size: Int) -> RGBImage {
        let scale = Double(size) / Double(min(image.width, image.height))
        let w = max(size, Int((Double(image.width) * scale).rounded())), h = max(size, Int((Double(image.height) * scale).rounded()))
        let top = (h - size) / 2, left = (w - size) / 2
        let pixels = resample(image, width: w, height: h, columns: left..<(left + size), rows: top..<(top + size))
        return RGBImage(width: size, height: size, pixels: pixels)
    }

    /// The whole image resampled to `width` x `height` with the filter of `resizedCenterCrop`.
    public static func resized(_ image: RGBImage, width: Int, height: Int) -> RGBImage {
        RGBImage(width: width, height: height, pixels: resample(image, width: width, height: height, columns: 0..<width, rows: 0..<height))
    }

    /// Separable triangle-filter resampling to `width` x `height` (support widened by the reduction factor
    /// when shrinking), pixel centres aligned, rounded to bytes; only the output `columns` x `rows` are made.
    static func resample(_ image: RGBImage, width: Int, height: Int, columns: Range<Int>, rows: Range<Int>) -> [UInt8] {
        func weights(from n: Int, to m: Int, _ outputs: Range<Int>) -> [[(Int, Float)]] {
            let scale = Double(n) / Double(m), support = max(scale, 1)
            return outputs.map { i in
                let center = (Double(i) + 0.5) * scale
                let lo = max(0, Int((center - support).rounded(.down))), hi = min(n - 1, Int((center + support).rounded(.up)))
                var taps: [(Int, Float)] = []
                for j in lo...hi {
                    let wgt = max(0, 1 - abs((Double(j) + 0.5 - center) / support))
                    if wgt > 0 { taps.append((j, Float(wgt))) }
                }
                if taps.isEmpty { taps = [(min(n - 1, Int(center)), 1)] }
                let total = taps.reduce(0) { $0 + $1.1 }
                return taps.map { ($0.0, $0.1 / total) }
            }
        }
        let xw = weights(from: image.width, to: width, columns), yw = weights(from: image.height, to: height, rows)
        // The horizontal pass only for the source rows the vertical taps read.
        let sourceRows = (yw.flatMap { $0.map(\.0) }.min() ?? 0)...(yw.flatMap { $0.map(\.0) }.max() ?? 0)
        let outWidth = columns.count
        var horizontal = [Float](repeating: 0, count: sourceRows.count * outWidth * 3)
        for y in sourceRows {
            for x in 0..<outWidth {
                for c in 0..<3 {
                    var v: Float = 0
                    for (j, wgt) in xw[x] { v += wgt * Float(image.pixels[(y * image.width + j) * 3 + c]) }
                    horizontal[((y - sourceRows.lowerBound) * outWidth + x) * 3 + c] = v
                }
            }
        }
        var out = [UInt8](repeating: 0, count: rows.count * outWidth * 3)
        for y in 0..<rows.count {
            for x in 0..<outWidth {
                for c in 0..<3 {
                    var v: Float = 0
                    for (j, wgt) in yw[y] { v += wgt * horizontal[((j - sourceRows.lowerBound) * outWidth + x) * 3 + c] }
                    out[(y * outWidth + x) * 3 + c] = UInt8(min(255, max(0, v.rounded())))
                }
            }
        }
        return out
    }
}

/// The decoded images of a folder in one file: `SIMCLR-IMAGES 2\n`, one line of JSON (size, count, class
/// names, the folder's fingerprint, the files left out and why, a checksum of what follows), the labels as
/// little-endian Int32, then the HWC pixels. A file whose checksum does not match is decoded again.
public enum ImageFolderCache {
    static let magic = "SIMCLR-IMAGES 2\n"

    struct Header: Codable {
        var size: Int
        var count: Int
        var classNames: [String]
        var fingerprint: String
        var skipped: [ImageFolder.Unreadable]
        /// FNV-1a 64 of the label and pixel bytes, in hex.
        var checksum: String
    }

    enum Lookup {
        case current(LabeledImages, skipped: [ImageFolder.Unreadable])
        /// The file is this folder's, but its data does not match its checksum.
        case damaged
        case absent
    }

    /// A hash of every file's path, byte size and modification time, and of the output size and pixel limit.
    static func fingerprint(_ listing: ImageFolder.Listing, size: Int, maxImagePixels: Int) throws -> String {
        var h = FNV1a64()
        func mix(_ s: String) { h.combine(s) }
        mix("\(size)|\(maxImagePixels)|\(listing.classNames.joined(separator: "/"))|")
        for file in listing.files {
            let attributes = (try? FileManager.default.attributesOfItem(atPath: file)) ?? [:]
            let bytes = (attributes[.size] as? NSNumber)?.intValue ?? -1
            let modified = (attributes[.modificationDate] as? Date)?.timeIntervalSince1970 ?? 0
            mix("\(file)|\(bytes)|\(modified)\n")
        }
        for entry in listing.unreadable { mix("\(entry.file)|\(entry.reason)\n") }
        return String(h.value, radix: 16)
    }

    /// The cache file of `directory` at `size` inside `cacheDirectory`.
    static func path(for directory: String, size: Int, in cacheDirectory: String) -> String {
        let absolute = URL(fileURLWithPath: directory).standardizedFileURL.path
        let h = FNV1a64.hash(absolute.utf8)
        let name = URL(fileURLWithPath: absolute).lastPathComponent
        return FileAccess.join(cacheDirectory, "\(name)-\(String(h, radix: 16))-\(size).simclr-images")
    }

    /// FNV-1a 64 over `bytes`, eight at a time (a word per step: a cache of 150 MB checks in a fraction of a
    /// second), the last few one by one.
    static func checksum(_ bytes: UnsafeRawBufferPointer) -> UInt64 {
        var h = FNV1a64()
        let words = bytes.count / 8
        for i in 0..<words { h.combine(UInt64(littleEndian: bytes.loadUnaligned(fromByteOffset: 8 * i, as: UInt64.self))) }
        for i in (8 * words)..<bytes.count { h.combine(UInt64(bytes[i])) }
        return h.value
    }

    /// The cached images when the file exists, is whole, has this fingerprint and its checksum holds.
    static func read(_ path: String, fingerprint: String) -> Lookup {
        guard let data = try? Data(contentsOf: URL(fileURLWithPath: path)),
              data.count > magic.utf8.count, data.prefix(magic.utf8.count) == Data(magic.utf8),
              let end = data[magic.utf8.count...].firstIndex(of: UInt8(ascii: "\n")),
              let header = try? JSONDecoder().decode(Header.self, from: data[magic.utf8.count..<end]),
              header.fingerprint == fingerprint else { return .absent }
        guard header.size > 0, header.count > 0,
              let imageBytes = Safe.product(header.size, header.size, 3, header.count),
              data.count - (end + 1) == 4 * header.count + imageBytes,
              data[(end + 1)...].withUnsafeBytes({ String(checksum($0), radix: 16) }) == header.checksum else { return .damaged }
        let labelStart = end + 1, pixelStart = labelStart + 4 * header.count
        let labels = (0..<header.count).map { i -> Int in
            let o = labelStart + 4 * i
            return Int(Int32(bitPattern: UInt32(data[o]) | UInt32(data[o + 1]) << 8 | UInt32(data[o + 2]) << 16 | UInt32(data[o + 3]) << 24))
        }
        guard labels.allSatisfy({ $0 >= -1 && $0 < max(header.classNames.count, 1) }) else { return .damaged }
        return .current(LabeledImages(height: header.size, width: header.size, channels: 3, pixels: [UInt8](data[pixelStart...]),
                                      labels: labels, classNames: header.classNames), skipped: header.skipped)
    }

    static func write(_ images: LabeledImages, skipped: [ImageFolder.Unreadable], fingerprint: String, to path: String) throws {
        try FileAccess.createDirectory(URL(fileURLWithPath: path).deletingLastPathComponent().path)
        var body = Data()
        body.reserveCapacity(4 * images.count + images.pixels.count)
        for l in images.labels { withUnsafeBytes(of: Int32(l).littleEndian) { body.append(contentsOf: $0) } }
        body.append(contentsOf: images.pixels)
        let header = Header(size: images.height, count: images.count, classNames: images.classNames, fingerprint: fingerprint,
                            skipped: skipped, checksum: body.withUnsafeBytes { String(checksum($0), radix: 16) })
        var data = Data(magic.utf8)
        data.append(try JSONEncoder().encode(header))
        data.append(UInt8(ascii: "\n"))
        data.append(body)
        try FileAccess.write(data, to: path)
    }
}

/// Overflow-checked products of sizes read from files.
enum Safe {
    static func product(_ values: Int...) -> Int? { product(values) }

    /// The product, or nil when a value is negative or the product does not fit in an `Int`.
    static func product(_ values: [Int]) -> Int? {
        var total = 1
        for v in values {
            guard v >= 0 else { return nil }
            let (p, overflow) = total.multipliedReportingOverflow(by: v)
            if overflow { return nil }
            total = p
        }
        return total
    }
}
