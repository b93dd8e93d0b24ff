import Datasets
import Foundation
import Kernels
import NeuralNet
import TensorBoard

/// `results.json` of an evaluation run: a flat JSON object with sorted keys, written atomically.
public enum EvaluationResults {
    public static func write(_ values: [String: Any], to url: URL) throws {
        let data = try JSONSerialization.data(withJSONObject: values, options: [.prettyPrinted, .sortedKeys])
        try AtomicFile.write(data + Data("\n".utf8), to: url)
    }

    public static func read(_ url: URL) throws -> [String: Any] {
        let object = try JSONSerialization.jsonObject(with: Data(contentsOf: url))
        guard let dict = object as? [String: Any] else {
            throw CocoaError(.fileReadCorruptFile, userInfo: [NSFilePathErrorKey: url.path])
        }
        return dict
    }
}

/// Cached features of one split in a run directory: `features_<split>.npy` (float32 [N, D]),
/// `labels_<split>.npy` (int64 [N]) and `features_<split>.json` holding the key they were computed for,
/// so a rerun with the same encoder, data and subset reuses them and any change recomputes them.
public struct FeatureCache {
    public let directory: URL
    public let split: String

    public init(directory: URL, split: String) {
        self.directory = directory
        self.split = split
    }

    public var featuresURL: URL { directory.appendingPathComponent("features_\(split).npy") }
    public var labelsURL: URL { directory.appendingPathComponent("labels_\(split).npy") }
    public var keyURL: URL { directory.appendingPathComponent("features_\(split).json") }

    /// The cached (features, labels) when they were written for `key`; nil otherwise.
    public func load(key: String) -> (features: Tensor, labels: [Int])? {
        guard let meta = try? EvaluationResults.read(keyURL), meta["key"] as? String == key,
              let f = try? NumpyFile.read(from: featuresURL), f.shape.count == 2,
              let l = try? NumpyFile.readInt64s(from: labelsURL), l.shape == [f.shape[0]] else { return nil }
        return (Tensor(shape: f.shape, values: f.values), l.values.map { Int($0) })
    }

    public func store(features: Tensor, labels: [Int], key: String) throws {
        try FileManager.default.createDirectory(at: directory, withIntermediateDirectories: true)
        try NumpyFile.write(floats: features.array, shape: features.shape, to: featuresURL)
        try NumpyFile.write(int64s: labels.map { Int64($0) }, shape: [labels.count], to: labelsURL)
        try EvaluationResults.write(["key": key, "rows": labels.count, "dim": features.shape[1]], to: keyURL)
    }
}

/// `metrics.csv` of a linear probe: one row per epoch (and, with a `tensorBoard` directory, TensorBoard scalars
/// at step = epoch).
public final class ProbeMetricsLog {
    public static let columns = ["epoch", "train_loss", "train_top1", "test_top1", "test_top5", "test_loss", "lr"]
    public let url: URL
    private let handle: FileHandle
    private let events: EventFileWriter?

    public init(url: URL, tensorBoard: URL? = nil) throws {
        self.url = url
        events = try tensorBoard.map { try EventFileWriter(directory: $0, fresh: true) }
        try FileManager.default.createDirectory(at: url.deletingLastPathComponent(), withIntermediateDirectories: true)
        try Data((ProbeMetricsLog.columns.joined(separator: ",") + "\n").utf8).write(to: url)
        handle = try FileHandle(forWritingTo: url)
        try handle.seekToEnd()
    }

    deinit { try? handle.close() }

    public func append(_ stats: ProbeEpochStats, test: ClassificationResult) {
        let row = [String(stats.epoch), fmt(stats.trainLoss), fmt(stats.trainTop1), fmt(test.top1), fmt(test.top5),
                   fmt(test.loss), String(format: "%.6g", Double(stats.learningRate))]
        try? handle.write(contentsOf: Data((row.joined(separator: ",") + "\n").utf8))
        try? events?.add(scalars: TensorBoardScalars.of(row: row, columns: Self.columns, skipping: 0), step: stats.epoch)
    }

    private func fmt(_ v: Double) -> String { String(format: "%.6f", v) }
}
