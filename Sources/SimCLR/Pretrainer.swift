import Contrastive
import Datasets
import Foundation
import Kernels
import NeuralNet
import Optimizers

public enum TrainingError: Error, CustomStringConvertible {
    case nonFiniteLoss(step: Int, loss: Double)
    case invalidSettings(String)

    public var description: String {
        switch self {
        case let .nonFiniteLoss(step, loss):
            return "loss became \(loss) at step \(step); stopping. The last good checkpoint is kept (try a lower --lr or a higher --temperature)."
        case let .invalidSettings(why): return "invalid settings: \(why)"
        }
    }
}

/// Set by SIGINT/SIGTERM: the loop finishes its step, writes a checkpoint and stops.
nonisolated(unsafe) private var stopSignalReceived: Int32 = 0

public struct PretrainSummary {
    public var steps: Int
    public var finalLoss: Double
    public var stoppedEarly: Bool
}

/// SimCLR pretraining: data -> two augmented views -> ResNet-18 + projection head -> InfoNCE ->
/// backward -> optimizer, with metrics, checkpoints and exact resumption.
public final class Pretrainer {
    public let settings: PretrainSettings
    public let model: ResNet18
    public let optimizer: Optimizer
    public let step: ContrastiveStep
    public let sampler: DistributedSampler
    public let schedule: LearningRateSchedule
    public let totalSteps: Int
    public let runDirectory: URL
    private let loader: BatchLoader
    private let log: (String) -> Void
    private let runInfo: [String: String]

    public var checkpointURL: URL { runDirectory.appendingPathComponent("checkpoint.safetensors") }
    public var finalModelURL: URL { runDirectory.appendingPathComponent("model.safetensors") }

    public init(settings: PretrainSettings, dataset: LabeledImages, runDirectory: URL, workers: Int = 2,
                prefetch: Int = 2, initialWeights: URL? = nil, runInfo: [String: String] = [:],
                log: @escaping (String) -> Void = { print($0) }) throws {
        guard settings.batchSize >= 2 else { throw TrainingError.invalidSettings("--batch-size must be at least 2") }
        guard settings.temperature > 0 else { throw TrainingError.invalidSettings("--temperature must be positive") }
        guard dataset.height == dataset.width else {
            throw TrainingError.invalidSettings("images are \(dataset.height)x\(dataset.width); square images expected")
        }
        self.settings = settings
        self.runDirectory = runDirectory
        self.log = log
        self.runInfo = runInfo
        model = ResNet18(config: settings.model, seed: settings.seed)
        if let initialWeights {
            try model.load(from: initialWeights)
            log("initialized from \(initialWeights.path)")
        }
        let segments = parameterSegments(of: model)
        switch settings.optimizer {
        case .sgd: optimizer = SGD(momentum: settings.momentum, weightDecay: settings.weightDecay, segments: segments)
        case .adamw: optimizer = AdamW(weightDecay: settings.weightDecay, segments: segments)
        case .lars: optimizer = LARS(momentum: settings.momentum, weightDecay: settings.weightDecay, segments: segments)
        }
        let similarity: Similarity = settings.similarity == "l2" ? .negativeSquaredL2 : .cosine
        step = ContrastiveStep(model: model, loss: InfoNCELoss(config: InfoNCEConfig(temperature: settings.temperature,
                                                                                     similarity: similarity)),
                               optimizer: optimizer)
        do {
            sampler = try DistributedSampler(datasetCount: dataset.count, batchSize: settings.batchSize,
                                             shuffle: settings.shuffle, seed: settings.seed)
        } catch {
            throw TrainingError.invalidSettings("\(error) (dataset of \(dataset.count) images, --batch-size \(settings.batchSize))")
        }
        loader = try BatchLoader(images: dataset, sampler: sampler, augmentation: settings.augmentation, views: 2,
                                 seed: settings.seed, workers: workers, prefetch: prefetch)
        totalSteps = settings.steps ?? settings.epochs * sampler.stepsPerEpoch
        guard totalSteps >= 1 else { throw TrainingError.invalidSettings("nothing to train: 0 steps") }
        let lr = settings.lrScaling.scaledLR(base: settings.lr, globalBatch: settings.batchSize)
        let warmup = min(totalSteps - 1, Int((settings.warmupEpochs * Double(sampler.stepsPerEpoch)).rounded()))
        schedule = LearningRateSchedule(baseLR: lr, warmupSteps: max(warmup, 0), totalSteps: totalSteps)
    }

