import Contrastive
import Datasets
import Foundation
import Kernels
import NeuralNet
import Optimizers
import Runs
import Training

/// Every setting of a pretraining run. Saved to `config.json` and inside checkpoints, so `--resume`
/// can refuse to continue a run with different settings.
public struct PretrainSettings: TrainingSettings {
    public var epochs = 50
    /// Stop after this many optimizer steps in all (overrides `epochs`).
    public var steps: Int?
    /// The global batch: images per step over all processes (each contributes two views).
    public var batchSize = 256
    public var model = ResNetConfig(stem: .cifar, width: 1.0, headDims: [512, 256])
    /// Arithmetic of convolutions and Linear layers (fp32, or bf16 with float32 master weights).
    public var precision = ComputePrecision.fp32
    /// How convolutions choose their algorithms (`ConvAlgorithmChoice`); nil in settings written before the
    /// choice existed, whose runs computed as `.winograd` does.
    public var convAlgorithm: ConvAlgorithmChoice? = .auto
    public var temperature: Float = 0.07
    public var similarity = Similarity.cosine
    public var optimizer = OptimizerKind.sgd
    /// Base learning rate before batch scaling.
    public var lr: Float = 0.3
    public var momentum: Float = 0.9
    public var weightDecay: Float = 1e-6
    /// nil: `defaultWarmupEpochs`, at most a tenth of the run. (Runs of earlier versions stored 10 here.)
    public var warmupEpochs: Double?
    public static let defaultWarmupEpochs = 10.0
    public var lrScaling = LRScaling.linear
    public var augmentation = AugmentationConfig.simclr(outputSize: 32)
    /// Small views besides the two global ones (docs/multi-crop.md); nil (no key in the JSON) without multi-crop,
    /// so the settings of runs without it read and hash as before.
    public var multiCrop: MultiCropConfig?
    public var seed: UInt64 = 0
    public var shuffle = true
    /// Write a checkpoint every this many steps (and at the end of every epoch and of the run).
    public var saveEvery: Int?
    public var logEvery = 10
    /// MoCo's settings; nil for SimCLR, so a SimCLR run's settings JSON is what it always was.
    public var moco: MoCoSettings?

    public var method: PretrainMethod { moco == nil ? .simclr : .moco }

    public init() {}

    /// Why these settings cannot train (the checks that need no data).
    public func validate() throws {
        guard batchSize >= 2 else {
            throw SettingsError("`batchSize` must be at least 2: each image is contrasted with the others of its batch (try 256, or 16 for a quick check)")
        }
        guard epochs >= 1 || (steps ?? 0) >= 1 else { throw SettingsError("`epochs` (or `steps`) must be at least 1") }
        if let steps, steps < 1 { throw SettingsError("`steps` \(steps) must be at least 1") }
        guard epochs >= 0 else { throw SettingsError("`epochs` \(epochs) must not be negative") }
        try RunLength.validate(epochs: epochs, steps: steps)
        guard temperature > 0 else { throw SettingsError("`temperature` must be positive") }
        if let moco {
            if let why = moco.refusal(globalBatch: batchSize) { throw SettingsError(why) }
            guard similarity == .cosine else {
                throw SettingsError("`method` moco compares unit vectors by their dot product; `similarity` applies to simclr only")
            }
        }
        try multiCrop?.validate()
        if let multiCrop, multiCrop.size > augmentation.outputSize {
            throw SettingsError("`multiCrop.size` \(multiCrop.size) must lie in [4, \(augmentation.outputSize)] (`augmentation.outputSize`: "
                                + "the small crops are smaller than the global views)")
        }
        if let saveEvery, saveEvery < 1 { throw SettingsError("`saveEvery` must be at least 1") }
        guard logEvery >= 1 else { throw SettingsError("`logEvery` must be at least 1") }
        try validateOptimization()
    }

    /// Settings that may change between an interrupted run and its resumption without changing
    /// the result: how long to run and how often to save or log.
    public func sameTrainingAs(_ other: PretrainSettings) -> Bool {
        var a = self, b = other
        a.saveEvery = nil; b.saveEvery = nil
        a.logEvery = 0; b.logEvery = 0
        a.convAlgorithm = a.convAlgorithm ?? .winograd; b.convAlgorithm = b.convAlgorithm ?? .winograd
        return a == b
    }
}

/// Stored by name (`"cosine"`, `"l2"`), as settings files and checkpoints have always held it.
extension Similarity: Codable {
    public init(from decoder: Decoder) throws {
        let name = try decoder.singleValueContainer().decode(String.self)
        guard let similarity = Similarity(name: name) else {
            throw DecodingError.dataCorrupted(.init(codingPath: decoder.codingPath,
                                                    debugDescription: "unknown similarity \(name)"))
        }
        self = similarity
    }

    public func encode(to encoder: Encoder) throws {
        var container = encoder.singleValueContainer()
        try container.encode(name)
    }
}

extension PretrainSettings {
    /// What one of `ranks` ranks holds during a step on `threads` kernel threads: two views (and multi-crop's
    /// small ones) per image; MoCo's key encoder and queue besides.
    public func stepMemory(ranks: Int, prefetch: Int, threads: Int) -> StepMemoryEstimate {
        var views = [(count: 2, size: augmentation.outputSize)]
        if let multiCrop { views.append((count: multiCrop.count, size: multiCrop.size)) }
        var extras: [String: Int] = [:]
        if let moco {
            extras["MoCo key encoder"] = model.parameterCount * 8
            extras["MoCo queue"] = moco.queueSize.multipliedReportingOverflow(by: model.outputDim * 4).overflow
                ? .max : moco.queueSize * model.outputDim * 4
        }
        return StepMemoryEstimate(model: model, optimizer: optimizer, views: views, perRankBatch: max(1, batchSize / ranks),
                                  prefetch: prefetch, precision: precision, convAlgorithm: convAlgorithm ?? .winograd,
                                  threads: threads, extras: extras)
    }
}
