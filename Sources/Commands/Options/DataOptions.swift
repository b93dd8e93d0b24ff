import ArgumentParser
import Datasets
import Foundation

/// Which dataset a command reads: `--data PATH` (CIFAR-10 / STL-10 binary, format detected or `--format`)
/// or the generated synthetic shapes (`--data synthetic`, the default), cached on disk in CIFAR-10 layout
/// and read back through the real CIFAR-10 reader.
struct DataOptions: ParsableArguments {
    @Option(help: ArgumentHelp(
        "Dataset directory (cifar-10-batches-bin/ or stl10_binary/, or a directory holding one), a folder of PNG/JPEG "
            + "images (one subfolder per class, or flat and unlabelled; its sibling test/ or val/ is the test split), "
            + "or 'synthetic' for the generated shapes dataset (default: synthetic). A local directory named "
            + "'synthetic' needs ./synthetic.",
        valueName: "path|synthetic"))
    var data: String?

    @Option(help: ArgumentHelp("Test split of an image folder (default: the sibling folder test/ or val/ of --data).",
                               valueName: "dir"))
    var testData: String?

    @Option(help: ArgumentHelp("Side of the images read from an image folder: the shorter side is resized to it, "
                                   + "then the centre square is kept.", valueName: "px"))
    var resizeTo = 32

    @Flag(help: "Leave out image-folder files that do not decode (named in a log line) instead of refusing to start.")
    var skipBadImages = false

    @Option(help: ArgumentHelp("Where decoded image folders are cached (default: ~/.cache/simclr/image-folders).",
                               valueName: "dir"))
    var imageCacheDir: String?

    @Option(help: "Dataset format: auto (detect from the files), cifar10 or stl10.")
    var format: DataFormatChoice = .auto

    @Option(help: ArgumentHelp("Use only the first N images of the split.", valueName: "n"))
    var limit: Int?

    @Option(help: ArgumentHelp("Where --data synthetic caches its files "
                                   + "(default: ~/.cache/simclr/synthetic-<seed>-<train-count>).", valueName: "dir"))
    var syntheticDir: String?

    @Option(help: "Training images of the synthetic dataset.")
    var syntheticTrainCount = 5000

    @Option(help: "Test images of the synthetic dataset.")
    var syntheticTestCount = 1000

    @Option(help: "Seed of the synthetic dataset.")
    var syntheticSeed: UInt64 = 0

    var isSynthetic: Bool { data == nil || data == "synthetic" }

    /// The cache directory of the synthetic dataset (it will hold cifar-10-batches-bin/).
    var syntheticDirectory: String {
        if let syntheticDir { return expand(syntheticDir) }
        let home = FileManager.default.homeDirectoryForCurrentUser.path
        return "\(home)/.cache/simclr/synthetic-\(syntheticSeed)-\(syntheticTrainCount)"
    }

    func validate() throws {
        if let limit, limit < 1 { throw ValidationError("--limit \(limit) must be at least 1") }
        if resizeTo < 1 { throw ValidationError("--resize-to \(resizeTo) must be at least 1") }
        if isSynthetic {
            guard format != .stl10 else {
                throw ValidationError("--format stl10 cannot be used with --data synthetic (it is written as CIFAR-10)")
            }
            guard syntheticTrainCount >= 1, syntheticTestCount >= 1 else {
                throw ValidationError("--synthetic-train-count and --synthetic-test-count must be at least 1")
            }
        } else if data!.isEmpty {
            throw ValidationError("--data needs a dataset directory or 'synthetic'")
        }
    }

    /// Reads `split` (at most `maxCount` images, and at most `--limit`). Dataset problems (missing files,
    /// bad sizes, labels out of range) come out as `DatasetError`s naming the file.
    func load(split: DatasetSplit, maxCount: Int? = nil, log: (String) -> Void) throws -> LabeledImages {
        let cap = [limit, maxCount].compactMap { $0 }.min()
        if let folder = imageFolder {
            let directory: String
            if split == .test {
                guard let test = testData.map(expand) ?? ImageFolder.evaluationFolder(besides: folder) else {
                    throw DatasetError.missing(path: URL(fileURLWithPath: folder).deletingLastPathComponent().path + "/test",
                                               expected: "the test split of \(folder) (a sibling test/ or val/, or --test-data)")
                }
                directory = test
            } else {
                directory = folder
            }
            let images = try ImageFolder.load(directory, size: resizeTo, cacheDirectory: imageCacheDirectory,
                                              skipBadImages: skipBadImages, log: log)
            return cap.map { images.prefix($0) } ?? images
        }
        guard isSynthetic else {
            return try resolvedLocation().load(split, limit: cap)
        }
        guard split == .train || split == .test else {
            throw ValidationError("the synthetic dataset has train and test splits, not '\(split.rawValue)'")
        }
        let directory = try ensureSynthetic(log: log)
        return try CIFAR10.load(directory: directory, split: split, limit: cap)
    }

