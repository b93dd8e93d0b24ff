import ArgumentParser
import Cluster
import Datasets
import Evaluation
import Foundation
import Kernels
import NeuralNet
import RunFiles
import Training

/// The encoder of an evaluation command: a weights file (backbone keys) or a random init, and its shape.
struct EncoderOptions: ParsableArguments {
    @Option(help: ArgumentHelp("Encoder weights (.safetensors; only the backbone keys are read, so a pretrain "
                                   + "model.safetensors with its head works).", valueName: "file"))
    var encoder: String?

    @Flag(help: "Use a randomly initialized encoder (the baseline) instead of --encoder.")
    var randomInit = false

    @Option(help: "resnet18, resnet34 or resnet50 (default: the one the --encoder file's keys show; resnet18 for --random-init).")
    var arch: Architecture?

    @Option(help: "Stem of the encoder: cifar (3x3 conv) or imagenet (7x7 conv + max pool).")
    var stem: Stem = .cifar

    @Option(help: "Channel width multiplier of the encoder (1.0 = the torchvision network: 512-d features, ResNet-50 2048-d).")
    var width = 1.0

    @Option(help: "Seed of the random init and of the command's own randomness (label-fraction subset, probe, t-SNE).")
    var seed: UInt64 = 0

    @Option(help: "Images per forward pass when computing features.")
    var featureBatchSize = 256

    @Option(help: ArgumentHelp("Arithmetic of convolutions and Linear layers: fp32, or bf16 (PyTorch CPU autocast semantics; needs a CPU with bf16 instructions). bf16-reference computes bf16's rounding in fp32 (slow; for checking numerics)."))
    var precision: ComputePrecision = .fp32

    @Option(help: "BLAS and kernel threads (default: all cores).")
    var threads: Int?


    /// Checks the shape options and the encoder file; whether a source is given is `validateSource()`'s
    /// job, since `simclr tsne` may read embeddings instead of an encoder.
    func validate() throws {
        try checkPrecisionSupported(precision)
        if encoder != nil && randomInit {
            throw ValidationError("--encoder and --random-init exclude each other: give exactly one")
        }
        if let encoder, !FileManager.default.fileExists(atPath: expandPath(encoder)) {
            throw ValidationError("--encoder \(encoder): file not found")
        }
        try checkWidth(width)
        guard featureBatchSize >= 1 else { throw ValidationError("--feature-batch-size must be at least 1") }
        if let threads, threads < 1 { throw ValidationError("--threads must be at least 1") }
    }

    /// Exactly one of --encoder and --random-init was given.
    func validateSource() throws {
        if encoder == nil && !randomInit { throw ValidationError("give --encoder FILE or --random-init") }
    }

    var hasSource: Bool { encoder != nil || randomInit }

    /// "random-init" or the absolute encoder path.
    var source: String { encoder.map { URL(fileURLWithPath: expandPath($0)).path } ?? "random-init" }

    /// The encoder's shape (its architecture read from the file's keys unless --arch is given).
    var config: ResNetConfig { encoderConfig(arch: arch, stem: stem, width: width, headDims: [], weights: encoder) }

    /// The encoder as the library builds it.
    var encoderSource: EncoderSource {
        EncoderSource(weights: encoder.map { URL(fileURLWithPath: expandPath($0)).path }, arch: config.arch, stem: stem,
                      width: width, seed: seed, precision: precision, batchSize: featureBatchSize)
    }

    func makeModel() throws -> ResNet {
        guard hasSource else { throw CommandError("give --encoder FILE or --random-init") }
        return try encoderSource.makeModel()
    }
}

func expandPath(_ path: String) -> String { NSString(string: path).expandingTildeInPath }

/// The frame of `linear-eval` and `knn`: MPI when launched so, threads, then the library's
/// `FeatureEvaluation` (features in shards on every rank; `evaluate` on rank 0 alone, returning the result
/// line printed before results.json is written).
func runFeatureEvaluation(method: String, encoder: EncoderOptions, data: DataOptions, labelFraction: Double,
                          out: String,
                          evaluate: @escaping (EvaluationFeatureSet, inout RunResults, _ log: @escaping (String) -> Void) throws -> String) throws {
    try runTrainingCommand { communicator in
        let log = Console(leader: (communicator?.rank ?? 0) == 0).note
        let threadCount = applyThreads(encoder.threads)
        log(BLASSetup.describe())
        log("\(method) of \(encoder.source) on \(data.describe()), label fraction \(labelFraction), \(threadCount) threads")
        let features = EvaluationFeatures(encoder: encoder.encoderSource, dataDescription: data.describe(),
                                          labelFraction: labelFraction, runDirectory: URL(fileURLWithPath: expandPath(out)),
                                          group: communicator ?? SingleProcess(), log: log)
        let written = try FeatureEvaluation(method: method, features: features).run(
            load: { try data.load(split: $0, log: log) },
            evaluate: { set, results in print(try evaluate(set, &results, log)) })
        if let written { print("wrote \(written.path)") }
    }
}

