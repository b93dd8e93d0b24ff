import Foundation

/// The CIFAR-10 binary version (`cifar-10-batches-bin/`).
///
/// Each record is 3073 bytes: one label byte (0-9), then the 32x32 red plane, green plane and blue plane,
/// each row-major. `data_batch_1.bin` ... `data_batch_5.bin` are the training split (whichever exist, at
/// least one, in that order; files may hold any whole number of records, so users can cut subsets),
/// `test_batch.bin` the test split, `batches.meta.txt` the class names (optional).
public enum CIFAR10 {
    public static let directoryName = "cifar-10-batches-bin"
    public static let imageSize = 32
    public static let recordBytes = 1 + 3 * 32 * 32
    public static let trainFiles = (1...5).map { "data_batch_\($0).bin" }
    public static let testFile = "test_batch.bin"
    public static let metaFile = "batches.meta.txt"
    public static let defaultClassNames = ["airplane", "automobile", "bird", "cat", "deer",
                                           "dog", "frog", "horse", "ship", "truck"]

    /// Reads one split of a `cifar-10-batches-bin` directory. `limit` keeps only the first images.
    public static func load(directory: String, split: DatasetSplit, limit: Int? = nil) throws -> LabeledImages {
        try checkLimit(limit)
        guard FileAccess.isDirectory(directory) else {
            throw DatasetError.missing(path: directory, expected: "a \(directoryName) directory")
        }
        let classNames = try FileAccess.readClassNames(FileAccess.join(directory, metaFile), allowed: 1...10)
            ?? defaultClassNames
        let files: [String]
        switch split {
        case .train:
            files = trainFiles.map { FileAccess.join(directory, $0) }.filter(FileAccess.isFile)
            if files.isEmpty {
                throw DatasetError.noDataFiles(directory: directory,
                                               expected: "at least one of data_batch_1.bin ... data_batch_5.bin")
            }
        case .test:
            files = [FileAccess.join(directory, testFile)]
        case .unlabeled, .trainPlusUnlabeled:
            throw DatasetError.unsupportedSplit(format: "CIFAR-10", split: split.rawValue)
        }
        var parts: [LabeledImages] = []
        var remaining = limit ?? Int.max
        for file in files where remaining > 0 {
            let part = try readBatch(file, classNames: classNames, limit: remaining)
            remaining -= part.count
            parts.append(part)
        }
        return parts.count == 1 ? parts[0] : LabeledImages.concatenate(parts)
    }

    /// Reads one batch file (any whole number of records). Labels must lie in 0..<classNames.count.
    public static func readBatch(_ path: String, classNames: [String] = defaultClassNames,
                                 limit: Int? = nil) throws -> LabeledImages {
        try checkLimit(limit)
        let data = try FileAccess.read(path, expected: "a CIFAR-10 batch of \(recordBytes)-byte records")
        return try decodeBatch(data, file: path, classNames: classNames, limit: limit)
    }

    /// The records of a batch file's bytes; `file` names them in errors. The record count comes from the
    /// size, which must be a positive multiple of `recordBytes`.
    public static func decodeBatch(_ data: Data, file path: String, classNames: [String] = defaultClassNames,
                                   limit: Int? = nil) throws -> LabeledImages {
        try checkLimit(limit)
        guard (1...256).contains(classNames.count) else {
            throw DatasetError.invalidConfiguration("\(classNames.count) class names for \(path) (label bytes allow 1...256)")
        }
        guard data.count > 0, data.count % recordBytes == 0 else {
            throw DatasetError.badSize(file: path, bytes: data.count, recordBytes: recordBytes)
        }
        let count = min(data.count / recordBytes, limit ?? Int.max)
        let plane = imageSize * imageSize
        var labels = [Int](repeating: 0, count: count)
        var pixels = [UInt8](repeating: 0, count: count * plane * 3)
        let valid = 0...(classNames.count - 1)
        var badRecord: (Int, Int)?
        data.withUnsafeBytes { (raw: UnsafeRawBufferPointer) in
            let src = raw.bindMemory(to: UInt8.self)
            pixels.withUnsafeMutableBufferPointer { dst in
                for r in 0..<count {
                    let record = r * recordBytes
                    let label = Int(src[record])
                    if !valid.contains(label), badRecord == nil { badRecord = (r, label) }
                    labels[r] = label
                    // planar RGB -> interleaved HWC
                    let out = r * plane * 3
                    for p in 0..<plane {
                        dst[out + 3 * p] = src[record + 1 + p]
                        dst[out + 3 * p + 1] = src[record + 1 + plane + p]
                        dst[out + 3 * p + 2] = src[record + 1 + 2 * plane + p]
                    }
                }
            }
        }
        if let (record, label) = badRecord {
            throw DatasetError.labelOutOfRange(file: path, record: record, label: label, valid: valid)
        }
        return LabeledImages(height: imageSize, width: imageSize, channels: 3, pixels: pixels,
                             labels: labels, classNames: classNames)
    }

