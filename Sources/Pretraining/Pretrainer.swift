import Checkpoints
import Cluster
import Contrastive
import Datasets
import Evaluation
import Foundation
import Kernels
import NeuralNet
import Optimizers
import RunFiles
import Training

public struct PretrainSummary {
    public var steps: Int
    public var finalLoss: Double
    public var stoppedEarly: Bool
}

/// Contrastive pretraining: data -> two augmented views -> ResNet + projection head -> InfoNCE (SimCLR over
/// the global batch, or MoCo against a momentum key encoder and a queue) -> backward -> optimizer, with
/// metrics, checkpoints and exact resumption.
public final class Pretrainer {
    public let settings: PretrainSettings
    public let model: ResNet
    public let optimizer: Optimizer
    public let step: PretrainingStep
    /// MoCo's key encoder and queue (nil for SimCLR).
    public let moco: MoCoState?
    public let sampler: DistributedSampler
    public let schedule: LearningRateSchedule
    public let totalSteps: Int
    public let runDirectory: URL
    public let dataParallel: DataParallel
    private let loop: TrainingLoop
    private let knnMonitor: KNNMonitor?
    private let loader: BatchLoader
    private let log: (String) -> Void
    public var rank: Int { dataParallel.rank }
    public var worldSize: Int { dataParallel.size }
    /// Rank 0 alone writes logs, metrics, checkpoints and the model.
    public var isLeader: Bool { rank == 0 }
    /// Rank 0 also writes metrics.csv's rows as TensorBoard scalars to RUN_DIR/tb.
    public var writesTensorBoard = true

    public var checkpointURL: URL { loop.checkpointURL }
    public var finalModelURL: URL { loop.finalModelURL }

    public init(settings: PretrainSettings, dataset: LabeledImages, runDirectory: URL, workers: Int = 2,
                prefetch: Int = 2, initialWeights: URL? = nil, runInfo: [String: String] = [:],
                distributed: DataParallelOptions? = nil, knnMonitor: KNNMonitor? = nil, dataSource: String = "in memory",
                log: @escaping (String) -> Void = { print($0) }) throws {
        guard settings.batchSize >= 2 else { throw TrainingError.invalidSettings("--batch-size must be at least 2") }
        guard settings.temperature > 0 else { throw TrainingError.invalidSettings("--temperature must be positive") }
        if let why = settings.moco?.refusal(globalBatch: settings.batchSize) { throw TrainingError.invalidSettings(why) }
        if settings.moco != nil, settings.multiCrop != nil {
            throw TrainingError.invalidSettings("--small-crops works with --method simclr only (MoCo with multi-crop is not built)")
        }
        guard dataset.height == dataset.width else {
            throw TrainingError.invalidSettings("images are \(dataset.height)x\(dataset.width); square images expected")
        }
        let options = distributed ?? DataParallelOptions()
        let world = options.communicator.size, rank = options.communicator.rank
        guard settings.batchSize % world == 0 else {
            throw TrainingError.invalidSettings("--batch-size \(settings.batchSize) (the global batch) is not divisible by \(world) ranks")
        }
        self.settings = settings
        self.runDirectory = runDirectory
        self.log = rank == 0 ? log : { _ in }
        self.knnMonitor = knnMonitor
        model = ResNet(config: settings.model, seed: settings.seed)
        model.precision = settings.precision
        if let initialWeights, rank == 0 {
            do { try model.load(from: initialWeights) } catch {
                throw TrainingError.invalidSettings("--init \(initialWeights.path): \(error)")
            }
            log("initialized from \(initialWeights.path)")
        }
        let identity = DatasetIdentity(of: dataset, source: dataSource)
        dataParallel = try options.makeDataParallel(model: model, configuration: settings.json, dataset: identity)
        optimizer = settings.makeOptimizer(segments: parameterSegments(of: model))
        // MoCo's key encoder copies the query encoder after rank 0's state reached every rank.
        let query = model
        let keyStatistics: any ProcessGroup = options.fault == .localKeyBatchNorm ? SingleProcess() : options.communicator
        moco = settings.moco.map { MoCoState(queryEncoder: query, settings: $0, seed: settings.seed, communicator: keyStatistics) }
        loop = TrainingLoop(runDirectory: runDirectory, model: model, optimizer: optimizer, dataParallel: dataParallel,
                            settingsJSON: settings.json, run: RunIdentity(worldSize: world, dataset: identity),
                            verifyReplicasEvery: options.verifyReplicasEvery,
                            runInfo: runInfo, log: self.log, attachment: moco)
        if let moco {
            step = MoCoStep(model: model, state: moco, loss: MoCoLoss(temperature: settings.temperature),
                            optimizer: optimizer, dataParallel: dataParallel)
        } else {
            step = ContrastiveStep(model: model, loss: InfoNCELoss(config: InfoNCEConfig(temperature: settings.temperature,
                                                                                         similarity: settings.similarity)),
                                   optimizer: optimizer, dataParallel: dataParallel, multiCrop: settings.multiCrop != nil)
        }
        do {
            sampler = try DistributedSampler(datasetCount: dataset.count, worldSize: world, rank: rank,
                                             batchSize: settings.batchSize / world, shuffle: settings.shuffle, seed: settings.seed)
        } catch {
            throw TrainingError.invalidSettings("\(error) (dataset of \(dataset.count) images, --batch-size \(settings.batchSize))")
        }
        loader = try BatchLoader(images: dataset, sampler: sampler, augmentation: settings.augmentation, views: 2,
                                 seed: settings.seed, workers: workers, prefetch: prefetch, multiCrop: settings.multiCrop)
        totalSteps = settings.steps ?? settings.epochs * sampler.stepsPerEpoch
        guard totalSteps >= 1 else { throw TrainingError.invalidSettings("nothing to train: 0 steps") }
        schedule = settings.schedule(totalSteps: totalSteps, stepsPerEpoch: sampler.stepsPerEpoch)
    }

