import Foundation

/// Which dataset a run reads, and how: a CIFAR-10 / STL-10 binary directory (format detected or given), a
/// folder of PNG/JPEG images, or the generated synthetic shapes (the default), cached on disk in CIFAR-10's
/// layout and read back through the real CIFAR-10 reader. The tool's data flags map into it.
public struct DataSelection: Equatable, Sendable {
    /// A dataset directory, an image folder, or nil / "synthetic" for the synthetic shapes.
    public var data: String?
    /// The test split of an image folder (nil: its sibling test/ or val/).
    public var testData: String?
    /// Side of the images read from an image folder (shorter side resized to it, then the centre square).
    public var resizeTo = 32
    /// Leave out image-folder files that do not decode (named in a log line) instead of refusing to start.
    public var skipBadImages = false
    /// Image-folder files whose header claims more pixels are refused before decoding (`ImageDecoder.Limits`).
    public var maxImagePixels = ImageDecoder.Limits.defaultMaxPixels
    /// Where decoded image folders are cached (nil: ~/.cache/simclr/image-folders).
    public var imageCacheDir: String?
    /// The binary format (nil: detect it from the files).
    public var format: DatasetFormat?
    /// Only the first `limit` images of a split.
    public var limit: Int?
    /// Where the synthetic dataset is cached (nil: ~/.cache/simclr/synthetic-<seed>-<train count>).
    public var syntheticDir: String?
    public var syntheticTrainCount = SyntheticShapes.defaultTrainCount
    public var syntheticTestCount = SyntheticShapes.defaultTestCount
    public var syntheticSeed: UInt64 = 0

    public init() {}

    public var isSynthetic: Bool { data == nil || data == "synthetic" }

    /// Why these choices cannot select data (the checks that need no files; the reasons name the settings).
    public func validate() throws {
        func invalid(_ why: String) -> DatasetError { .invalidConfiguration(why) }
        if let limit, limit < 1 { throw invalid("`limit` \(limit) must be at least 1") }
        if resizeTo < 1 { throw invalid("`resizeTo` \(resizeTo) must be at least 1") }
        guard (1...ImageDecoder.Limits.largestMaxPixels).contains(maxImagePixels) else {
            throw invalid("`maxImagePixels` \(maxImagePixels) must be 1...\(ImageDecoder.Limits.largestMaxPixels)")
        }
        // Every image of a folder becomes resizeTo x resizeTo pixels: no larger than a file may be by default
        // (a lower `maxImagePixels` refuses large files, not large outputs).
        let (pixels, overflow) = resizeTo.multipliedReportingOverflow(by: resizeTo)
        let largest = max(maxImagePixels, ImageDecoder.Limits.defaultMaxPixels)
        guard !overflow, pixels <= largest else {
            throw invalid("`resizeTo` \(resizeTo) makes images of \(overflow ? "more than 9e18" : String(pixels)) pixels, more than "
                          + (largest == maxImagePixels ? "`maxImagePixels` \(largest)" : "\(largest), the default `maxImagePixels`"))
        }
        if isSynthetic {
            guard format != .stl10 else { throw invalid("`format` stl10 cannot be used with `data` synthetic (it is written as CIFAR-10)") }
            guard syntheticTrainCount >= 1, syntheticTestCount >= 1 else {
                throw invalid("`syntheticTrainCount` and `syntheticTestCount` must be at least 1")
            }
        } else if data?.isEmpty ?? false {
            throw invalid("`data` needs a dataset directory or 'synthetic'")
        }
    }

    /// The cache directory of the synthetic dataset (it will hold cifar-10-batches-bin/).
    public var syntheticDirectory: String {
        if let syntheticDir { return Self.expand(syntheticDir) }
        let home = FileManager.default.homeDirectoryForCurrentUser.path
        return "\(home)/.cache/simclr/synthetic-\(syntheticSeed)-\(syntheticTrainCount)"
    }

    /// Reads `split` (at most `maxCount` images, and at most `limit`). Dataset problems (missing files, bad
    /// sizes, labels out of range) come out as `DatasetError`s naming the file.
    public func load(split: DatasetSplit, maxCount: Int? = nil, log: (String) -> Void) throws -> LabeledImages {
        let cap = [limit, maxCount].compactMap { $0 }.min()
        if let folder = imageFolder {
            let directory: String
            if split == .test {
                guard let test = testData.map(Self.expand) ?? ImageFolder.evaluationFolder(besides: folder) else {
                    throw DatasetError.missing(path: URL(fileURLWithPath: folder).deletingLastPathComponent().path + "/test",
                                               expected: "the test split of \(folder) (a sibling test/ or val/, or --test-data)")
                }
                directory = test
            } else {
                directory = folder
            }
            let images = try ImageFolder.load(directory, size: resizeTo, cacheDirectory: imageCacheDirectory,
                                              skipBadImages: skipBadImages, maxImagePixels: maxImagePixels, log: log)
            return cap.map { images.prefix($0) } ?? images
        }
        guard isSynthetic else { return try resolvedLocation().load(split, limit: cap) }
        guard split == .train || split == .test else {
            throw DatasetError.invalidConfiguration("the synthetic dataset has train and test splits, not '\(split.rawValue)'")
        }
        return try CIFAR10.load(directory: try ensureSynthetic(log: log), split: split, limit: cap)
    }

