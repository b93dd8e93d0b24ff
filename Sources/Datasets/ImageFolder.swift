import Foundation
import Kernels

/// A folder of PNG/JPEG images: torchvision's ImageFolder layout (one subfolder per class, class names
/// sorted, label = index) or a flat folder of unlabelled images (label -1).
///
/// Every image is decoded once, converted to RGB, its shorter side resized to `size` (a triangle filter
/// widened by the reduction factor, as PIL's antialiased bilinear) and centre-cropped to `size` x `size`;
/// the result is kept in a cache file of this project's own format (`ImageFolderCache`), reused while
/// the folder's files (names, sizes, modification times) and the size are unchanged.
public enum ImageFolder {
    public static let extensions: Set<String> = ["png", "jpg", "jpeg"]

    /// The files of a folder and their labels.
    public struct Listing: Equatable, Sendable {
        public var classNames: [String]
        public var files: [String]
        public var labels: [Int]
    }

    /// Image files directly in `directory` (flat) or in its subfolders (labelled); hidden entries skipped.
    /// Files with other extensions are not listed (they are not images by name); an image file that
    /// does not decode is reported by `load`.
    public static func list(_ directory: String) throws -> Listing {
        guard FileAccess.isDirectory(directory) else {
            throw DatasetError.missing(path: directory, expected: "a folder of images")
        }
        func entries(_ dir: String) throws -> [String] {
            do {
                return try FileManager.default.contentsOfDirectory(atPath: dir).filter { !$0.hasPrefix(".") }.sorted()
            } catch {
                throw DatasetError.io(path: dir, reason: "cannot list: \(error.localizedDescription)")
            }
        }
        func isImage(_ name: String) -> Bool { extensions.contains(URL(fileURLWithPath: name).pathExtension.lowercased()) }
        let top = try entries(directory)
        let classes = top.filter { FileAccess.isDirectory(FileAccess.join(directory, $0)) }
        if !classes.isEmpty {
            var files: [String] = [], labels: [Int] = []
            for (label, name) in classes.enumerated() {
                let dir = FileAccess.join(directory, name)
                for file in try entries(dir) where isImage(file) && FileAccess.isFile(FileAccess.join(dir, file)) {
                    files.append(FileAccess.join(dir, file))
                    labels.append(label)
                }
            }
            guard !files.isEmpty else { throw DatasetError.noDataFiles(directory: directory, expected: "PNG or JPEG images in its class folders") }
            return Listing(classNames: classes, files: files, labels: labels)
        }
        let files = top.filter { isImage($0) && FileAccess.isFile(FileAccess.join(directory, $0)) }.map { FileAccess.join(directory, $0) }
        guard !files.isEmpty else { throw DatasetError.noDataFiles(directory: directory, expected: "PNG or JPEG images") }
        return Listing(classNames: [], files: files, labels: [Int](repeating: -1, count: files.count))
    }

    /// True when `path` is a folder holding images, directly or one level down.
    public static func isImageFolder(_ path: String) -> Bool { (try? list(path)) != nil }

    /// The evaluation split beside a training folder: `DIR/../test` or `DIR/../val`, whichever exists.
    public static func evaluationFolder(besides directory: String) -> String? {
        let parent = URL(fileURLWithPath: directory).standardizedFileURL.deletingLastPathComponent()
        return ["test", "val"].map { parent.appendingPathComponent($0).path }
            .first { $0 != URL(fileURLWithPath: directory).standardizedFileURL.path && FileAccess.isDirectory($0) }
    }

