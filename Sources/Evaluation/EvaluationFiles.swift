import Datasets
import Foundation
import Kernels
import NeuralNet
import RunFiles

/// `results.json` of a run, written atomically (the keys are `RunResults`'), and read back as a plain JSON
/// object where a caller wants every key as stored.
public enum EvaluationResults {
    public static func write(_ results: RunResults, to url: URL) throws {
        try AtomicFile.write(try results.encoded(), to: url)
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

    /// `features_<split>.json`: what the features were computed for, and their shape.
    struct Key: Codable {
        var key: String
        var rows: Int
        var dim: Int
    }

    /// The cached (features, labels) when they were written for `key`; nil otherwise.
    public func load(key: String) -> (features: Tensor, labels: [Int])? {
        guard let meta = try? JSONDecoder().decode(Key.self, from: Data(contentsOf: keyURL)), meta.key == key,
              let f = try? NumpyFile.read(from: featuresURL), f.shape.count == 2,
              let l = try? NumpyFile.readInt64s(from: labelsURL), l.shape == [f.shape[0]] else { return nil }
        return (Tensor(shape: f.shape, values: f.values), l.values.map { Int($0) })
    }

    public func store(features: Tensor, labels: [Int], key: String) throws {
        try FileManager.default.createDirectory(at: directory, withIntermediateDirectories: true)
        try NumpyFile.write(floats: features.array, shape: features.shape, to: featuresURL)
        try NumpyFile.write(int64s: labels.map { Int64($0) }, shape: [labels.count], to: labelsURL)
        let encoder = JSONEncoder()
        encoder.outputFormatting = [.prettyPrinted, .sortedKeys]
        try AtomicFile.write(try encoder.encode(Key(key: key, rows: labels.count, dim: features.shape[1])) + Data("\n".utf8),
                             to: keyURL)
    }
}