    /// The images for self-supervised pretraining: CIFAR-10's train split, STL-10's train + unlabeled
    /// splits, the synthetic data's train split. Labels are not used.
    func loadPretraining(log: (String) -> Void) throws -> LabeledImages {
        guard !isSynthetic, imageFolder == nil else { return try load(split: .train, log: log) }
        let location = try resolvedLocation()
        return try location.load(DatasetSplit.pretraining(for: location.format), limit: limit)
    }

    /// The --data directory's dataset; when there is none there, the error says how to get one.
    private func resolvedLocation() throws -> DatasetLocation {
        do {
            return try DatasetLocation.resolve(expand(data!), format: format.format)
        } catch let error as DatasetError {
            switch error {
            case .missing, .unknownFormat:
                throw CommandError("\(error). Download CIFAR-10 with deploy/get-cifar10.sh (STL-10: deploy/get-stl10.sh) "
                                   + "and pass its directory, or leave out --data to train on the synthetic shapes.")
            default: throw error
            }
        }
    }

    /// The cached synthetic dataset's cifar-10-batches-bin path, generating it first when missing or when
    /// its files do not hold the requested numbers of images.
    func ensureSynthetic(log: (String) -> Void) throws -> String {
        let root = syntheticDirectory
        let cifar = URL(fileURLWithPath: root).appendingPathComponent(CIFAR10.directoryName).path
        let expected = [(CIFAR10.trainFiles[0], syntheticTrainCount), (CIFAR10.testFile, syntheticTestCount)]
        let sizes = expected.map { fileSize("\(cifar)/\($0.0)") }
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

    /// `--data` when it is a folder of images (and not a CIFAR-10/STL-10 directory).
    var imageFolder: String? {
        guard !isSynthetic, format == .auto else { return nil }
        let path = expand(data!)
        if (try? DatasetFormat.detect(at: path)) != nil { return nil }
        return ImageFolder.isImageFolder(path) ? path : nil
    }

    var imageCacheDirectory: String {
        if let imageCacheDir { return expand(imageCacheDir) }
        return FileManager.default.homeDirectoryForCurrentUser.path + "/.cache/simclr/image-folders"
    }

    /// These options as command-line arguments, to hand the same data to another command.
    var arguments: [String] {
        var args: [String] = []
        if let data { args += ["--data", data] }
        if format != .auto { args += ["--format", format.rawValue] }
        if let limit { args += ["--limit", String(limit)] }
        if let testData { args += ["--test-data", testData] }
        if resizeTo != 32 { args += ["--resize-to", String(resizeTo)] }
        if skipBadImages { args.append("--skip-bad-images") }
        if let imageCacheDir { args += ["--image-cache-dir", imageCacheDir] }
        if isSynthetic {
            if let syntheticDir { args += ["--synthetic-dir", syntheticDir] }
            args += ["--synthetic-train-count", String(syntheticTrainCount),
                     "--synthetic-test-count", String(syntheticTestCount), "--synthetic-seed", String(syntheticSeed)]
        }
        return args
    }

    /// Format and split of what `load(split:)` (or `loadPretraining`, with `pretraining`) reads, without
    /// paths: ranks may mount the same data at different places.
    func source(split: DatasetSplit, pretraining: Bool = false) -> String {
        let cap = limit.map { "[:\($0)]" } ?? ""
        if isSynthetic { return "synthetic/\(split.rawValue)\(cap)" }
        if imageFolder != nil { return "image-folder/\(split.rawValue)@\(resizeTo)\(cap)" }
        guard let location = try? DatasetLocation.resolve(expand(data!), format: format.format) else {
            return "\(format.rawValue)/\(split.rawValue)\(cap)"
        }
        let read = pretraining ? DatasetSplit.pretraining(for: location.format) : split
        return "\(location.format.rawValue)/\(read.rawValue)\(cap)"
    }

    /// One line for logs.
    func describe() -> String {
        let cap = limit.map { ", first \($0) images" } ?? ""
        if isSynthetic {
            return "synthetic shapes (\(syntheticTrainCount) train / \(syntheticTestCount) test, "
                + "seed \(syntheticSeed)) at \(syntheticDirectory)\(cap)"
        }
        let path = expand(data!)
        if let folder = imageFolder { return "image folder \(folder) at \(resizeTo)x\(resizeTo)\(cap)" }
        if let location = try? DatasetLocation.resolve(path, format: format.format) {
            return "\(location.format.rawValue) at \(location.directory)\(cap)"
        }
        return "\(path) (format \(format.rawValue))\(cap)"
    }

    private func expand(_ path: String) -> String { NSString(string: path).expandingTildeInPath }

    private func fileSize(_ path: String) -> Int? {
        (try? FileManager.default.attributesOfItem(atPath: path)[.size] as? NSNumber)?.intValue
    }
}
