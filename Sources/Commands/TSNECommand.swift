import ArgumentParser
import Datasets
import Evaluation
import Foundation
import Runs
import Kernels
import Reports

/// `simclr tsne`: a 2-D t-SNE map of embeddings or of an encoder's features, as an SVG scatter plot.
struct TSNECommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "tsne",
        abstract: "Exact t-SNE of embeddings (.npy) or of an encoder's backbone features, drawn as an SVG scatter plot.",
        discussion: """
        Input: --embeddings X.npy (float32 N x D, as simclr embed writes) with optional --labels Y.npy (int64 \
        N), or --encoder W.safetensors / --random-init with --data, whose pooled backbone features of --split \
        (default test, the first 2000 images unless --limit) are computed in eval mode without augmentation. \
        Above --max-points rows, a seeded random subset is kept.

        Exact t-SNE (van der Maaten & Hinton 2008, with the paper's optimizer: README, "t-SNE") of the features \
        projected onto their top --pca principal components, the layout seeded by --seed. O(N^2) time and 8 N^2 \
        bytes of memory: a few thousand points take seconds to minutes. The KL divergence is printed every 100 \
        iterations, and with labels the share of points whose nearest neighbour has the same label, in the input \
        and in the map.

        Writes --out (SVG, points coloured by label) and with --coords-out the 2-D coordinates (.npy: float32 N \
        x 2; .csv: x,y,label,index where index is the input row).

        Examples:
          simclr embed --encoder runs/cifar/model.safetensors \\
              --data data/cifar-10-batches-bin --out x.npy --labels-out y.npy
          simclr tsne --embeddings x.npy --labels y.npy --out runs/cifar/tsne.svg
          simclr tsne --encoder runs/cifar/model.safetensors \\
              --data data/cifar-10-batches-bin --out runs/cifar/tsne.svg
        """)

    @Option(help: ArgumentHelp("Embeddings to map (.npy, float32 or float64, N x D).", valueName: "file"))
    var embeddings: String?

    @Option(help: ArgumentHelp("Labels of the embeddings (.npy, int64, N); without it every point has one colour.",
                               valueName: "file"))
    var labels: String?

    @Option(help: ArgumentHelp("Comma-separated class names for the legend (default: the dataset's, else 'class k').",
                               valueName: "names"))
    var classNames: String?

    @OptionGroup(title: "Encoder (instead of --embeddings)") var encoderOptions: EncoderOptions
    @OptionGroup(title: "Data (with --encoder)") var dataOptions: DataOptions

    @Option(help: "Split whose features are mapped (with --encoder).")
    var split: DatasetSplit = .test

    @Option(help: "Keep at most this many points (a seeded random subset).")
    var maxPoints = TSNEMap().maxPoints

    @Option(help: "Perplexity: the effective number of neighbours of each point (must be below N - 1).")
    var perplexity = TSNEConfig().perplexity

    @Option(help: "Gradient descent iterations.")
    var iterations = TSNEConfig().iterations

    @Option(help: "Learning rate of the gradient descent.")
    var learningRate = TSNEConfig().learningRate

    @Option(help: ArgumentHelp("Principal components kept before t-SNE (0: use the features as they are).", valueName: "k"))
    var pca = TSNEMap().pca

    @Option(help: ArgumentHelp("The SVG scatter plot.", valueName: "file.svg"))
    var out = "tsne.svg"

    @Option(help: ArgumentHelp("Also write the 2-D coordinates (.npy float32 N x 2, or .csv with label and input row).",
                               valueName: "file"))
    var coordsOut: String?

    @Option(help: "Title of the plot (default: describes the input).")
    var title: String?

    func validate() throws {
        if embeddings != nil && encoderOptions.hasSource {
            throw ValidationError("give --embeddings or --encoder/--random-init, not both")
        }
        if embeddings == nil && !encoderOptions.hasSource {
            throw ValidationError("give --embeddings X.npy, or --encoder FILE (or --random-init) with --data")
        }
        if labels != nil && embeddings == nil { throw ValidationError("--labels goes with --embeddings") }
        for (flag, path) in [("--embeddings", embeddings), ("--labels", labels)] {
            if let path, !FileManager.default.fileExists(atPath: DataSelection.expand(path)) {
                throw ValidationError("\(flag) \(path): file not found")
            }
        }
        try SettingFlags.validate(map.validate)
        guard out.hasSuffix(".svg") else { throw ValidationError("--out \(out): expected a .svg file name") }
        if let coordsOut, !(coordsOut.hasSuffix(".npy") || coordsOut.hasSuffix(".csv")) {
            throw ValidationError("--coords-out \(coordsOut): expected a .npy or .csv file name")
        }
    }

    /// The flags as the library's pipeline.
    private var map: TSNEMap {
        var map = TSNEMap()
        (map.maxPoints, map.pca) = (maxPoints, pca)
        (map.config.perplexity, map.config.iterations) = (perplexity, iterations)
        (map.config.learningRate, map.config.seed) = (learningRate, encoderOptions.seed)
        return map
    }

    func run() throws {
        let log = Console().note
        _ = BLASSetup.applyThreads(encoderOptions.compute.threads)
        let input = try loadInput(log: log)
        let start = Date()
        let result: TSNEMap.Result
        do { result = try map.run(features: input.features, dim: input.dim, labels: input.labels, log: log) } catch {
            throw SettingFlags.renamed(error)
        }
        result.summary(seconds: Date().timeIntervalSince(start)).forEach { print($0) }
        let plotTitle = title ?? "t-SNE of \(input.description) (\(result.count) points, perplexity \(String(format: "%g", perplexity)))"
        try result.write(svg: URL(fileURLWithPath: DataSelection.expand(out)), title: plotTitle, classNames: input.classNames,
                         coordinates: coordsOut.map { URL(fileURLWithPath: DataSelection.expand($0)) }) { print($0) }
    }

    /// The points to map: the embeddings' file, or the encoder's features of --split.
    private func loadInput(log: @escaping (String) -> Void) throws -> FeatureMapInput {
        let names = classNames.map { $0.split(separator: ",").map { $0.trimmingCharacters(in: .whitespaces) } } ?? []
        if let embeddings { return try FeatureMapInput.embeddings(embeddings, labels: labels, classNames: names, log: log) }
        log(BLASSetup.describe())
        let images = try dataOptions.load(split: split, maxCount: dataOptions.limit == nil ? 2000 : nil, log: log)
        return try FeatureMapInput.features(of: images, split: split.rawValue, encoder: encoderOptions.encoderSource,
                                            classNames: names, log: log)
    }
}
