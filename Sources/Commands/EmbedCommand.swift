import ArgumentParser
import Datasets
import Evaluation
import Foundation
import Kernels
import NeuralNet
import RunFiles
import Runs

/// `simclr embed`: features of every image of a split, for probes, t-SNE and other tools.
struct EmbedCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "embed",
        abstract: "Write the embeddings of a dataset split as a float32 .npy file (N x D).",
        discussion: """
        Loads a ResNet-18, -34 or -50 (read from the file's keys unless --arch is given) from safetensors \
        (torchvision names), puts it in eval mode (BatchNorm uses its running statistics) and runs every image \
        of the split, in dataset order, with the plain preprocessing (value/255 at the images' own size, as \
        --augment none). --features backbone writes the pooled features (512*width-d; ResNet-50 2048*width-d) \
        (only the backbone is loaded, so the file's head may differ or be absent); --features projection writes \
        the head's output, and --stem, --width and --proj-dims must describe the file. Row i of the output is \
        image i of the split; --labels-out writes the labels (int64, -1 for unlabeled images). Read them with \
        numpy.load.

        Example:
          simclr embed --encoder runs/shapes/model.safetensors --data data/shapes \\
              --split test --features backbone --out runs/shapes/test_x.npy \\
              --labels-out runs/shapes/test_y.npy
        """)

    // --encoder as in linear-eval, knn, tsne and finetune; --weights, its first name here, still works.
    @Option(name: [.customLong("encoder"), .customLong("weights")],
            help: ArgumentHelp("The model's weights: a model.safetensors or a checkpoint (--weights: the same).",
                               valueName: "file"))
    var encoder: String

    @OptionGroup(title: "Data") var dataOptions: DataOptions

    @Option(help: "Split: train or test (STL-10 also: unlabeled, train+unlabeled).")
    var split: DatasetSplit = .test

    @Option(help: "backbone: pooled encoder features; projection: the projection head's output.")
    var features: Embedding.Features = .backbone

    @Option(help: ArgumentHelp("Output .npy file (float32, N x D).", valueName: "file"))
    var out: String

    @Option(help: ArgumentHelp("Also write the labels as an int64 .npy file (N).", valueName: "file"))
    var labelsOut: String?

    @OptionGroup var compute: ComputeOptions

    @Option(help: "Images per forward pass.")
    var batchSize = 256

    @OptionGroup var shape: EncoderShapeOptions

    @Option(help: "Projection head layer sizes of the model ('none' for no head).")
    var projDims = "512,256"

    func validate() throws {
        guard batchSize >= 1 else { throw ValidationError("--batch-size must be at least 1") }
        let dims = try SettingFlags.validate { try ResNetConfig.headDims(parsing: projDims) }
        if features == .projection && dims.isEmpty {
            throw ValidationError("--features projection needs a head: give --proj-dims (e.g. 512,256)")
        }
        for (flag, path) in [("--out", out), ("--labels-out", labelsOut)] {
            if let path, !path.hasSuffix(".npy") { throw ValidationError("\(flag) \(path): expected a .npy file name") }
        }
        try checkWeightsFile(encoder, flag: "--encoder")
    }

    func run() throws {
        let log = Console().note
        let threadCount = BLASSetup.applyThreads(compute.threads)
        log(BLASSetup.describe())
        // The head only matters for projection features; the backbone scope ignores the file's fc.* tensors.
        let headDims = features == .projection ? try ResNetConfig.headDims(parsing: projDims) : []
        var embedding = Embedding(weights: DataSelection.expand(encoder),
                                  model: shape.config(headDims: headDims, weights: encoder))
        (embedding.features, embedding.precision, embedding.batchSize) = (features, compute.precision, batchSize)
        embedding.convAlgorithm = compute.convAlgorithm
        let (outPath, labelsPath) = (DataSelection.expand(out), labelsOut.map(DataSelection.expand))
        // The output files' directories are made (or refused by name) before any work, not after it.
        for path in [outPath, labelsPath].compactMap({ $0 }) {
            try OutputDirectory.prepare(URL(fileURLWithPath: path).deletingLastPathComponent())
        }
        do {
            let model = try embedding.loadModel()
            let data = try dataOptions.load(split: split, log: log)
            log("embedding \(data.count) images (\(data.height)x\(data.width)) of \(dataOptions.describe()), split \(split.rawValue): "
                + "\(features.rawValue) features, \(embedding.dim)-d, batch \(batchSize), \(threadCount) threads")
            try embedding.write(data, with: model, to: outPath, labels: labelsPath, split: split.rawValue, log: log) { print($0) }
        } catch {
            throw SettingFlags.renamed(error)
        }
    }
}
