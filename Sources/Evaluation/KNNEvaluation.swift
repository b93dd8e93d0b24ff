import Foundation
import RunFiles
import Runs

/// `knn`'s evaluation: the weighted kNN vote of the test features among the train features, and its
/// results.json entries.
public struct KNNEvaluation {
    /// Neighbours asked for (capped at the number of training images).
    public var k: Int
    public var temperature: Double

    public init(k: Int = 200, temperature: Double = 0.1) {
        self.k = k
        self.temperature = temperature
    }

    /// Checks the values; errors name the settings in backquotes.
    public func validate() throws {
        guard k >= 1 else { throw SettingsError("`k` must be at least 1") }
        guard temperature > 0, temperature.isFinite else { throw SettingsError("`temperature` must be positive") }
    }

    /// Classifies the test features; `log` gets notes, the returned line is the final result for the user.
    public func run(_ f: EvaluationFeatureSet, into results: inout RunResults, log: (String) -> Void) -> String {
        let (trainX, trainY) = f.train, (testX, testY) = f.test
        let start = Date()
        let knn = KNNClassifier(trainFeatures: trainX, trainLabels: trainY, classCount: f.classCount,
                                k: k, temperature: Float(temperature))
        let result = knn.evaluate(features: testX, labels: testY)
        if knn.k < k { log("k capped at \(knn.k), the number of training images") }
        (results.testTop1, results.testTop5, results.k, results.kRequested) = (result.top1, result.top5, knn.k, k)
        (results.temperature, results.knnSeconds) = (temperature, Date().timeIntervalSince(start))
        return String(format: "knn (k %d, T %g): test top-1 %.4f, top-5 %.4f (%d train / %d test images)",
                      knn.k, temperature, result.top1, result.top5, trainY.count, testY.count)
    }
}
