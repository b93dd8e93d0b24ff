import ArgumentParser
import Datasets
import Evaluation
import Foundation
import Kernels
import NeuralNet

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

    @Option(help: "Channel width multiplier of the encoder (1.0 = the torchvision network: 512-d features, ResNet-50 2048-d). Default: the width the --encoder file's channel counts show; 1.0 for --random-init.")
    var width: Double?

    @Option(help: "Seed of the random init and of the command's own randomness (label-fraction subset, probe, t-SNE).")
    var seed: UInt64 = 0

    @Option(help: "Images per forward pass when computing features.")
    var featureBatchSize = 256

    @Option(help: ArgumentHelp("Arithmetic of convolutions and Linear layers: fp32, or bf16 (PyTorch CPU autocast semantics; needs a CPU with bf16 instructions). bf16-reference computes bf16's rounding in fp32 (slow; for checking numerics)."))
    var precision: ComputePrecision = .fp32

    @OptionGroup var convolutions: ConvAlgorithmOption

    @Option(help: "BLAS and kernel threads (default: the cores this process may run on).")
    var threads: Int?

    /// Checks the shape options and the encoder file; whether a source is given is `validateSource()`'s
    /// job, since `simclr tsne` may read embeddings instead of an encoder.
    func validate() throws {
        try checkPrecisionSupported(precision)
        if encoder != nil && randomInit {
            throw ValidationError("--encoder and --random-init exclude each other: give exactly one")
        }
        if let encoder { try checkWeightsFile(encoder, flag: "--encoder") }
        if let width { try checkWidth(width) }
        guard featureBatchSize >= 1 else { throw ValidationError("--feature-batch-size must be at least 1") }
        if let threads, threads < 1 { throw ValidationError("--threads must be at least 1") }
    }

    /// Exactly one of --encoder and --random-init was given.
    func validateSource() throws {
        if encoder == nil && !randomInit { throw ValidationError("give --encoder FILE or --random-init") }
    }

    var hasSource: Bool { encoder != nil || randomInit }

    /// "random-init" or the absolute encoder path.
    var source: String { encoder.map { URL(fileURLWithPath: DataSelection.expand($0)).path } ?? "random-init" }

    /// The encoder's shape (its architecture read from the file's keys unless --arch is given).
    var config: ResNetConfig { encoderConfig(arch: arch, stem: stem, width: width, headDims: [], weights: encoder) }

    /// The encoder as the library builds it.
    var encoderSource: EncoderSource {
        EncoderSource(weights: encoder.map { URL(fileURLWithPath: DataSelection.expand($0)).path }, arch: config.arch, stem: stem,
                      width: config.width, seed: seed, precision: precision, batchSize: featureBatchSize)
            .with(convAlgorithm: convolutions.convAlgorithm)
    }

    func makeModel() throws -> ResNet {
        guard hasSource else { throw CommandError("give --encoder FILE or --random-init") }
        return try encoderSource.makeModel()
    }
}