    /// Trains until `totalSteps` (or `haltAfterStep`, which simulates an interruption without changing the
    /// schedule). With `resume`, continues from the run directory's checkpoint.
    @discardableResult
    public func run(resume: Bool = false, haltAfterStep: Int? = nil) throws -> PretrainSummary {
        let (start, metrics) = try loop.begin(resume: resume, totalSteps: totalSteps, refusal: {
            Checkpoint.settingsRefusal($0, as: PretrainSettings.self, current: settings) { $0.sameTrainingAs($1) }
        }, writeConfig: {
            try loop.writeConfig(totalSteps: totalSteps, stepsPerEpoch: sampler.stepsPerEpoch, scaledLR: schedule.baseLR,
                                 globalBatch: settings.batchSize, fields: configFields)
        }, openMetrics: {
            try MetricsLog(url: loop.metricsURL, rows: PretrainMetricsRow.self, resumingAfterStep: $0,
                           tensorBoard: writesTensorBoard ? runDirectory.appendingPathComponent("tb") : nil)
        })
        var position = start
        let progress = ProgressReporter(total: totalSteps, logEvery: settings.logEvery, silent: !isLeader)
        defer { loader.shutdown() }

        var (epoch, inEpoch) = sampler.position(afterSteps: position.step)
        loader.start(epoch: epoch, step: inEpoch)
        var lastLoss = Double.nan
        var lastKNN: ClassificationResult?
        var stoppedEarly = false
        let imagesPerStep = Double(settings.batchSize)
        while position.step < totalSteps {
            guard let batch = loader.next() else {
                epoch += 1
                inEpoch = 0
                loader.start(epoch: epoch, step: 0)
                continue
            }
            CollectiveDeadline.enterStep(position.step + 1)
            let t0 = DispatchTime.now().uptimeNanoseconds
            let lr = schedule.learningRate(atStep: position.step)
            let result = try step.run(views: batch.images, smallViews: batch.smallImages, learningRate: lr, localStop: StopSignal.received)
            epoch = batch.epoch
            guard result.loss.isFinite else {
                // Every rank has the same (reduced) loss; rank 0 records it for a study that started the run.
                if isLeader { try? RunDivergence(step: position.step + 1, loss: result.loss).write(to: loop.runDirectory) }
                throw TrainingError.nonFiniteLoss(step: position.step + 1, loss: result.loss)
            }
            position.step += 1
            position.optimizerStepCount = optimizer.stepCount
            lastLoss = result.loss
            let seconds = Double(DispatchTime.now().uptimeNanoseconds - t0) * 1e-9 + batch.waitSeconds
            let m = result.metrics
            var row = PretrainMetricsRow()
            (row.step, row.epoch, row.loss) = (position.step, epoch, result.loss)
            (row.top1, row.top5, row.meanRank) = (m.top1Accuracy, m.top5Accuracy, m.meanRank)
            (row.learningRate, row.imagesPerSecond, row.dataWaitSeconds) = (Double(lr), imagesPerStep / seconds, batch.waitSeconds)
            if isLeader, let monitor = knnMonitor, position.step % monitor.every == 0 || position.step == totalSteps {
                CollectiveDeadline.expectSlowNextStep()   // only rank 0 evaluates
                let knn = monitor.evaluate(model)
                lastKNN = knn
                row.knnTop1 = knn.top1
                progress.finishLine()  // keep the log line off the progress bar
                log("step \(position.step): kNN top-1 \(String(format: "%.5f", knn.top1)) (k=\(monitor.k), \(monitor.train.count) labelled / \(monitor.test.count) test images)")
            }
            try metrics?.append(row)
            progress.update(step: position.step, fields: String(format: "epoch %d loss %.4f top1 %.3f top5 %.3f %.1f img/s",
                                                                epoch, result.loss, m.top1Accuracy, m.top5Accuracy, imagesPerStep / seconds))
            let endOfEpoch = batch.step == sampler.stepsPerEpoch - 1
            let periodic = settings.saveEvery.map { position.step % $0 == 0 } ?? false
            if try loop.endStep(position: position, checkpointDue: endOfEpoch || periodic || position.step == totalSteps,
                                stopRequested: step.stopRequested, haltAfterStep: haltAfterStep, metrics: metrics,
                                progress: progress) {
                stoppedEarly = true
                break
            }
        }
        if !stoppedEarly {
            progress.finishLine()
            // Resumed from the last step's checkpoint (a finished run started again): no step ran here, so
            // the final loss is the one metrics.csv holds.
            if !lastLoss.isFinite, isLeader, let logged = PretrainMetricsSummary.lastLoss(csv: loop.metricsURL) {
                lastLoss = logged
            }
            try loop.finish(steps: position.step, metrics: metrics) {
                try writeResults(steps: position.step, finalLoss: lastLoss, knn: lastKNN)
            }
        }
        return PretrainSummary(steps: position.step, finalLoss: lastLoss, stoppedEarly: stoppedEarly)
    }

