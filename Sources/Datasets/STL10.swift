import Foundation
import Kernels

/// The STL-10 binary version (`stl10_binary/`).
///
/// `*_X.bin` holds 96x96x3 images, 27648 bytes each: for each image the R, G and B planes, each plane
/// **column-major** (byte `x * 96 + y` is row y, column x), so reading transposes every plane.
/// `*_y.bin` holds one label byte per image, 1...10, converted here to 0...9. `unlabeled_X.bin` has no labels
/// (label -1). `class_names.txt` is optional.
public enum STL10 {
    public static let directoryName = "stl10_binary"
    public static let imageSize = 96
    public static let imageBytes = 3 * 96 * 96
    public static let classNamesFile = "class_names.txt"
    public static let defaultClassNames = ["airplane", "bird", "car", "cat", "deer",
                                           "dog", "horse", "monkey", "ship", "truck"]

    /// Reads a split: train (5000), test (8000), unlabeled (100000) or train+unlabeled (for pretraining,
    /// the train images first). `limit` keeps only the first images.
    public static func load(directory: String, split: DatasetSplit, limit: Int? = nil) throws -> LabeledImages {
        try CIFAR10.checkLimit(limit)
        guard FileAccess.isDirectory(directory) else {
            throw DatasetError.missing(path: directory, expected: "a \(directoryName) directory")
        }
        let names = try FileAccess.readClassNames(FileAccess.join(directory, classNamesFile), allowed: 1...10)
            ?? defaultClassNames
        func path(_ name: String) -> String { FileAccess.join(directory, name) }
        switch split {
        case .train:
            return try readImages(path("train_X.bin"), labels: path("train_y.bin"), classNames: names, limit: limit)
        case .test:
            return try readImages(path("test_X.bin"), labels: path("test_y.bin"), classNames: names, limit: limit)
        case .unlabeled:
            return try readImages(path("unlabeled_X.bin"), labels: nil, classNames: names, limit: limit)
        case .trainPlusUnlabeled:
            let train = try readImages(path("train_X.bin"), labels: path("train_y.bin"), classNames: names, limit: limit)
            let rest = limit.map { $0 - train.count } ?? Int.max
            if rest <= 0 { return train }
            let unlabeled = try readImages(path("unlabeled_X.bin"), labels: nil, classNames: names, limit: rest)
            return LabeledImages.concatenate([train, unlabeled])
        }
    }

    /// Reads an `*_X.bin` file and, when given, its `*_y.bin` labels (1...classNames.count, stored as 0-based).
    public static func readImages(_ imagesPath: String, labels labelsPath: String?,
                                  classNames: [String] = defaultClassNames, limit: Int? = nil) throws -> LabeledImages {
        try CIFAR10.checkLimit(limit)
        let data = try FileAccess.read(imagesPath, expected: "STL-10 images of \(imageBytes) bytes each")
        _ = try imageCount(data, file: imagesPath)   // a truncated image file is named before its labels are read
        let labels = try labelsPath.map {
            (bytes: try FileAccess.read($0, expected: "one label byte (1...10) per image of \(imagesPath)"), file: $0)
        }
        return try decode(images: data, file: imagesPath, labels: labels, classNames: classNames, limit: limit)
    }

    /// The images of an `*_X.bin` file's bytes and, when given, the labels of its `*_y.bin` bytes; the file
    /// names only name them in errors. The image count comes from the size (a positive multiple of
    /// `imageBytes`), and the labels must be exactly one byte per image.
    public static func decode(images data: Data, file imagesPath: String, labels: (bytes: Data, file: String)?,
                              classNames: [String] = defaultClassNames, limit: Int? = nil) throws -> LabeledImages {
        try CIFAR10.checkLimit(limit)
        guard (1...255).contains(classNames.count) else {
            throw DatasetError.invalidConfiguration("\(classNames.count) class names for \(imagesPath) (label bytes allow 1...255)")
        }
        let fileCount = try imageCount(data, file: imagesPath)
        let count = min(fileCount, limit ?? Int.max)
        var labelValues = [Int](repeating: -1, count: count)
        if let labels {
            let (y, labelsPath) = labels
            guard y.count == fileCount else {
                throw DatasetError.countMismatch(file: labelsPath, count: y.count, otherFile: imagesPath, otherCount: fileCount)
            }
            let valid = 1...classNames.count
            for i in 0..<count {
                let label = Int(y[y.startIndex + i])
                guard valid.contains(label) else {
                    throw DatasetError.labelOutOfRange(file: labelsPath, record: i, label: label, valid: valid)
                }
                labelValues[i] = label - 1
            }
        }
        var pixels = [UInt8](repeating: 0, count: count * imageBytes)
        let n = imageSize, plane = n * n
        data.withUnsafeBytes { (raw: UnsafeRawBufferPointer) in
            let src = raw.bindMemory(to: UInt8.self).baseAddress!
            pixels.withUnsafeMutableBufferPointer { dstBuffer in
                let dst = dstBuffer.baseAddress!
                // Images are independent: split them over the kernel threads (2.7 GB for the unlabeled split).
                Parallel.forEach(count, minimumPerThread: 64) { i in
                    let s = src + i * imageBytes, d = dst + i * imageBytes
                    for c in 0..<3 {
                        for x in 0..<n {
                            let column = s + c * plane + x * n
                            for y in 0..<n { d[(y * n + x) * 3 + c] = column[y] }
                        }
                    }
                }
            }
        }
        return LabeledImages(height: n, width: n, channels: 3, pixels: pixels, labels: labelValues, classNames: classNames)
    }

    /// The number of images in an `*_X.bin` file of this size: a positive whole number, or an error.
    private static func imageCount(_ data: Data, file: String) throws -> Int {
        guard data.count > 0, data.count % imageBytes == 0 else {
            throw DatasetError.badSize(file: file, bytes: data.count, recordBytes: imageBytes)
        }
        return data.count / imageBytes
    }

    /// Writes 96x96x3 images in STL-10's layout; labels (0...9) to `labelsPath` as 1...10 unless it is nil.
    public static func write(_ images: LabeledImages, imagesPath: String, labelsPath: String?) throws {
        guard images.height == imageSize, images.width == imageSize, images.channels == 3 else {
            throw DatasetError.incompatibleImages(
                reason: "STL-10 holds 96x96x3 images, not \(images.height)x\(images.width)x\(images.channels)")
        }
        let n = imageSize, plane = n * n
        var bytes = [UInt8](repeating: 0, count: images.count * imageBytes)
        for i in 0..<images.count {
            let s = i * imageBytes
            for c in 0..<3 {
                for x in 0..<n {
                    for y in 0..<n { bytes[s + c * plane + x * n + y] = images.pixels[s + (y * n + x) * 3 + c] }
                }
            }
        }
        try FileAccess.write(Data(bytes), to: imagesPath)
        if let labelsPath {
            if let bad = images.labels.firstIndex(where: { !(0...9).contains($0) }) {
                throw DatasetError.incompatibleImages(
                    reason: "STL-10 labels are 0...9 (stored 1...10); image \(bad) has label \(images.labels[bad])")
            }
            try FileAccess.write(Data(images.labels.map { UInt8($0 + 1) }), to: labelsPath)
        }
    }
}