    /// The images of `directory` at `size` x `size`, from the cache in `cacheDirectory` when it is current.
    /// Files that do not decode are named in the error; with `skipBadImages` they are left out and named
    /// in a `log` line instead.
    public static func load(_ directory: String, size: Int, cacheDirectory: String, skipBadImages: Bool = false,
                            log: (String) -> Void = { _ in }) throws -> LabeledImages {
        guard size > 0 else { throw DatasetError.invalidConfiguration("image size \(size)") }
        let listing = try list(directory)
        let fingerprint = try ImageFolderCache.fingerprint(listing, size: size)
        let cacheFile = ImageFolderCache.path(for: directory, size: size, in: cacheDirectory)
        if let cached = ImageFolderCache.read(cacheFile, fingerprint: fingerprint) {
            log("using cached images of \(directory) at \(cacheFile)")
            return cached
        }
        var pixels: [UInt8] = [], labels: [Int] = [], bad: [(String, String)] = []
        pixels.reserveCapacity(listing.files.count * size * size * 3)
        for (file, label) in zip(listing.files, listing.labels) {
            do {
                let image = try ImageDecoder.decode(try FileAccess.read(file, expected: "an image"), file: file)
                pixels += resizedCenterCrop(image, size: size).pixels
                labels.append(label)
            } catch let error as DatasetError {
                if case let .unreadableImage(_, reason) = error { bad.append((file, reason)) } else { bad.append((file, "\(error)")) }
            }
        }
        if !bad.isEmpty {
            let names = bad.prefix(10).map { "\($0.0) (\($0.1))" }.joined(separator: ", ") + (bad.count > 10 ? ", ..." : "")
            guard skipBadImages, !labels.isEmpty else {
                throw DatasetError.badImages(directory: directory, count: bad.count, total: listing.files.count, names: names)
            }
            log("skipped \(bad.count) of \(listing.files.count) images in \(directory) that do not decode: \(names)")
        }
        let images = LabeledImages(height: size, width: size, channels: 3, pixels: pixels, labels: labels,
                                   classNames: listing.classNames.isEmpty ? ["unlabelled"] : listing.classNames)
        try ImageFolderCache.write(images, fingerprint: fingerprint, to: cacheFile)
        log("decoded \(labels.count) images of \(directory) to \(size)x\(size); cached at \(cacheFile)")
        return images
    }

    /// The shorter side resized to `size`, then the central `size` x `size` square.
    public static func resizedCenterCrop(_ image: RGBImage, size: Int) -> RGBImage {
        let scale = Double(size) / Double(min(image.width, image.height))
        let w = max(size, Int((Double(image.width) * scale).rounded())), h = max(size, Int((Double(image.height) * scale).rounded()))
        let resized = resample(image, width: w, height: h)
        let top = (h - size) / 2, left = (w - size) / 2
        var out = [UInt8](repeating: 0, count: size * size * 3)
        for y in 0..<size {
            let s = ((top + y) * w + left) * 3
            out.replaceSubrange((y * size * 3)..<((y + 1) * size * 3), with: resized[s..<(s + size * 3)])
        }
        return RGBImage(width: size, height: size, pixels: out)
    }

