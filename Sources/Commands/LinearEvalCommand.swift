import ArgumentParser
import Cluster
import Datasets
import Evaluation
import Foundation
import Kernels
import RunFiles
import Runs

/// What `linear-eval` and `knn` share: the encoder, the data, the run directory and the label fraction, and
/// their frame: MPI when launched so, threads, then the library's `FeatureEvaluation` (features in shards on
/// every rank; `evaluate` on rank 0 alone, returning the result line printed before results.json is written).
struct FeatureEvaluationOptions: ParsableArguments {
    @OptionGroup(title: "Encoder") var encoder: EncoderOptions
    @OptionGroup(title: "Data") var data: DataOptions

    @Option(help: ArgumentHelp("Run directory for the results and the feature cache (the files are listed above).",
                               valueName: "dir"))
    var out: String

    @Option(help: ArgumentHelp("Fraction of the training labels used, class-balanced, in (0, 1].", valueName: "f"))
    var labelFraction = 1.0

    func validate() throws {
        try encoder.validateSource()
        try checkOutPath(out)
        guard labelFraction > 0, labelFraction <= 1 else {
            throw ValidationError("--label-fraction \(labelFraction) must lie in (0, 1]")
        }
    }

    var runDirectory: URL { URL(fileURLWithPath: DataSelection.expand(out)) }

    func run(method: String,
             evaluate: @escaping (EvaluationFeatureSet, inout RunResults, _ log: @escaping (String) -> Void) throws -> String) throws {
        try runTrainingCommand { communicator in
            let log = Console(leader: (communicator?.rank ?? 0) == 0).note
            let threadCount = BLASSetup.applyThreads(encoder.compute.threads)
            log(BLASSetup.describe())
            log("\(method) of \(encoder.source) (\(encoder.config.describe)) on \(data.describe()), label fraction "
                + "\(labelFraction), \(threadCount) threads")
            let features = EvaluationFeatures(encoder: encoder.encoderSource, dataDescription: data.describe(),
                                              labelFraction: labelFraction, runDirectory: runDirectory,
                                              group: communicator ?? SingleProcess(), log: log)
            let written = try FeatureEvaluation(method: method, features: features).run(
                load: { try data.load(split: $0, log: log) },
                evaluate: { set, results in print(try evaluate(set, &results, log)) })
            if let written { print("wrote \(written.path)") }
            return nil
        }
    }
}

/// `simclr linear-eval`: linear probe on frozen encoder features.
struct LinearEvalCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "linear-eval",
        abstract: "Linear probe: train one Linear layer on frozen encoder features and report test top-1/top-5.",
        discussion: """
        Computes the pooled backbone features (512*width-d, eval mode, no augmentation: value/255) of the train \
        split, reduced to a class-balanced --label-fraction subset, and of the test split, once, and caches them \
        in RUN_DIR (features_{train,test}.npy, labels_{train,test}.npy; reused by a rerun with the same encoder \
        and data). Then trains a softmax-regression layer with cross-entropy on them (features standardized with \
        the training mean/std unless --no-standardize; SGD with momentum or AdamW, cosine-decayed LR, shuffled \
        mini-batches) and evaluates it on the test features after every epoch. Writes RUN_DIR/metrics.csv \
        (epoch, train_loss, train_top1, test_top1, test_top5, test_loss, lr) and RUN_DIR/results.json \
        (test_top1, test_top5 as fractions, method, label_fraction, encoder, ...); the metrics also go to \
        RUN_DIR/tb as TensorBoard scalars (--no-tensorboard to skip).

        --encoder reads only the backbone keys of a safetensors model file (a pretrain model.safetensors works \
        as is); --random-init evaluates a randomly initialized encoder, the baseline. Give exactly one.

        Example:
          simclr linear-eval --encoder runs/shapes/model.safetensors \\
              --data data/shapes \\
              --out runs/shapes-linear-10pct --label-fraction 0.1 --epochs 100
        """)

    @OptionGroup var evaluation: FeatureEvaluationOptions

    @Option(help: "Probe training epochs.")
    var epochs = LinearProbeConfig().epochs

    @Option(help: "Base learning rate (cosine decay to 0). Default: \(LinearProbeConfig.defaultLearningRate(for: .sgd)) for sgd, \(LinearProbeConfig.defaultLearningRate(for: .adamw)) for adamw.")
    var lr: Double?

    @Option(help: "Probe mini-batch size.")
    var batchSize = LinearProbeConfig().batchSize

    @Option(help: "Optimizer: sgd (momentum 0.9) or adamw.")
    var optimizer = LinearProbeConfig().optimizer

    @Option(help: "SGD momentum.")
    var momentum = LinearProbeConfig().momentum

    @Option(help: "Weight decay (on the weights, not the bias).")
    var weightDecay = LinearProbeConfig().weightDecay

    @Flag(help: "Train on the raw features instead of standardizing them with the training mean/std.")
    var noStandardize = false

    @OptionGroup var tensorBoard: TensorBoardOptions

    func validate() throws {
        try SettingFlags.validate(flags: ["learningRate": "--lr"], config.validate)
    }

    /// The base learning rate: --lr, or the optimizer's default.
    private var baseLR: Double { lr ?? LinearProbeConfig.defaultLearningRate(for: optimizer) }

    private var config: LinearProbeConfig {
        LinearProbeConfig(epochs: epochs, batchSize: batchSize, learningRate: Float(baseLR), momentum: momentum,
                          weightDecay: weightDecay, optimizer: optimizer, standardize: !noStandardize, seed: evaluation.encoder.seed)
    }

    func run() throws {
        let probe = LinearProbeEvaluation(config: config, learningRate: baseLR, runDirectory: evaluation.runDirectory,
                                          tensorBoard: tensorBoard.enabled)
        try evaluation.run(method: "linear-eval") { f, results, log in
            try probe.run(f, into: &results, log: log)
        }
    }
}