    /// The images for self-supervised pretraining: CIFAR-10's train split, STL-10's train + unlabeled
    /// splits, the synthetic data's train split. Labels are not used.
    public func loadPretraining(log: (String) -> Void) throws -> LabeledImages {
        guard !isSynthetic, imageFolder == nil else { return try load(split: .train, log: log) }
        let location = try resolvedLocation()
        return try location.load(DatasetSplit.pretraining(for: location.format), limit: limit)
    }

    /// The data directory's dataset; when there is none there, the error says how to get one.
    private func resolvedLocation() throws -> DatasetLocation {
        do {
            return try DatasetLocation.resolve(Self.expand(data!), format: format)
        } catch let error as DatasetError {
            switch error {
            case .missing, .unknownFormat:
                throw DatasetError.invalidConfiguration(
                    "\(error). Download CIFAR-10 with deploy/get-cifar10.sh (STL-10: deploy/get-stl10.sh) "
                        + "and pass its directory, or leave out --data to train on the synthetic shapes.")
            default: throw error
            }
        }
    }

    /// The cached synthetic dataset's cifar-10-batches-bin path, generating it first when missing or when
    /// its files do not hold the requested numbers of images.
    public func ensureSynthetic(log: (String) -> Void) throws -> String {
        let root = syntheticDirectory
        let cifar = URL(fileURLWithPath: root).appendingPathComponent(CIFAR10.directoryName).path
        let expected = [(CIFAR10.trainFiles[0], syntheticTrainCount), (CIFAR10.testFile, syntheticTestCount)]
        let sizes = expected.map { Self.fileSize("\(cifar)/\($0.0)") }
        if zip(sizes, expected).allSatisfy({ $0 == $1.1 * CIFAR10.recordBytes }) {
            log("using cached synthetic dataset at \(cifar)")
            return cifar
        }
        let why = data == nil ? "no --data given" : "--data synthetic"
        let stale = sizes.contains { $0 != nil } ? ", replacing a cache of other sizes" : ""
        log("generating synthetic dataset (\(syntheticTrainCount) train / \(syntheticTestCount) test images, "
            + "seed \(syntheticSeed)) in \(cifar) (\(why)\(stale))")
        // Files are written atomically, so ranks that generate at the same time leave identical, whole files.
        return try SyntheticShapes.writeCIFAR(to: root, trainCount: syntheticTrainCount,
                                              testCount: syntheticTestCount, seed: syntheticSeed)
    }

    /// The data directory when it is a folder of images (and not a CIFAR-10/STL-10 directory).
    public var imageFolder: String? {
        guard !isSynthetic, format == nil else { return nil }
        let path = Self.expand(data!)
        if (try? DatasetFormat.detect(at: path)) != nil { return nil }
        return ImageFolder.isImageFolder(path) ? path : nil
    }

    public var imageCacheDirectory: String {
        if let imageCacheDir { return Self.expand(imageCacheDir) }
        return FileManager.default.homeDirectoryForCurrentUser.path + "/.cache/simclr/image-folders"
    }

    /// Format and split of what `load(split:)` (or `loadPretraining`, with `pretraining`) reads, without
    /// paths: ranks may mount the same data at different places.
    public func source(split: DatasetSplit, pretraining: Bool = false) -> String {
        let cap = limit.map { "[:\($0)]" } ?? ""
        if isSynthetic { return "synthetic/\(split.rawValue)\(cap)" }
        if imageFolder != nil { return "image-folder/\(split.rawValue)@\(resizeTo)\(cap)" }
        guard let location = try? DatasetLocation.resolve(Self.expand(data!), format: format) else {
            return "\(format?.rawValue ?? "auto")/\(split.rawValue)\(cap)"
        }
        let read = pretraining ? DatasetSplit.pretraining(for: location.format) : split
        return "\(location.format.rawValue)/\(read.rawValue)\(cap)"
    }

    /// One line for logs.
    public func describe() -> String {
        let cap = limit.map { ", first \($0) images" } ?? ""
        if isSynthetic {
            return "synthetic shapes (\(syntheticTrainCount) train / \(syntheticTestCount) test, "
                + "seed \(syntheticSeed)) at \(syntheticDirectory)\(cap)"
        }
        let path = Self.expand(data!)
        if let folder = imageFolder { return "image folder \(folder) at \(resizeTo)x\(resizeTo)\(cap)" }
        if let location = try? DatasetLocation.resolve(path, format: format) {
            return "\(location.format.rawValue) at \(location.directory)\(cap)"
        }
        return "\(path) (format \(format?.rawValue ?? "auto"))\(cap)"
    }

    /// `~` expanded: the one path expander of the program.
    public static func expand(_ path: String) -> String { NSString(string: path).expandingTildeInPath }

    private static func fileSize(_ path: String) -> Int? {
        (try? FileManager.default.attributesOfItem(atPath: path)[.size] as? NSNumber)?.intValue
    }
}