    /// Separable triangle-filter resampling (support widened by the reduction factor when shrinking), pixel
    /// centres aligned; rounded to bytes.
    static func resample(_ image: RGBImage, width: Int, height: Int) -> [UInt8] {
        func weights(from n: Int, to m: Int) -> [[(Int, Float)]] {
            let scale = Double(n) / Double(m), support = max(scale, 1)
            return (0..<m).map { i in
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
        let xw = weights(from: image.width, to: width), yw = weights(from: image.height, to: height)
        var rows = [Float](repeating: 0, count: image.height * width * 3)
        for y in 0..<image.height {
            for x in 0..<width {
                for c in 0..<3 {
                    var v: Float = 0
                    for (j, wgt) in xw[x] { v += wgt * Float(image.pixels[(y * image.width + j) * 3 + c]) }
                    rows[(y * width + x) * 3 + c] = v
                }
            }
        }
        var out = [UInt8](repeating: 0, count: height * width * 3)
        for y in 0..<height {
            for x in 0..<width {
                for c in 0..<3 {
                    var v: Float = 0
                    for (j, wgt) in yw[y] { v += wgt * rows[(j * width + x) * 3 + c] }
                    out[(y * width + x) * 3 + c] = UInt8(min(255, max(0, v.rounded())))
                }
            }
        }
        return out
    }
}

/// The decoded images of a folder in one file: `SIMCLR-IMAGES 1\n`, one line of JSON (size, count, class
/// names, the folder's fingerprint), the labels as little-endian Int32, then the HWC pixels.
public enum ImageFolderCache {
    static let magic = "SIMCLR-IMAGES 1\n"

    struct Header: Codable {
        var size: Int
        var count: Int
        var classNames: [String]
        var fingerprint: String
    }

    /// A hash of every file's path, byte size and modification time, and of the output size.
    static func fingerprint(_ listing: ImageFolder.Listing, size: Int) throws -> String {
        var h = FNV1a64()
        func mix(_ s: String) { h.combine(s) }
        mix("\(size)|\(listing.classNames.joined(separator: "/"))|")
        for file in listing.files {
            let attributes = (try? FileManager.default.attributesOfItem(atPath: file)) ?? [:]
            let bytes = (attributes[.size] as? NSNumber)?.intValue ?? -1
            let modified = (attributes[.modificationDate] as? Date)?.timeIntervalSince1970 ?? 0
            mix("\(file)|\(bytes)|\(modified)\n")
        }
        return String(h.value, radix: 16)
    }

    /// The cache file of `directory` at `size` inside `cacheDirectory`.
    static func path(for directory: String, size: Int, in cacheDirectory: String) -> String {
        let absolute = URL(fileURLWithPath: directory).standardizedFileURL.path
        let h = FNV1a64.hash(absolute.utf8)
        let name = URL(fileURLWithPath: absolute).lastPathComponent
        return FileAccess.join(cacheDirectory, "\(name)-\(String(h, radix: 16))-\(size).simclr-images")
    }

    /// The cached images when the file exists, is whole and has this fingerprint; nil otherwise.
    static func read(_ path: String, fingerprint: String) -> LabeledImages? {
        guard let data = try? Data(contentsOf: URL(fileURLWithPath: path)),
              data.count > magic.utf8.count, data.prefix(magic.utf8.count) == Data(magic.utf8),
              let end = data[magic.utf8.count...].firstIndex(of: UInt8(ascii: "\n")),
              let header = try? JSONDecoder().decode(Header.self, from: data[magic.utf8.count..<end]),
              header.fingerprint == fingerprint, header.size > 0, header.count > 0,
              let imageBytes = Safe.product(header.size, header.size, 3, header.count),
              data.count - (end + 1) == 4 * header.count + imageBytes else { return nil }
        let labelStart = end + 1, pixelStart = labelStart + 4 * header.count
        let labels = (0..<header.count).map { i -> Int in
            let o = labelStart + 4 * i
            return Int(Int32(bitPattern: UInt32(data[o]) | UInt32(data[o + 1]) << 8 | UInt32(data[o + 2]) << 16 | UInt32(data[o + 3]) << 24))
        }
        guard labels.allSatisfy({ $0 >= -1 && $0 < max(header.classNames.count, 1) }) else { return nil }
        return LabeledImages(height: header.size, width: header.size, channels: 3, pixels: [UInt8](data[pixelStart...]),
                             labels: labels, classNames: header.classNames)
    }

    static func write(_ images: LabeledImages, fingerprint: String, to path: String) throws {
        try FileAccess.createDirectory(URL(fileURLWithPath: path).deletingLastPathComponent().path)
        let header = Header(size: images.height, count: images.count, classNames: images.classNames, fingerprint: fingerprint)
        var data = Data(magic.utf8)
        data.append(try JSONEncoder().encode(header))
        data.append(UInt8(ascii: "\n"))
        for l in images.labels { withUnsafeBytes(of: Int32(l).littleEndian) { data.append(contentsOf: $0) } }
        data.append(contentsOf: images.pixels)
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
