import Foundation
import RunFiles
import Runs

/// `linear-eval`'s evaluation: trains the probe on the train features, scores it on the test features after
/// every epoch (a metrics.csv row each, and TensorBoard scalars when asked), and adds its results.json entries.
public struct LinearProbeEvaluation {
    public var config: LinearProbeConfig
    /// The base learning rate as given (results.json records it unrounded; the probe trains in Float).
    public var learningRate: Double
    public var runDirectory: URL
    public var tensorBoard: Bool

    public init(config: LinearProbeConfig, learningRate: Double, runDirectory: URL, tensorBoard: Bool) {
        self.config = config; self.learningRate = learningRate; self.runDirectory = runDirectory
        self.tensorBoard = tensorBoard
    }

    /// Trains and scores the probe; `log` gets progress, the returned line is the final result for the user.
    public func run(_ f: EvaluationFeatureSet, into results: inout RunResults, log: @escaping (String) -> Void) throws -> String {
        let (trainX, trainY) = f.train, (testX, testY) = f.test
        let epochs = config.epochs
        log("training probe: \(trainY.count) of \(f.trainTotal) train images, \(f.classCount) classes, "
            + "\(trainX.shape[1])-d, \(epochs) epochs, batch \(config.batchSize), \(config.optimizer.rawValue) lr \(learningRate)")
        let probe = LinearProbe(featureDim: trainX.shape[1], classCount: f.classCount, seed: config.seed)
        let metrics = try MetricsLog(url: runDirectory.appendingPathComponent("metrics.csv"), rows: ProbeMetricsRow.self,
                                     resumingAfterStep: nil,
                                     tensorBoard: tensorBoard ? runDirectory.appendingPathComponent("tb") : nil)
        var last = ClassificationResult(top1: 0, top5: 0, loss: 0)
        var lastTrain = ProbeEpochStats(epoch: 0, trainLoss: 0, trainTop1: 0, learningRate: 0)
        let start = Date()
        var writeError: Error?   // the epoch callback cannot throw: the first failed row is reported after training
        probe.train(features: trainX, labels: trainY, config: config) { stats in
            last = probe.evaluate(features: testX, labels: testY)
            lastTrain = stats
            var row = ProbeMetricsRow()
            (row.epoch, row.trainLoss, row.trainTop1, row.learningRate) = (stats.epoch, stats.trainLoss, stats.trainTop1,
                                                                          Double(stats.learningRate))
            (row.testTop1, row.testTop5, row.testLoss) = (last.top1, last.top5, last.loss)
            do { try metrics.append(row) } catch { writeError = writeError ?? error }
            if stats.epoch == 1 || stats.epoch == epochs || stats.epoch % max(1, epochs / 10) == 0 {
                log(String(format: "epoch %d/%d  train loss %.4f top1 %.4f  test top1 %.4f top5 %.4f",
                           stats.epoch, epochs, stats.trainLoss, stats.trainTop1, last.top1, last.top5))
            }
        }
        if let writeError { throw writeError }
        (results.testTop1, results.testTop5, results.testLoss) = (last.top1, last.top5, last.loss)
        (results.trainLoss, results.trainTop1) = (lastTrain.trainLoss, lastTrain.trainTop1)
        (results.epochs, results.batchSize, results.lr, results.optimizer) = (epochs, config.batchSize, learningRate,
                                                                              config.optimizer.rawValue)
        (results.standardize, results.probeSeconds) = (config.standardize, Date().timeIntervalSince(start))
        return String(format: "linear-eval: test top-1 %.4f, top-5 %.4f (%d train / %d test images, label fraction %g)",
                      last.top1, last.top5, trainY.count, testY.count, results.labelFraction ?? 1)
    }
}

extension LinearProbeConfig {
    /// Checks the probe's values; errors name the settings in backquotes.
    public func validate() throws {
        guard epochs >= 1 else { throw SettingsError("`epochs` must be at least 1") }
        guard batchSize >= 1 else { throw SettingsError("`batchSize` must be at least 1") }
        guard learningRate > 0 else { throw SettingsError("`learningRate` must be positive") }
        guard momentum >= 0, momentum < 1 else { throw SettingsError("`momentum` must lie in [0, 1)") }
        guard weightDecay >= 0 else { throw SettingsError("`weightDecay` must be >= 0") }
    }
}