/// `simclr linear-eval`: linear probe on frozen encoder features.
struct LinearEvalCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "linear-eval",
        abstract: "Linear probe: train one Linear layer on frozen encoder features and report test top-1/top-5.",
        discussion: """
        Computes the pooled backbone features (512*width-d, eval mode, no augmentation: value/255) of the \
        train split, reduced to a class-balanced --label-fraction subset, and of the test split, once, and \
        caches them in RUN_DIR (features_{train,test}.npy, labels_{train,test}.npy; reused by a rerun with \
        the same encoder and data). Then trains a softmax-regression layer with cross-entropy on them \
        (features standardized with the training mean/std unless --no-standardize; SGD with momentum or \
        AdamW, cosine-decayed LR, shuffled mini-batches) and evaluates it on the test features after every \
        epoch. Writes RUN_DIR/metrics.csv (epoch, train_loss, train_top1, test_top1, test_top5, test_loss, lr) \
        and RUN_DIR/results.json (test_top1, test_top5 as fractions, method, label_fraction, encoder, ...); \
        the metrics also go to RUN_DIR/tb as TensorBoard scalars (--no-tensorboard to skip).

        --encoder reads only the backbone keys of a safetensors model file (a pretrain model.safetensors \
        works as is); --random-init evaluates a randomly initialized encoder, the baseline. Give exactly one.

        Example:
          simclr linear-eval --encoder runs/shapes/model.safetensors --data data/shapes \\
            --out runs/shapes-linear-10pct --label-fraction 0.1 --epochs 100
        """)

    @OptionGroup(title: "Encoder") var encoderOptions: EncoderOptions
    @OptionGroup(title: "Data") var dataOptions: DataOptions

    @Option(help: ArgumentHelp("Run directory for metrics.csv, results.json and the feature cache.", valueName: "dir"))
    var out: String

    @Option(help: ArgumentHelp("Fraction of the training labels used, class-balanced, in (0, 1].", valueName: "f"))
    var labelFraction = 1.0

    @Option(help: "Probe training epochs.")
    var epochs = 100

    @Option(help: "Base learning rate (cosine decay to 0). Default: 0.1 for sgd, 0.001 for adamw.")
    var lr: Double?

    @Option(help: "Probe mini-batch size.")
    var batchSize = 256

    @Option(help: "Optimizer: sgd (momentum 0.9) or adamw.")
    var optimizer: LinearProbeConfig.OptimizerKind = .sgd

    @Option(help: "SGD momentum.")
    var momentum: Float = 0.9

    @Option(help: "Weight decay (on the weights, not the bias).")
    var weightDecay: Float = 0

    @Flag(help: "Train on the raw features instead of standardizing them with the training mean/std.")
    var noStandardize = false

    @OptionGroup var tensorBoard: TensorBoardOptions

    func validate() throws {
        try encoderOptions.validateSource()
        guard labelFraction > 0, labelFraction <= 1 else {
            throw ValidationError("--label-fraction \(labelFraction) must lie in (0, 1]")
        }
        guard epochs >= 1 else { throw ValidationError("--epochs must be at least 1") }
        guard batchSize >= 1 else { throw ValidationError("--batch-size must be at least 1") }
        if let lr, !(lr > 0) { throw ValidationError("--lr must be positive") }
        guard momentum >= 0, momentum < 1 else { throw ValidationError("--momentum must lie in [0, 1)") }
        guard weightDecay >= 0 else { throw ValidationError("--weight-decay must be >= 0") }
    }

    func run() throws {
        let baseLR = lr ?? (optimizer == .sgd ? 0.1 : 0.001)
        let config = LinearProbeConfig(epochs: epochs, batchSize: batchSize, learningRate: Float(baseLR),
                                       momentum: momentum, weightDecay: weightDecay, optimizer: optimizer,
                                       standardize: !noStandardize, seed: encoderOptions.seed)
        let probe = LinearProbeEvaluation(config: config, learningRate: baseLR,
                                          runDirectory: URL(fileURLWithPath: expandPath(out)), tensorBoard: tensorBoard.enabled)
        try runFeatureEvaluation(method: "linear-eval", encoder: encoderOptions, data: dataOptions,
                                 labelFraction: labelFraction, out: out) { f, results, log in
            try probe.run(f, into: &results, log: log)
        }
    }
}
