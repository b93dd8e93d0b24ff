import Datasets
import Evaluation
import Foundation
import Kernels
import NeuralNet
import Optimizers
import Runs
import Training

/// Every setting of a supervised or fine-tuning run. Saved to `config.json` and inside checkpoints, so
/// `--resume` can refuse to continue a run with different settings. Defaults: the usual CIFAR recipe for
/// ResNet-18 (SGD 0.1, momentum 0.9, weight decay 5e-4, batch 128, cosine decay, padded crop + flip).
public struct ClassifierSettings: TrainingSettings {
    public enum Method: String, Codable, CaseIterable {
        /// From a random init.
        case supervised
        /// From a pretrained backbone (`encoder`), a new head, trained end to end.
        case finetune
    }

    public var method = Method.supervised
    /// The backbone weights a fine-tuning run starts from (nil: random init).
    public var encoder: String?
    public var epochs = 50
    /// The global batch: images per step over all processes.
    public var batchSize = 128
    /// Stem and width of the backbone; the trainer sets the head to `[hiddenDim, classes]`.
    public var model = ResNetConfig(stem: .cifar, width: 1.0, headDims: [])
    public var hiddenDim = 512
    /// Arithmetic of convolutions and Linear layers (fp32, or bf16 with float32 master weights).
    public var precision = ComputePrecision.fp32
    /// How convolutions choose their algorithms (`ConvAlgorithmChoice`); nil in settings written before the
    /// choice existed, whose runs computed as `.winograd` does.
    public var convAlgorithm: ConvAlgorithmChoice? = .auto
    public var optimizer = OptimizerKind.sgd
    public var lr: Float = 0.1
    public var momentum: Float = 0.9
    public var weightDecay: Float = 5e-4
    /// nil: no warm-up (`defaultWarmupEpochs`).
    public var warmupEpochs: Double?
    public static let defaultWarmupEpochs = 0.0
    public var lrScaling = LRScaling.none
    /// The backbone's learning rate is the schedule's times this (the head's is the schedule's); 0 freezes the
    /// backbone's parameters (its BatchNorm statistics still update).
    public var backboneLRScale: Float = 1
    /// RandomCrop(size, padding 4) + RandomHorizontalFlip, value / 255; the size is the images'.
    public var augmentation = AugmentationConfig.supervised(outputSize: 32)
    /// Class-balanced fraction of the labelled training images used (seeded by `seed`).
    public var labelFraction = 1.0
    public var seed: UInt64 = 0
    public var shuffle = true
    /// Images per forward pass when evaluating on the test split.
    public var evalBatchSize = 256
    /// Print a progress line every N steps when stdout is not a terminal.
    public var logEvery = 50

    public init() {}

    /// Equal but for how often to log: an interrupted run may resume with another `logEvery`.
    public func sameTrainingAs(_ other: ClassifierSettings) -> Bool {
        var a = self, b = other
        a.logEvery = 0; b.logEvery = 0
        a.convAlgorithm = a.convAlgorithm ?? .winograd; b.convAlgorithm = b.convAlgorithm ?? .winograd
        return a == b
    }

    /// Classifiers train whole epochs and checkpoint at each epoch's end.
    public var steps: Int? { nil }
    public var saveEvery: Int? { nil }

    /// The backbone's parameters learn at `backboneLRScale` times the head's (`fc.*`) rate.
    public func learningRateScale(ofParameter name: String) -> Float { name.hasPrefix("fc.") ? 1 : backboneLRScale }

    /// Why these settings cannot train (the checks that need no data).
    public func validate() throws {
        guard labelFraction > 0, labelFraction <= 1 else {
            throw SettingsError("`labelFraction` \(labelFraction) must lie in (0, 1], e.g. 0.1 for 10% of the labels")
        }
        guard epochs >= 1 else { throw SettingsError("`epochs` must be at least 1") }
        try RunLength.validate(epochs: epochs, steps: nil)
        guard batchSize >= 2 else {
            throw SettingsError("`batchSize` must be at least 2: BatchNorm needs two images per batch (try 256, or 16 for a quick check)")
        }
        guard backboneLRScale >= 0 else { throw SettingsError("`backboneLRScale` must not be negative") }
        guard evalBatchSize >= 1, logEvery >= 1 else { throw SettingsError("`evalBatchSize` and `logEvery` must be at least 1") }
        try validateOptimization()
    }
}

extension ClassifierSettings {
    /// What one of `ranks` ranks holds during a step on `threads` kernel threads: one view per image (the head's
    /// width depends on the classes, at most a few thousand: not counted).
    public func stepMemory(ranks: Int, prefetch: Int, threads: Int) -> StepMemoryEstimate {
        StepMemoryEstimate(model: model, optimizer: optimizer, views: [(count: 1, size: augmentation.outputSize)],
                           perRankBatch: max(1, batchSize / ranks), prefetch: prefetch, precision: precision,
                           convAlgorithm: convAlgorithm ?? .winograd, threads: threads)
    }
}
