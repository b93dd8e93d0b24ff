import Cluster
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

/// How to spread a run over MPI ranks (see `DataParallel`).
public struct DataParallelOptions {
    public var communicator: Communicator
    public var syncBatchNorm = true
    public var bucketBytes = 25 * 1024 * 1024
    public var overlap = true
    /// Check that all replicas hold bit-identical parameters every this many steps (also at every checkpoint).
    public var verifyReplicasEvery: Int?
    public var fault: DistributedFault?

    public init(communicator: Communicator) { self.communicator = communicator }
}

/// A kNN classifier on frozen features, run every `every` steps during pretraining (rank 0 only): how
/// well the representation separates labelled classes, without training anything on the labels.
public struct KNNMonitor {
    public var every: Int
    public var train: LabeledImages
    public var test: LabeledImages
    public var k = 200
    public var temperature: Float = 0.1

    public init(every: Int, train: LabeledImages, test: LabeledImages) {
        self.every = every; self.train = train; self.test = test
    }

    /// Top-1 accuracy of the kNN classifier with the model's current backbone. Leaves the model in eval mode.
    public func evaluate(_ model: ResNet18) -> Double {
        let extractor = FeatureExtractor(model: model)
        let knn = KNNClassifier(trainFeatures: extractor.features(of: train), trainLabels: train.labels, k: k,
                                temperature: temperature)
        return knn.evaluate(features: extractor.features(of: test), labels: test.labels).top1
    }
}

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
    public let dataParallel: DataParallel?
    private let verifyReplicasEvery: Int?
    private let knnMonitor: KNNMonitor?
    private let loader: BatchLoader
    private let log: (String) -> Void
    private let runInfo: [String: String]
    public var rank: Int { dataParallel?.rank ?? 0 }
    public var worldSize: Int { dataParallel?.size ?? 1 }
    /// Rank 0 alone writes logs, metrics, checkpoints and the model.
    public var isLeader: Bool { rank == 0 }

    public var checkpointURL: URL { runDirectory.appendingPathComponent("checkpoint.safetensors") }
    public var finalModelURL: URL { runDirectory.appendingPathComponent("model.safetensors") }

    public init(settings: PretrainSettings, dataset: LabeledImages, runDirectory: URL, workers: Int = 2,
                prefetch: Int = 2, initialWeights: URL? = nil, runInfo: [String: String] = [:],
                distributed: DataParallelOptions? = nil, knnMonitor: KNNMonitor? = nil,
                log: @escaping (String) -> Void = { print($0) }) throws {
        guard settings.batchSize >= 2 else { throw TrainingError.invalidSettings("--batch-size must be at least 2") }
        guard settings.temperature > 0 else { throw TrainingError.invalidSettings("--temperature must be positive") }
        guard dataset.height == dataset.width else {
            throw TrainingError.invalidSettings("images are \(dataset.height)x\(dataset.width); square images expected")
        }
        let world = distributed?.communicator.size ?? 1, rank = distributed?.communicator.rank ?? 0
        guard settings.batchSize % world == 0 else {
            throw TrainingError.invalidSettings("--batch-size \(settings.batchSize) (the global batch) is not divisible by \(world) ranks")
        }
        self.settings = settings
        self.runDirectory = runDirectory
        self.log = rank == 0 ? log : { _ in }
        self.runInfo = runInfo
        self.verifyReplicasEvery = distributed?.verifyReplicasEvery
        self.knnMonitor = knnMonitor
        model = ResNet18(config: settings.model, seed: settings.seed)
        if let initialWeights, rank == 0 {
            try model.load(from: initialWeights)
            log("initialized from \(initialWeights.path)")
        }
        if let distributed {
            // Every rank must run the same configuration: compare hashes before any step.
            _ = try ConfigurationCheck.verify(settings.json + "\nworld=\(world)", communicator: distributed.communicator)
            let dp = try DataParallel(communicator: distributed.communicator, model: model,
                                      syncBatchNorm: distributed.syncBatchNorm, bucketBytes: distributed.bucketBytes,
                                      overlap: distributed.overlap)
            dp.fault = distributed.fault
            try dp.broadcastState(of: model)
            dataParallel = dp
        } else {
            dataParallel = nil
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
                               optimizer: optimizer, dataParallel: dataParallel)
        do {
            sampler = try DistributedSampler(datasetCount: dataset.count, worldSize: world, rank: rank,
                                             batchSize: settings.batchSize / world, shuffle: settings.shuffle, seed: settings.seed)
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
        if isLeader { try FileManager.default.createDirectory(at: runDirectory, withIntermediateDirectories: true) }
        var position = TrainingPosition(step: 0, optimizerStepCount: 0)
        if resume {
            position = try resumeFromCheckpoint()
            log("resuming from step \(position.step) of \(totalSteps)")
        }
        let metrics: MetricsLog?
        if isLeader {
            try writeConfig()
            metrics = try MetricsLog(url: runDirectory.appendingPathComponent("metrics.csv"),
                                     resumingAfterStep: resume ? position.step : nil)
        } else {
            metrics = nil
        }
        let progress = ProgressReporter(total: totalSteps, logEvery: settings.logEvery, silent: !isLeader)
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
            let result = try step.run(views: batch.images, learningRate: lr, localStop: stopSignalReceived != 0)
            epoch = batch.epoch
            guard result.loss.isFinite else { throw TrainingError.nonFiniteLoss(step: position.step + 1, loss: result.loss) }
            position.step += 1
            position.optimizerStepCount = optimizer.stepCount
            lastLoss = result.loss
            let seconds = Double(DispatchTime.now().uptimeNanoseconds - t0) * 1e-9 + batch.waitSeconds
            let m = result.metrics
            var knnTop1 = ""
            if isLeader, let monitor = knnMonitor, position.step % monitor.every == 0 || position.step == totalSteps {
                knnTop1 = String(format: "%.5f", monitor.evaluate(model))
                progress.finishLine()  // keep the log line off the progress bar
                log("step \(position.step): kNN top-1 \(knnTop1) (k=\(monitor.k), \(monitor.train.count) labelled / \(monitor.test.count) test images)")
            }
            metrics?.append([String(position.step), String(epoch), String(format: "%.6f", result.loss),
                            String(format: "%.5f", m.top1Accuracy), String(format: "%.5f", m.top5Accuracy),
                            String(format: "%.3f", m.meanRank), String(format: "%.6g", lr),
                            String(format: "%.2f", imagesPerStep / seconds), String(format: "%.4f", batch.waitSeconds), knnTop1])
            progress.update(step: position.step, fields: String(format: "epoch %d loss %.4f top1 %.3f top5 %.3f %.1f img/s",
                                                                epoch, result.loss, m.top1Accuracy, m.top5Accuracy, imagesPerStep / seconds))
            let endOfEpoch = batch.step == sampler.stepsPerEpoch - 1
            // Under MPI the ranks agree on stopping through the step's reduction.
            let signalled = dataParallel == nil ? stopSignalReceived != 0 : step.stopRequested
            let halting = position.step == haltAfterStep || signalled
            let periodic = settings.saveEvery.map { position.step % $0 == 0 } ?? false
            if endOfEpoch || halting || periodic || position.step == totalSteps {
                try verifyReplicas()
                metrics?.flush()
                if isLeader {
                    try Checkpoint.save(to: checkpointURL, model: model, optimizer: optimizer, position: position,
                                        settingsJSON: settings.json)
                }
            } else if let every = verifyReplicasEvery, position.step % every == 0 {
                try verifyReplicas()
            }
            if halting {
                progress.finishLine()
                stoppedEarly = true
                log(signalled ? "interrupted: checkpoint written at step \(position.step); continue with --resume"
                                            : "halted at step \(position.step)")
                break
            }
        }
        if !stoppedEarly {
            progress.finishLine()
            if isLeader { try model.save(to: finalModelURL, metadata: ["format": "pt"]) }
            log("finished \(position.step) steps; model written to \(finalModelURL.path)")
        }
        return PretrainSummary(steps: position.step, finalLoss: lastLoss, stoppedEarly: stoppedEarly)
    }

    /// Rank 0 reads the checkpoint and every rank receives model, optimizer state and position from it,
    /// so ranks need no shared file system. A failure on rank 0 is reported to all ranks.
    private func resumeFromCheckpoint() throws -> TrainingPosition {
        var position = TrainingPosition(step: 0, optimizerStepCount: 0)
        var failure: Error?
        if isLeader {
            do {
                let (saved, savedSettings) = try Checkpoint.load(from: checkpointURL, model: model, optimizer: optimizer)
                if let old = try? JSONDecoder().decode(PretrainSettings.self, from: Data(savedSettings.utf8)),
                   !old.sameTrainingAs(settings) {
                    throw CheckpointError.incompatible(checkpointURL.path, reason: "it was written with different settings; see config.json")
                }
                position = saved
            } catch { failure = error }
        }
        guard let dp = dataParallel else {
            if let failure { throw failure }
            return position
        }
        let message = try dp.communicator.broadcast(failure.map { "\($0)" } ?? "")
        if !message.isEmpty {
            if let failure { throw failure }
            throw CheckpointError.incompatible(checkpointURL.path, reason: "rank 0 could not resume: \(message)")
        }
        try dp.broadcastState(of: model)
        for (_, t) in optimizer.stateTensors { try dp.communicator.broadcast(t) }
        var numbers = [Int64(position.step), Int64(position.optimizerStepCount)]
        try dp.communicator.broadcast(&numbers)
        position = TrainingPosition(step: Int(numbers[0]), optimizerStepCount: Int(numbers[1]))
        optimizer.stepCount = position.optimizerStepCount
        return position
    }

    private func verifyReplicas() throws {
        guard let dp = dataParallel, dp.size > 1 else { return }
        try ReplicaCheck.verify(model.flatParameters, communicator: dp.communicator)
    }

    private func writeConfig() throws {
        var object: [String: Any] = ["settings": try JSONSerialization.jsonObject(with: Data(settings.json.utf8)),
                                     "total_steps": totalSteps, "steps_per_epoch": sampler.stepsPerEpoch,
                                     "scaled_lr": schedule.baseLR, "parameters": model.registry.parameterCount,
                                     "world_size": worldSize, "per_rank_batch": settings.batchSize / worldSize,
                                     "sync_batchnorm": dataParallel?.syncBatchNorm ?? false]
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
