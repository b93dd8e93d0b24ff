import Cluster
import Contrastive
import Datasets
import Foundation
import Kernels
import NeuralNet
import Optimizers
import Runs
import Training

/// How a pretraining run ended.
public struct PretrainSummary {
    public var steps: Int
    public var finalLoss: Double
    /// Why the run stopped before its last step (nil: it finished).
    public var stop: StopOutcome?
    public var stoppedEarly: Bool { stop != nil }
}

/// Contrastive pretraining: data -> two augmented views -> ResNet + projection head -> InfoNCE (SimCLR over
/// the global batch, with or without multi-crop, or MoCo against a momentum key encoder and a queue) ->
/// backward -> optimizer, with metrics, checkpoints and exact resumption. It chooses the method's step from
/// the settings and hands it to the engine (`Trainer`), which owns the loop.
public final class Pretrainer: TrainerFront {
    public let trainer: Trainer<PretrainSettings>
    /// The method as the engine runs it: its step, MoCo's state, what it reports.
    public let method: ContrastivePretraining

    /// The method's step (SimCLR's `ContrastiveStep` or MoCo's `MoCoStep`).
    public var step: PretrainingStep { method.step }
    /// MoCo's key encoder and queue (nil for SimCLR).
    public var moco: MoCoState? { method.moco }
    /// Where the temperature came from, for config.json (set by the tool when it chose MoCo v2's default).
    public var temperatureNote: String? {
        get { method.temperatureNote }
        set { method.temperatureNote = newValue }
    }

    public init(settings: PretrainSettings, dataset: LabeledImages, runDirectory: URL, workers: Int = TrainerOptions().workers,
                prefetch: Int = TrainerOptions().prefetch, initialWeights: URL? = nil, runInfo: [String: String] = [:],
                distributed: DataParallelOptions? = nil, knnMonitor: KNNMonitor? = nil, dataSource: String = "in memory",
                trace: StepTraceRequest? = nil, log: @escaping (String) -> Void = { print($0) }) throws {
        guard settings.temperature > 0 else { throw SettingsError("`temperature` must be positive") }
        if let why = settings.moco?.refusal(globalBatch: settings.batchSize) { throw SettingsError(why) }
        if settings.moco != nil, settings.multiCrop != nil {
            throw SettingsError("`multiCrop` works with the SimCLR method only (MoCo with multi-crop is not built)")
        }
        var options = TrainerOptions()
        (options.workers, options.prefetch, options.runInfo, options.distributed, options.log) = (workers, prefetch, runInfo,
                                                                                                  distributed, log)
        options.trace = trace
        options.initialWeights = initialWeights.map {
            InitialWeights(url: $0, setting: "initialWeights", note: "initialized from \($0.path)")
        }
        let data = TrainingData(images: dataset, identity: DatasetIdentity(of: dataset, source: dataSource), views: 2,
                                multiCrop: settings.multiCrop)
        var made: ContrastivePretraining?
        trainer = try Trainer(settings: settings, data: data, runDirectory: runDirectory, options: options) { tail in
            let step: PretrainingStep
            var moco: MoCoState?
            if let mocoSettings = settings.moco {
                // The key encoder copies the query encoder after rank 0's state reached every rank.
                let state = MoCoState(queryEncoder: tail.model, settings: mocoSettings, seed: settings.seed,
                                      communicator: tail.dataParallel.keyEncoderStatistics)
                moco = state
                step = MoCoStep(tail: tail, state: state, loss: MoCoLoss(temperature: settings.temperature))
            } else {
                let loss = InfoNCELoss(config: InfoNCEConfig(temperature: settings.temperature, similarity: settings.similarity))
                step = ContrastiveStep(tail: tail, loss: loss, multiCrop: settings.multiCrop != nil)
            }
            let method = ContrastivePretraining(step: step, settings: settings, moco: moco, knnMonitor: knnMonitor,
                                                metricsURL: runDirectory.appendingPathComponent("metrics.csv"))
            made = method
            return method
        }
        method = made!
    }

    /// The run as log lines: MoCo's key encoder and queue, the model, multi-crop's small views, the schedule.
    public var summary: [String] {
        var lines: [String] = []
        if let moco = settings.moco {
            lines.append("MoCo: momentum \(moco.momentum), queue of \(moco.queueSize) keys, key encoder BatchNorm over the global batch")
        }
        let head = settings.model.headDims.isEmpty ? "none" : settings.model.headDims.map(String.init).joined(separator: ",")
        lines.append("model: \(settings.model.describe) head=\(head), \(model.registry.parameterCount) parameters")
        if let m = settings.multiCrop {
            lines.append("multi-crop: \(m.count) small crops of \(m.size) px (scale \(m.scale.lowerBound),\(m.scale.upperBound)) per image besides the 2 global views")
        }
        return lines + [scheduleDescription]
    }

    /// Trains until `totalSteps`, or until `stop` asks (Ctrl-C and SIGTERM by default; `HaltAfterStep` in
    /// tests). With `resume`, continues from the run directory's checkpoint.
    @discardableResult
    public func run(resume: Bool = false, stop: StopPolicy = SignalStop()) throws -> PretrainSummary {
        let summary = try trainer.run(resume: resume, stop: stop)
        return PretrainSummary(steps: summary.steps, finalLoss: method.lastLoss, stop: summary.stop)
    }
}
