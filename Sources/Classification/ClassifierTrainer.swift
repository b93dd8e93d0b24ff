import Checkpoints
import Cluster
import Datasets
import Evaluation
import Foundation
import Kernels
import NeuralNet
import Optimizers
import RunFiles
import Training

/// How a classifier run ended.
public struct ClassifierSummary {
    public var steps: Int
    /// Completed epochs.
    public var epochs: Int
    public var stoppedEarly: Bool
    /// Test-split result after the last completed epoch (nil before the first).
    public var test: ClassificationResult?
    /// Mean loss and top-1 over the training batches of the last completed epoch.
    public var trainLoss: Double
    public var trainTop1: Double
}

/// The supervised baseline and fine-tuning: ResNet-18 with the classifier head `Linear(512*width, 512), ReLU,
/// Linear(512, classes)` (`fc.0`, `fc.2`), softmax cross-entropy, padded random crop + flip, evaluated on the
/// test split after every epoch. Data-parallel exactly as pretraining (rank 0's state broadcast, sharded
/// global batches, gradients summed in buckets during backward, SyncBN optional); rank 0 writes
/// `metrics.csv`, `config.json`, `checkpoint.safetensors`, `model.safetensors` and `results.json`.
public final class ClassifierTrainer {
    public let settings: ClassifierSettings
    public let model: ResNet
    public let optimizer: Optimizer
    public let step: ClassifierStep
    public let sampler: DistributedSampler
    public let schedule: LearningRateSchedule
    public let totalSteps: Int
    public let classCount: Int
    /// The labelled training images actually used (the label-fraction subset).
    public let trainImages: LabeledImages
    /// Size of the test split (all ranks together).
    public let testCount: Int
    public let runDirectory: URL
    public let dataParallel: DataParallel
    /// This rank's share of the test split: images `testRange` of it.
    private let testShard: LabeledImages
    private let loader: BatchLoader
    private let log: (String) -> Void
    private let loop: TrainingLoop
    public var rank: Int { dataParallel.rank }
    public var worldSize: Int { dataParallel.size }
    public var isLeader: Bool { rank == 0 }
    /// Rank 0 also writes metrics.csv's rows as TensorBoard scalars to RUN_DIR/tb.
    public var writesTensorBoard = true

    public var checkpointURL: URL { loop.checkpointURL }
    public var finalModelURL: URL { loop.finalModelURL }
    public var resultsURL: URL { loop.resultsURL }

    /// `train` and `test` are whole labelled splits; the label fraction is taken here. With
    /// `settings.encoder`, rank 0 loads the backbone keys of that file (its `fc.*` keys are ignored).
    public init(settings: ClassifierSettings, train: LabeledImages, test: LabeledImages, runDirectory: URL,
                workers: Int = 2, prefetch: Int = 2, runInfo: [String: String] = [:],
                distributed: DataParallelOptions? = nil, dataSource: String = "in memory",
                log: @escaping (String) -> Void = { print($0); fflush(stdout) }) throws {
        func invalid(_ why: String) -> TrainingError { .invalidSettings(why) }
        guard settings.batchSize >= 2 else { throw invalid("--batch-size must be at least 2") }
        guard settings.epochs >= 1 else { throw invalid("--epochs must be at least 1") }
        guard settings.backboneLRScale >= 0 else { throw invalid("--backbone-lr-scale must not be negative") }
        guard settings.labelFraction > 0, settings.labelFraction <= 1 else {
            throw invalid("--label-fraction \(settings.labelFraction) must lie in (0, 1]")
        }
        guard train.count > 0, test.count > 0 else { throw invalid("the train and test splits must not be empty") }
        guard train.height == train.width else { throw invalid("images are \(train.height)x\(train.width); square images expected") }
        guard train.height == test.height, train.width == test.width else {
            throw invalid("train images are \(train.height)x\(train.width), test images \(test.height)x\(test.width)")
        }
        let options = distributed ?? DataParallelOptions()
        let world = options.communicator.size, rank = options.communicator.rank
        guard settings.batchSize % world == 0 else {
            throw invalid("--batch-size \(settings.batchSize) (the global batch) is not divisible by \(world) ranks")
        }
        let classes = max(train.classNames.count, (train.labels.max() ?? -1) + 1)
        guard classes >= 2 else { throw invalid("the training labels hold \(classes) class; at least 2 are needed") }
        if let bad = test.labels.first(where: { $0 < 0 || $0 >= classes }) {
            throw invalid("test label \(bad) outside the \(classes) training classes")
        }
        let subset = LabelFraction.balancedSubset(labels: train.labels, fraction: settings.labelFraction, seed: settings.seed)
        trainImages = subset.count == train.count ? train : train.subset(subset)
        classCount = classes
        testCount = test.count
        testShard = test.subset(Array((test.count * rank / world)..<(test.count * (rank + 1) / world)))

        var settings = settings
        settings.model.headDims = [settings.hiddenDim, classes]
        settings.augmentation.outputSize = train.height
        self.settings = settings
        self.runDirectory = runDirectory
        self.log = rank == 0 ? log : { _ in }
        model = ResNet(config: settings.model, seed: settings.seed)
        model.precision = settings.precision
        if let encoder = settings.encoder, rank == 0 {
            do {
                try model.load(from: URL(fileURLWithPath: encoder), scope: .backbone)
            } catch {
                throw invalid("\(encoder): \(error) (do the architecture \(settings.model.arch.rawValue), stem "
                              + "\(settings.model.stem.rawValue) and width \(settings.model.width) describe this file?)")
            }
            log("backbone loaded from \(encoder); new \(settings.model.headDims) head")
        }
        // The whole train split identifies the data (the label fraction is in the settings).
        let identity = DatasetIdentity(of: train, source: dataSource)
        dataParallel = try options.makeDataParallel(model: model, configuration: settings.json, dataset: identity)
        optimizer = settings.makeOptimizer(segments: parameterSegments(of: model).map { segment in
            var s = segment
            if !s.name.hasPrefix("fc.") { s.learningRateScale = settings.backboneLRScale }
            return s
        })
        loop = TrainingLoop(runDirectory: runDirectory, model: model, optimizer: optimizer, dataParallel: dataParallel,
                            settingsJSON: settings.json, run: RunIdentity(worldSize: world, dataset: identity),
                            verifyReplicasEvery: options.verifyReplicasEvery,
                            runInfo: runInfo, log: self.log)
        step = ClassifierStep(model: model, optimizer: optimizer, dataParallel: dataParallel)
        do {
            sampler = try DistributedSampler(datasetCount: trainImages.count, worldSize: world, rank: rank,
                                             batchSize: settings.batchSize / world, shuffle: settings.shuffle,
                                             seed: settings.seed)
        } catch {
            throw invalid("\(error) (\(trainImages.count) training images at label fraction \(settings.labelFraction), "
                          + "--batch-size \(settings.batchSize); the last partial batch of an epoch is dropped). "
                          + "Use a --batch-size of at most \(trainImages.count / world * world) or a larger --label-fraction "
                          + "(under simclr compare/sweep: --finetune-arg=--batch-size=N, --supervised-arg=--batch-size=N)")
        }
        loader = try BatchLoader(images: trainImages, sampler: sampler, augmentation: settings.augmentation, views: 1,
                                 seed: settings.seed, workers: workers, prefetch: prefetch)
        totalSteps = settings.epochs * sampler.stepsPerEpoch
        schedule = settings.schedule(totalSteps: totalSteps, stepsPerEpoch: sampler.stepsPerEpoch)
    }