    /// A `limit` keeps the first images; it must leave at least one.
    static func checkLimit(_ limit: Int?) throws {
        if let limit, limit < 1 {
            throw DatasetError.invalidConfiguration("a limit of \(limit) images (it must be at least 1)")
        }
    }

    /// Writes images (32x32x3, labels 0-9) as one CIFAR-10 batch file.
    public static func writeBatch(_ images: LabeledImages, to path: String) throws {
        guard images.height == imageSize, images.width == imageSize, images.channels == 3 else {
            throw DatasetError.incompatibleImages(
                reason: "CIFAR-10 records hold 32x32x3 images, not \(images.height)x\(images.width)x\(images.channels)")
        }
        if let bad = images.labels.firstIndex(where: { !(0...9).contains($0) }) {
            throw DatasetError.incompatibleImages(
                reason: "CIFAR-10 labels are 0...9; image \(bad) has label \(images.labels[bad])")
        }
        let plane = imageSize * imageSize
        var bytes = [UInt8](repeating: 0, count: images.count * recordBytes)
        images.pixels.withUnsafeBufferPointer { src in
            for r in 0..<images.count {
                let record = r * recordBytes, image = r * plane * 3
                bytes[record] = UInt8(images.labels[r])
                for p in 0..<plane {
                    for c in 0..<3 { bytes[record + 1 + c * plane + p] = src[image + 3 * p + c] }
                }
            }
        }
        try FileAccess.write(Data(bytes), to: path)
    }

    /// Writes a `cifar-10-batches-bin` directory inside `directory`: the training images split into
    /// `trainBatches` files `data_batch_1.bin ...` (at most 5), `test_batch.bin` and `batches.meta.txt`.
    /// Returns the path of the `cifar-10-batches-bin` directory.
    @discardableResult
    public static func writeDirectory(train: LabeledImages, test: LabeledImages, to directory: String,
                                      trainBatches: Int = 1) throws -> String {
        guard (1...5).contains(trainBatches) else {
            throw DatasetError.invalidConfiguration("CIFAR-10 has 1...5 training batch files, not \(trainBatches)")
        }
        guard train.count >= trainBatches, test.count >= 1 else {
            throw DatasetError.incompatibleImages(
                reason: "\(train.count) training images in \(trainBatches) files and \(test.count) test images: "
                    + "every file needs at least one record")
        }
        guard (1...10).contains(train.classNames.count) else {
            throw DatasetError.incompatibleImages(reason: "CIFAR-10 holds 1...10 classes, not \(train.classNames.count)")
        }
        let out = FileAccess.join(directory, directoryName)
        try FileAccess.createDirectory(out)
        for b in 0..<trainBatches {
            let range = (train.count * b / trainBatches)..<(train.count * (b + 1) / trainBatches)
            try writeBatch(train.subset(Array(range)), to: FileAccess.join(out, trainFiles[b]))
        }
        try writeBatch(test, to: FileAccess.join(out, testFile))
        let meta = train.classNames.joined(separator: "\n") + "\n"
        try FileAccess.write(Data(meta.utf8), to: FileAccess.join(out, metaFile))
        return out
    }
}
