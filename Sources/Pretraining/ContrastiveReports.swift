import Cluster
import Contrastive
import Evaluation
import Foundation
import NeuralNet
import RunFiles
import Training

/// Contrastive pretraining as the engine runs it (`TrainingMethod`): the step's math (SimCLR's
/// `ContrastiveStep`, with or without multi-crop, or MoCo's `MoCoStep`) and what every contrastive method
/// reports: a metrics.csv row per step (loss, contrastive top-1/top-5 and mean rank of the positive, learning
/// rate, throughput, data wait; on rank 0 the kNN monitor's top-1 every `knnMonitor.every` steps) and
/// results.json from the last epoch's rows. A new contrastive method is a math file and a settings type.
public final class ContrastivePretraining: TrainingMethod {
    public let step: PretrainingStep
    public let settings: PretrainSettings
    /// MoCo's key encoder and queue, saved in checkpoints (nil for SimCLR).
    public let moco: MoCoState?
    public let knnMonitor: KNNMonitor?
    /// Where the temperature came from, for config.json (set when the tool chose MoCo v2's default).
    public var temperatureNote: String?
    /// The loss of the last step (or, for a finished run started again, of metrics.csv's last row).
    public private(set) var lastLoss = Double.nan
    private var lastKNN: ClassificationResult?
    private let metricsURL: URL

    public init(step: PretrainingStep, settings: PretrainSettings, moco: MoCoState?, knnMonitor: KNNMonitor?, metricsURL: URL) {
        self.step = step; self.settings = settings; self.moco = moco; self.knnMonitor = knnMonitor
        self.metricsURL = metricsURL
    }

    public var math: StepMath { step }
    public var metricsRows: any MetricsRow.Type { PretrainMetricsRow.self }
    public var checkpointAttachment: ReplicatedCheckpointAttachment? { moco }

    public func record(_ report: StepReport) throws -> StepRecord {
        let t = report.totals
        let m = ContrastiveMetrics(anchors: t.rows, top1Hits: t.top1Hits, top5Hits: t.top5Hits, rankSum: t.rankSum)
        lastLoss = t.loss
        let imagesPerSecond = Double(report.images) / report.seconds
        var row = PretrainMetricsRow()
        (row.step, row.epoch, row.loss) = (report.step, report.epoch, t.loss)
        (row.top1, row.top5, row.meanRank) = (m.top1Accuracy, m.top5Accuracy, m.meanRank)
        (row.learningRate, row.imagesPerSecond, row.dataWaitSeconds) = (Double(report.learningRate), imagesPerSecond,
                                                                        report.dataWaitSeconds)
        var log: [String] = []
        if report.isLeader, let monitor = knnMonitor, report.step % monitor.every == 0 || report.step == report.totalSteps {
            CollectiveDeadline.expectSlowNextStep()   // only rank 0 evaluates
            let knn = monitor.evaluate(step.model)
            lastKNN = knn
            row.knnTop1 = knn.top1
            log.append("step \(report.step): kNN top-1 \(String(format: "%.5f", knn.top1)) (k=\(monitor.k), "
                       + "\(monitor.train.count) labelled / \(monitor.test.count) test images)")
        }
        let progress = String(format: "epoch %d loss %.4f top1 %.3f top5 %.3f %.1f img/s", report.epoch, t.loss,
                              m.top1Accuracy, m.top5Accuracy, imagesPerSecond)
        return StepRecord(row: row, progress: progress, log: log)
    }

    /// What config.json says beyond the settings: for MoCo the method, and where the temperature came from.
    public var configFields: [String: Any] {
        guard settings.method == .moco else { return [:] }
        var fields: [String: Any] = ["method": settings.method.rawValue, "key_encoder_batchnorm": "global batch (SyncBN)"]
        if let temperatureNote { fields["temperature_source"] = temperatureNote }
        return fields
    }

    /// `results.json`: the last epoch's contrastive metrics and, when the kNN monitor ran, its final
    /// accuracy as `test_top1`/`test_top5` (marked by `test_evaluation`: "knn").
    public func results(steps: Int, isLeader: Bool) throws -> RunResults? {
        guard isLeader else { return nil }
        // Resumed from the last step's checkpoint (a finished run started again): no step ran here, so the
        // final loss is the one metrics.csv holds.
        if !lastLoss.isFinite, let logged = PretrainMetricsSummary.lastLoss(csv: metricsURL) { lastLoss = logged }
        var results = RunResults()
        results.method = settings.method == .moco ? "moco-pretrain" : "simclr-pretrain"
        (results.steps, results.finalLoss, results.epochs, results.ranks) = (steps, lastLoss, settings.epochs,
                                                                             step.dataParallel.size)
        (results.batchSize, results.width, results.stem) = (settings.batchSize, settings.model.width, settings.model.stem.rawValue)
        (results.temperature, results.seed) = (Double(settings.temperature), settings.seed)
        results.arch = settings.model.arch.rawValue
        let summary = try PretrainMetricsSummary(csv: metricsURL)
        (results.contrastiveLoss, results.contrastiveTop1, results.contrastiveTop5) = (summary.loss, summary.top1, summary.top5)
        if let knn = lastKNN, let monitor = knnMonitor {
            (results.testTop1, results.testTop5, results.testEvaluation) = (knn.top1, knn.top5, "knn")
            (results.knnK, results.knnTrainCount, results.testCount) = (monitor.k, monitor.train.count, monitor.test.count)
        }
        return results
    }
}
