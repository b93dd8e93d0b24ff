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
    var resizeTo = DataSelection().resizeTo

    @Flag(help: "Leave out image-folder files that do not decode (named in a log line) instead of refusing to start.")
    var skipBadImages = false

    @Option(help: ArgumentHelp("Image-folder files whose header claims more pixels than this are refused before "
                                   + "decoding (counted with the images that do not decode); the default is Pillow's "
                                   + "limit.", valueName: "n"))
    var maxImagePixels = DataSelection().maxImagePixels

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
    var syntheticTrainCount = SyntheticShapes.defaultTrainCount

    @Option(help: "Test images of the synthetic dataset.")
    var syntheticTestCount = SyntheticShapes.defaultTestCount

    @Option(help: "Seed of the synthetic dataset.")
    var syntheticSeed = DataSelection().syntheticSeed

    /// The data the flags select, as the library reads it.
    var selection: DataSelection {
        var selection = DataSelection()
        (selection.data, selection.testData, selection.resizeTo) = (data, testData, resizeTo)
        (selection.skipBadImages, selection.imageCacheDir, selection.format) = (skipBadImages, imageCacheDir, format.format)
        selection.maxImagePixels = maxImagePixels
        (selection.limit, selection.syntheticDir) = (limit, syntheticDir)
        (selection.syntheticTrainCount, selection.syntheticTestCount, selection.syntheticSeed) =
            (syntheticTrainCount, syntheticTestCount, syntheticSeed)
        return selection
    }

    var isSynthetic: Bool { selection.isSynthetic }

    func validate() throws {
        try SettingFlags.validate(selection.validate)
    }

    func load(split: DatasetSplit, maxCount: Int? = nil, log: (String) -> Void) throws -> LabeledImages {
        try selection.load(split: split, maxCount: maxCount, log: log)
    }

    func loadPretraining(log: (String) -> Void) throws -> LabeledImages { try selection.loadPretraining(log: log) }

    func source(split: DatasetSplit, pretraining: Bool = false) -> String {
        selection.source(split: split, pretraining: pretraining)
    }

    func describe() -> String { selection.describe() }

    /// These options as command-line arguments, to hand the same data to another command.
    var arguments: [String] {
        var args: [String] = []
        if let data { args += ["--data", data] }
        if format != .auto { args += ["--format", format.rawValue] }
        if let limit { args += ["--limit", String(limit)] }
        if let testData { args += ["--test-data", testData] }
        if resizeTo != DataSelection().resizeTo { args += ["--resize-to", String(resizeTo)] }
        if skipBadImages { args.append("--skip-bad-images") }
        if maxImagePixels != DataSelection().maxImagePixels { args += ["--max-image-pixels", String(maxImagePixels)] }
        if let imageCacheDir { args += ["--image-cache-dir", imageCacheDir] }
        if isSynthetic {
            if let syntheticDir { args += ["--synthetic-dir", syntheticDir] }
            args += ["--synthetic-train-count", String(syntheticTrainCount),
                     "--synthetic-test-count", String(syntheticTestCount), "--synthetic-seed", String(syntheticSeed)]
        }
        return args
    }
}
