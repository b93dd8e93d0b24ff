import ArgumentParser
import Datasets
import Evaluation
import Foundation
import NeuralNet

/// The encoder of an evaluation command: a weights file (backbone keys) or a random init, and its shape.
struct EncoderOptions: ParsableArguments {
    @Option(help: ArgumentHelp("Encoder weights (.safetensors; only the backbone keys are read, so a pretrain "
                                   + "model.safetensors with its head works).", valueName: "file"))
    var encoder: String?

    @Flag(help: "Use a randomly initialized encoder (the baseline) instead of --encoder.")
    var randomInit = false

    @OptionGroup var shape: EncoderShapeOptions

    @Option(help: "Seed of the random init and of the command's own randomness (label-fraction subset, probe, t-SNE).")
    var seed: UInt64 = 0

    @Option(help: "Images per forward pass when computing features.")
    var featureBatchSize = 256

    @OptionGroup var compute: ComputeOptions

    /// Checks the shape options and the encoder file; whether a source is given is `validateSource()`'s
    /// job, since `simclr tsne` may read embeddings instead of an encoder.
    func validate() throws {
        if encoder != nil && randomInit {
            throw ValidationError("--encoder and --random-init exclude each other: give exactly one")
        }
        if let encoder { try checkWeightsFile(encoder, flag: "--encoder") }
        guard featureBatchSize >= 1 else { throw ValidationError("--feature-batch-size must be at least 1") }
    }

    /// Exactly one of --encoder and --random-init was given.
    func validateSource() throws {
        if encoder == nil && !randomInit { throw ValidationError("give --encoder FILE or --random-init") }
    }

    var hasSource: Bool { encoder != nil || randomInit }

    /// "random-init" or the absolute encoder path.
    var source: String { encoder.map { URL(fileURLWithPath: DataSelection.expand($0)).path } ?? "random-init" }

    /// The encoder's shape (its architecture read from the file's keys unless --arch is given).
    var config: ResNetConfig { shape.config(headDims: [], weights: encoder) }

    /// The encoder as the library builds it.
    var encoderSource: EncoderSource {
        EncoderSource(weights: encoder.map { URL(fileURLWithPath: DataSelection.expand($0)).path }, arch: config.arch, stem: shape.stem,
                      width: config.width, seed: seed, precision: compute.precision, batchSize: featureBatchSize)
            .with(convAlgorithm: compute.convAlgorithm)
    }
}
