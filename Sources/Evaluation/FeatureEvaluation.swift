import Cluster
import Datasets
import Foundation
import RunFiles
import Runs

/// An evaluation on frozen features (`linear-eval`, `knn`): the features are computed in shards on every
/// rank (or read from the run directory's cache), then rank 0 alone runs the evaluation, which adds its
/// own entries to the results every feature evaluation reports, and results.json is written.
public struct FeatureEvaluation {
    /// results.json's `method`: "linear-eval" or "knn".
    public let method: String
    public let features: EvaluationFeatures

    public init(method: String, features: EvaluationFeatures) {
        self.method = method
        self.features = features
    }

    public var resultsURL: URL { features.runDirectory.appendingPathComponent("results.json") }

    /// The entries of every feature evaluation: the encoder and its shape, the data and the counts.
    public static func results(method: String, encoder: EncoderSource, data: String, labelFraction: Double,
                               features: EvaluationFeatureSet) -> RunResults {
        var results = RunResults()
        (results.method, results.encoder, results.randomInit) = (method, encoder.name, encoder.weights == nil)
        (results.labelFraction, results.trainCount, results.testCount) = (labelFraction, features.train.labels.count,
                                                                          features.test.labels.count)
        (results.classes, results.featureDim) = (features.classCount, features.train.features.shape[1])
        (results.stem, results.width, results.seed) = (encoder.stem.rawValue, encoder.width, encoder.seed)
        results.data = data
        results.arch = encoder.arch.rawValue
        return results
    }

    /// Collective. Computes the features, and on rank 0 runs `evaluate` and writes results.json; returns
    /// the file on rank 0, nil on the others.
    @discardableResult
    public func run(load: (DatasetSplit) throws -> LabeledImages,
                    evaluate: (EvaluationFeatureSet, inout RunResults) throws -> Void) throws -> URL? {
        try OutputDirectory.prepare(features.runDirectory)
        let lock = try Self.lock(features)
        defer { lock?.release() }
        guard let set = try features.compute(load: load) else { return nil }
        var results = Self.results(method: method, encoder: features.encoder, data: features.dataDescription,
                                   labelFraction: features.labelFraction, features: set)
        try evaluate(set, &results)
        try EvaluationResults.write(results, to: resultsURL)
        return resultsURL
    }

    /// One evaluation per directory (docs/run-files.md, 'run.lock'): rank 0 locks the run directory before the
    /// feature cache, metrics or results are written, so a second evaluation of the same `out` refuses, naming
    /// the holder; every rank learns whether it may go on. A rerun after the first ended replaces its
    /// results.json and reuses its feature cache (the point of the cache), so no `overwrite` is asked for.
    static func lock(_ features: EvaluationFeatures) throws -> RunDirectoryLock? {
        try RunDirectoryClaim.onLeader(of: features.group) {
            try RunDirectoryLock(directory: features.runDirectory, log: features.log)
        }
    }
}