    /// Running sums of one epoch; stored in checkpoints so an epoch interrupted midway reports the same means.
    private struct EpochTotals {
        var lossSum = 0.0, steps = 0.0, top1Hits = 0.0, images = 0.0, seconds = 0.0
        init() {}
        init(_ values: [Double]?) {
            guard let v = values, v.count == 5 else { return }
            (lossSum, steps, top1Hits, images, seconds) = (v[0], v[1], v[2], v[3], v[4])
        }
        var values: [Double] { [lossSum, steps, top1Hits, images, seconds] }
        var meanLoss: Double { lossSum / max(steps, 1) }
        var top1: Double { top1Hits / max(images, 1) }
    }

    /// Trains for `settings.epochs` (or until `haltAfterStep`, which simulates an interruption). With
    /// `resume`, continues from the run directory's checkpoint.
    @discardableResult
    public func run(resume: Bool = false, haltAfterStep: Int? = nil) throws -> ClassifierSummary {
        let (start, metrics) = try loop.begin(resume: resume, totalSteps: totalSteps, refusal: {
            Checkpoint.settingsRefusal($0, as: ClassifierSettings.self, current: settings) { $0.sameTrainingAs($1) }
        }, writeConfig: {
            try loop.writeConfig(totalSteps: totalSteps, stepsPerEpoch: sampler.stepsPerEpoch, scaledLR: schedule.baseLR,
                                 globalBatch: settings.batchSize,
                                 fields: ["classes": classCount, "train_count": trainImages.count, "test_count": testCount])
        }, openMetrics: {
            try MetricsLog(url: loop.metricsURL, rows: ClassifierMetricsRow.self, resumingAfterStep: $0,
                           tensorBoard: writesTensorBoard ? runDirectory.appendingPathComponent("tb") : nil)
        })
        var position = start
        let progress = ProgressReporter(total: totalSteps, logEvery: settings.logEvery, silent: !isLeader)
        defer { loader.shutdown() }

        var (epoch, inEpoch) = sampler.position(afterSteps: position.step)
        var totals = EpochTotals(position.epochTotals)
        var summary = ClassifierSummary(steps: position.step, epochs: epoch, stoppedEarly: false, test: nil,
                                        trainLoss: .nan, trainTop1: .nan)
        loader.start(epoch: epoch, step: inEpoch)
        while position.step < totalSteps {
            guard let batch = loader.next() else {
                epoch += 1
                loader.start(epoch: epoch, step: 0)
                continue
            }
            CollectiveDeadline.enterStep(position.step + 1)
            let t0 = DispatchTime.now().uptimeNanoseconds
            let lr = schedule.learningRate(atStep: position.step)
            let result = try step.run(images: batch.images, labels: batch.labels, learningRate: lr,
                                      localStop: StopSignal.received)
            epoch = batch.epoch
            guard result.loss.isFinite else { throw TrainingError.nonFiniteLoss(step: position.step + 1, loss: result.loss) }
            position.step += 1
            position.optimizerStepCount = optimizer.stepCount
            totals.lossSum += result.loss
            totals.steps += 1
            totals.top1Hits += Double(result.top1Hits)
            totals.images += Double(result.count)
            totals.seconds += Double(DispatchTime.now().uptimeNanoseconds - t0) * 1e-9 + batch.waitSeconds
            progress.update(step: position.step, fields: String(format: "epoch %d loss %.4f top1 %.3f", epoch + 1,
                                                                totals.meanLoss, totals.top1))
            let endOfEpoch = batch.step == sampler.stepsPerEpoch - 1
            if endOfEpoch {
                let test = try evaluate()
                let imagesPerSecond = totals.images / max(totals.seconds, 1e-9)
                var row = ClassifierMetricsRow()
                (row.epoch, row.step, row.trainLoss, row.trainTop1) = (epoch + 1, position.step, totals.meanLoss, totals.top1)
                (row.testLoss, row.testTop1, row.testTop5) = (test.loss, test.top1, test.top5)
                (row.learningRate, row.imagesPerSecond) = (Double(lr), imagesPerSecond)
                try metrics?.append(row)
                progress.finishLine()
                log(String(format: "epoch %d/%d  train loss %.4f top1 %.4f  test loss %.4f top1 %.4f top5 %.4f  %.1f img/s",
                           epoch + 1, settings.epochs, totals.meanLoss, totals.top1, test.loss, test.top1, test.top5,
                           imagesPerSecond))
                summary.test = test
                summary.trainLoss = totals.meanLoss
                summary.trainTop1 = totals.top1
                summary.epochs = epoch + 1
                totals = EpochTotals()
            }
            position.epochTotals = totals.values
            if try loop.endStep(position: position, checkpointDue: endOfEpoch, stopRequested: step.stopRequested,
                                haltAfterStep: haltAfterStep, metrics: metrics, progress: progress) {
                summary.stoppedEarly = true
                break
            }
        }
        summary.steps = position.step
        if !summary.stoppedEarly {
            if summary.test == nil { summary.test = try evaluate() }   // resumed after the last epoch's checkpoint
            try loop.finish(steps: position.step, metrics: metrics) { try writeResults(summary) }
        }
        return summary
    }