    /// Trains until `totalSteps` (or `haltAfterStep`, which simulates an interruption without changing the
    /// schedule). With `resume`, continues from the run directory's checkpoint.
    @discardableResult
    public func run(resume: Bool = false, haltAfterStep: Int? = nil) throws -> PretrainSummary {
        try FileManager.default.createDirectory(at: runDirectory, withIntermediateDirectories: true)
        var position = TrainingPosition(step: 0, optimizerStepCount: 0)
        if resume {
            let (saved, savedSettings) = try Checkpoint.load(from: checkpointURL, model: model, optimizer: optimizer)
            if let old = try? JSONDecoder().decode(PretrainSettings.self, from: Data(savedSettings.utf8)),
               !old.sameTrainingAs(settings) {
                throw CheckpointError.incompatible(checkpointURL.path, reason: "it was written with different settings; see config.json")
            }
            position = saved
            log("resuming from step \(position.step) of \(totalSteps)")
        }
        try writeConfig()
        let metrics = try MetricsLog(url: runDirectory.appendingPathComponent("metrics.csv"),
                                     resumingAfterStep: resume ? position.step : nil)
        let progress = ProgressReporter(total: totalSteps, logEvery: settings.logEvery)
        installStopHandlers()
        defer { loader.shutdown() }

        var (epoch, inEpoch) = sampler.position(afterSteps: position.step)
        loader.start(epoch: epoch, step: inEpoch)
        var lastLoss = Double.nan
        var stoppedEarly = false
        let imagesPerStep = Double(settings.batchSize)
        while position.step < totalSteps {
            guard let batch = loader.next() else {
                epoch += 1
                inEpoch = 0
                loader.start(epoch: epoch, step: 0)
                continue
            }
            let t0 = DispatchTime.now().uptimeNanoseconds
            let lr = schedule.learningRate(atStep: position.step)
            let result = step.run(views: batch.images, learningRate: lr)
            epoch = batch.epoch
            guard result.loss.isFinite else { throw TrainingError.nonFiniteLoss(step: position.step + 1, loss: result.loss) }
            position.step += 1
            position.optimizerStepCount = optimizer.stepCount
            lastLoss = result.loss
            let seconds = Double(DispatchTime.now().uptimeNanoseconds - t0) * 1e-9 + batch.waitSeconds
            let m = result.metrics
            metrics.append([String(position.step), String(epoch), String(format: "%.6f", result.loss),
                            String(format: "%.5f", m.top1Accuracy), String(format: "%.5f", m.top5Accuracy),
                            String(format: "%.3f", m.meanRank), String(format: "%.6g", lr),
                            String(format: "%.2f", imagesPerStep / seconds), String(format: "%.4f", batch.waitSeconds)])
            progress.update(step: position.step, fields: String(format: "epoch %d loss %.4f top1 %.3f top5 %.3f %.1f img/s",
                                                                epoch, result.loss, m.top1Accuracy, m.top5Accuracy, imagesPerStep / seconds))
            let endOfEpoch = batch.step == sampler.stepsPerEpoch - 1
            let halting = position.step == haltAfterStep || stopSignalReceived != 0
            let periodic = settings.saveEvery.map { position.step % $0 == 0 } ?? false
            if endOfEpoch || halting || periodic || position.step == totalSteps {
                metrics.flush()
                try Checkpoint.save(to: checkpointURL, model: model, optimizer: optimizer, position: position,
                                    settingsJSON: settings.json)
            }
            if halting {
                progress.finishLine()
                stoppedEarly = true
                log(stopSignalReceived != 0 ? "interrupted: checkpoint written at step \(position.step); continue with --resume"
                                            : "halted at step \(position.step)")
                break
            }
        }
        if !stoppedEarly {
            progress.finishLine()
            try model.save(to: finalModelURL, metadata: ["format": "pt"])
            log("finished \(position.step) steps; model written to \(finalModelURL.path)")
        }
        return PretrainSummary(steps: position.step, finalLoss: lastLoss, stoppedEarly: stoppedEarly)
    }

    private func writeConfig() throws {
        var object: [String: Any] = ["settings": try JSONSerialization.jsonObject(with: Data(settings.json.utf8)),
                                     "total_steps": totalSteps, "steps_per_epoch": sampler.stepsPerEpoch,
                                     "scaled_lr": schedule.baseLR, "parameters": model.registry.parameterCount]
        for (k, v) in runInfo { object[k] = v }
        let data = try JSONSerialization.data(withJSONObject: object, options: [.prettyPrinted, .sortedKeys])
        try AtomicFile.write(data, to: runDirectory.appendingPathComponent("config.json"))
    }

    private func installStopHandlers() {
        stopSignalReceived = 0
        signal(SIGINT) { _ in stopSignalReceived = 1 }
        signal(SIGTERM) { _ in stopSignalReceived = 1 }
    }
}
