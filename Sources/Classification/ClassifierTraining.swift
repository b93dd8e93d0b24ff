import Cluster
import Datasets
import Evaluation
import Foundation
import NeuralNet
import RunFiles
import Training

/// The classifiers as the engine runs them (`TrainingMethod`): `ClassifierStep`'s math, and a metrics.csv
/// row per epoch with the epoch's mean training loss and top-1 and the test split's figures, evaluated after
/// every epoch on every rank (each scores its share and the sums are all-reduced).
public final class ClassifierTraining: TrainingMethod {
    public let step: ClassifierStep
    public let settings: ClassifierSettings
    public let classCount: Int
    /// The labelled training images used (the label-fraction subset), and the test split's size.
    public let trainCount: Int, testCount: Int
    /// The test result and training means of the last completed epoch (nil before the first).
    public private(set) var test: ClassificationResult?
    public private(set) var trainLoss = Double.nan, trainTop1 = Double.nan
    private let testShard: LabeledImages
    private let runInfo: [String: String]

    public init(step: ClassifierStep, settings: ClassifierSettings, classCount: Int, trainCount: Int, test: LabeledImages,
                runInfo: [String: String]) {
        self.step = step; self.settings = settings; self.classCount = classCount; self.trainCount = trainCount
        self.runInfo = runInfo
        let (rank, world) = (step.tail.dataParallel.rank, step.tail.dataParallel.size)
        testCount = test.count
        testShard = test.subset(Array((test.count * rank / world)..<(test.count * (rank + 1) / world)))
    }

    public var math: StepMath { step }
    public var metricsRows: any MetricsRow.Type { ClassifierMetricsRow.self }
    public var reportsEpochMeans: Bool { true }
    public var configFields: [String: Any] { ["classes": classCount, "train_count": trainCount, "test_count": testCount] }

    public func record(_ report: StepReport) throws -> StepRecord {
        let epoch = report.epochTotals
        let progress = String(format: "epoch %d loss %.4f top1 %.3f", report.epoch + 1, epoch.meanLoss, epoch.top1)
        guard report.endOfEpoch else { return StepRecord(progress: progress) }
        let test = try evaluate()
        let imagesPerSecond = epoch.images / max(epoch.seconds, 1e-9)
        var row = ClassifierMetricsRow()
        (row.epoch, row.step, row.trainLoss, row.trainTop1) = (report.epoch + 1, report.step, epoch.meanLoss, epoch.top1)
        (row.testLoss, row.testTop1, row.testTop5) = (test.loss, test.top1, test.top5)
        (row.learningRate, row.imagesPerSecond) = (Double(report.learningRate), imagesPerSecond)
        (self.test, trainLoss, trainTop1) = (test, epoch.meanLoss, epoch.top1)
        let line = String(format: "epoch %d/%d  train loss %.4f top1 %.4f  test loss %.4f top1 %.4f top5 %.4f  %.1f img/s",
                          report.epoch + 1, settings.epochs, epoch.meanLoss, epoch.top1, test.loss, test.top1, test.top5,
                          imagesPerSecond)
        return StepRecord(row: row, progress: progress, log: [line])
    }

    /// Top-1, top-5 and mean cross-entropy on the test split in eval mode (BatchNorm running statistics, no
    /// augmentation): each rank scores its contiguous share and the sums are all-reduced, so every rank gets
    /// the whole split's figures. Collective. Leaves the model in eval mode.
    public func evaluate() throws -> ClassificationResult {
        var sums = TestSums()
        if testShard.count > 0 {
            let logits = FeatureExtractor(model: step.model, batchSize: settings.evalBatchSize)
                .features(of: testShard, throughHead: true)
            let ranks = SoftmaxCrossEntropy.ranks(logits: logits, labels: testShard.labels)
            sums.loss = SoftmaxCrossEntropy.loss(logits: logits, labels: testShard.labels, normalization: 1)
            sums.top1Hits = Double(SoftmaxCrossEntropy.hits(ranks, within: 1))
            sums.top5Hits = Double(SoftmaxCrossEntropy.hits(ranks, within: min(5, classCount)))
        }
        step.model.isTraining = false
        try sums.sum(over: step.tail.dataParallel.communicator)
        let n = Double(testCount)
        return ClassificationResult(top1: sums.top1Hits / n, top5: sums.top5Hits / n, loss: sums.loss / n)
    }

    /// results.json; a run resumed after its last epoch's checkpoint evaluates the test split first.
    public func results(steps: Int, isLeader: Bool) throws -> RunResults? {
        if test == nil { test = try evaluate() }
        guard isLeader, let test else { return nil }
        let dataParallel = step.tail.dataParallel
        var results = RunResults()
        (results.method, results.encoder, results.data) = (settings.method.rawValue, settings.encoder ?? "random-init", runInfo["data"])
        (results.testTop1, results.testTop5, results.testLoss) = (test.top1, test.top5, test.loss)
        (results.trainTop1, results.trainLoss) = (trainTop1, trainLoss)
        (results.labelFraction, results.epochs, results.steps) = (settings.labelFraction, settings.epochs, steps)
        (results.trainCount, results.testCount, results.classes) = (trainCount, testCount, classCount)
        (results.ranks, results.width, results.stem) = (dataParallel.size, settings.model.width, settings.model.stem.rawValue)
        (results.seed, results.batchSize, results.optimizer) = (settings.seed, settings.batchSize, settings.optimizer.rawValue)
        (results.lr, results.backboneLRScale) = (Double(settings.scaledLearningRate), Double(settings.backboneLRScale))
        results.syncBatchNorm = dataParallel.syncBatchNorm
        results.arch = settings.model.arch.rawValue
        return results
    }
}

/// A test split's cross-entropy and hit counts, summed over a shard and then over the ranks in one message
/// (the order of `fields` is the message's).
struct TestSums {
    var loss = 0.0, top1Hits = 0.0, top5Hits = 0.0
    static let fields: [WritableKeyPath<TestSums, Double>] = [\.loss, \.top1Hits, \.top5Hits]

    mutating func sum(over group: any ProcessGroup) throws {
        var values = Self.fields.map { self[keyPath: $0] }
        try group.allReduceSum(&values)
        for (field, value) in zip(Self.fields, values) { self[keyPath: field] = value }
    }
}