    /// Top-1, top-5 and mean cross-entropy on the test split in eval mode (BatchNorm running statistics, no
    /// augmentation): each rank scores its contiguous share and the sums are all-reduced, so every rank
    /// gets the whole split's figures. Leaves the model in eval mode.
    public func evaluate() throws -> ClassificationResult {
        var sums = [0.0, 0.0, 0.0]
        if testShard.count > 0 {
            let logits = FeatureExtractor(model: model, batchSize: settings.evalBatchSize)
                .features(of: testShard, throughHead: true)
            let ranks = SoftmaxCrossEntropy.ranks(logits: logits, labels: testShard.labels)
            sums = [SoftmaxCrossEntropy.loss(logits: logits, labels: testShard.labels, normalization: 1),
                    Double(SoftmaxCrossEntropy.hits(ranks, within: 1)),
                    Double(SoftmaxCrossEntropy.hits(ranks, within: min(5, classCount)))]
        }
        model.isTraining = false
        try dataParallel.communicator.allReduceSum(&sums)
        let n = Double(testCount)
        return ClassificationResult(top1: sums[1] / n, top5: sums[2] / n, loss: sums[0] / n)
    }

    private func writeResults(_ summary: ClassifierSummary) throws {
        let test = summary.test ?? ClassificationResult(top1: .nan, top5: .nan, loss: .nan)
        var results = RunResults()
        (results.method, results.encoder, results.data) = (settings.method.rawValue, settings.encoder ?? "random-init", loop.runInfo["data"])
        (results.testTop1, results.testTop5, results.testLoss) = (test.top1, test.top5, test.loss)
        (results.trainTop1, results.trainLoss) = (summary.trainTop1, summary.trainLoss)
        (results.labelFraction, results.epochs, results.steps) = (settings.labelFraction, settings.epochs, summary.steps)
        (results.trainCount, results.testCount, results.classes) = (trainImages.count, testCount, classCount)
        (results.ranks, results.width, results.stem) = (worldSize, settings.model.width, settings.model.stem.rawValue)
        (results.seed, results.batchSize, results.optimizer) = (settings.seed, settings.batchSize, settings.optimizer.rawValue)
        (results.lr, results.backboneLRScale) = (Double(schedule.baseLR), Double(settings.backboneLRScale))
        results.syncBatchNorm = dataParallel.syncBatchNorm
        results.arch = settings.model.arch.rawValue
        try EvaluationResults.write(results, to: resultsURL)
    }
}