    /// What config.json says beyond the settings: for MoCo the method, and where the temperature came from
    /// (`temperatureNote`, set by the command when it chose MoCo v2's default).
    public var temperatureNote: String?
    private var configFields: [String: Any] {
        guard settings.method == .moco else { return [:] }
        var fields: [String: Any] = ["method": settings.method.rawValue, "key_encoder_batchnorm": "global batch (SyncBN)"]
        if let temperatureNote { fields["temperature_source"] = temperatureNote }
        return fields
    }

    /// `results.json`: the last epoch's contrastive metrics and, when the kNN monitor ran, its final
    /// accuracy as `test_top1`/`test_top5` (marked by `test_evaluation`: "knn").
    private func writeResults(steps: Int, finalLoss: Double, knn: ClassificationResult?) throws {
        var results = RunResults()
        results.method = settings.method == .moco ? "moco-pretrain" : "simclr-pretrain"
        (results.steps, results.finalLoss, results.epochs, results.ranks) = (steps, finalLoss, settings.epochs, worldSize)
        (results.batchSize, results.width, results.stem) = (settings.batchSize, settings.model.width, settings.model.stem.rawValue)
        (results.temperature, results.seed) = (Double(settings.temperature), settings.seed)
        results.arch = settings.model.arch.rawValue
        let summary = try PretrainMetricsSummary(csv: loop.metricsURL)
        (results.contrastiveLoss, results.contrastiveTop1, results.contrastiveTop5) = (summary.loss, summary.top1, summary.top5)
        if let knn, let monitor = knnMonitor {
            (results.testTop1, results.testTop5, results.testEvaluation) = (knn.top1, knn.top5, "knn")
            (results.knnK, results.knnTrainCount, results.testCount) = (monitor.k, monitor.train.count, monitor.test.count)
        }
        try EvaluationResults.write(results, to: loop.resultsURL)
    }
}
