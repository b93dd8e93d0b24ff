import Datasets
import Foundation
import Kernels
import NeuralNet
import Optimizers

public enum CheckpointError: Error, CustomStringConvertible {
    case missing(String)
    case corrupt(String, reason: String)
    case incompatible(String, reason: String)

    public var description: String {
        switch self {
        case let .missing(path): return "no checkpoint at \(path)"
        case let .corrupt(path, reason): return "checkpoint \(path) is damaged: \(reason)"
        case let .incompatible(path, reason): return "checkpoint \(path) does not fit this run: \(reason)"
        }
    }
}

/// Where training stands: enough to continue exactly where it stopped.
public struct TrainingPosition: Codable, Equatable {
    /// Optimizer steps completed.
    public var step: Int
    public var optimizerStepCount: Int
    /// Running sums of the epoch in progress, for methods that report per-epoch means (nil: none).
    public var epochTotals: EpochTotals?

    public init(step: Int, optimizerStepCount: Int, epochTotals: EpochTotals? = nil) {
        self.step = step
        self.optimizerStepCount = optimizerStepCount
        self.epochTotals = epochTotals
    }
}

/// Running sums of one epoch's steps, kept in checkpoints so that an epoch interrupted midway reports the same
/// means. Stored as the JSON array `[lossSum, steps, top1Hits, images, seconds]`, the order declared once in
/// `order`; an array of another length (written by no loop of this version) reads as an epoch not yet begun.
public struct EpochTotals: Codable, Equatable, Sendable {
    /// Sum of the steps' (global) losses.
    public var lossSum = 0.0
    public var steps = 0.0
    public var top1Hits = 0.0
    /// Images (rows) the steps covered.
    public var images = 0.0
    /// Wall time of the steps, data waits included.
    public var seconds = 0.0

    public init() {}

    public var meanLoss: Double { lossSum / max(steps, 1) }
    public var top1: Double { top1Hits / max(images, 1) }
    public var isFinite: Bool { Self.order.allSatisfy { self[keyPath: $0].isFinite } }

    static let order: [WritableKeyPath<EpochTotals, Double>] = [\.lossSum, \.steps, \.top1Hits, \.images, \.seconds]

    public init(from decoder: Decoder) throws {
        let values = try decoder.singleValueContainer().decode([Double].self)
        guard values.allSatisfy(\.isFinite) else {
            throw DecodingError.dataCorrupted(.init(codingPath: decoder.codingPath, debugDescription: "non-finite epoch totals"))
        }
        guard values.count == Self.order.count else { return }
        for (path, value) in zip(Self.order, values) { self[keyPath: path] = value }
    }

    public func encode(to encoder: Encoder) throws {
        var container = encoder.singleValueContainer()
        try container.encode(Self.order.map { self[keyPath: $0] })
    }
}

/// What a run was trained on and with how many ranks, recorded in its checkpoints so `--resume` can refuse
/// other data and knows the rank count the run had.
public struct RunIdentity: Codable, Equatable, Sendable {
    public var worldSize: Int
    /// nil for a run whose caller did not say (tests on in-memory images).
    public var dataset: DatasetIdentity?
    /// The data-parallel settings as JSON when they are not the defaults (nil: the defaults, or a checkpoint
    /// written before they were recorded).
    public var dataParallel: String?

    public init(worldSize: Int, dataset: DatasetIdentity?, dataParallel: String? = nil) {
        self.worldSize = worldSize
        self.dataset = dataset
        self.dataParallel = dataParallel
    }
}

/// A checkpoint's header: where training stands, the settings JSON and the run's identity.
public struct CheckpointHeader: Equatable {
    public var position: TrainingPosition
    public var settingsJSON: String
    public var run: RunIdentity
}

/// A checkpoint is one safetensors file: the model under `model.<name>`, the optimizer state under
/// `optimizer.<name>`, a method's own state (`CheckpointAttachment`, e.g. MoCo's `moco.*`), and in the metadata
/// the format, the position, the settings, the run identity and a checksum of all of these and of every data byte. It is written atomically (temporary file, fsync,
/// rename, fsync of the directory), so the last good checkpoint survives a crash during
/// the write (docs/checkpoint-format.md).
public enum Checkpoint {
    /// Marks checkpoints whose checksum covers the header; older files are refused rather than trusted.
    static let format = "simclr-checkpoint-2"

    public static func save(to url: URL, model: ResNet, optimizer: Optimizer, position: TrainingPosition,
                            settingsJSON: String, run: RunIdentity, attachment: CheckpointAttachment? = nil) throws {
        var entries = model.stateEntries().map { ("model." + $0.0, $0.1) }
        for (name, t) in optimizer.stateTensors {
            entries.append(("optimizer." + name, SafetensorsEntry(floats: t.array, shape: t.shape)))
        }
        entries += attachment?.checkpointEntries() ?? []
        var metadata = [
            "format": format,
            "position": String(decoding: try JSONEncoder().encode(position), as: UTF8.self),
            "settings": settingsJSON,
            "run": String(decoding: try JSONEncoder().encode(run), as: UTF8.self),
        ]
        metadata.merge(attachment?.checkpointMetadata() ?? [:]) { own, _ in own }
        metadata["checksum"] = String(checksum(metadata: metadata, tensors: entries.map(\.1.data)), radix: 16)
        try AtomicFile.write(Safetensors.serialize(entries, metadata: metadata), to: url)
    }

    /// Restores model and optimizer; returns the header.
    public static func load(from url: URL, model: ResNet, optimizer: Optimizer,
                            attachment: CheckpointAttachment? = nil) throws -> CheckpointHeader {
        guard FileManager.default.fileExists(atPath: url.path) else { throw CheckpointError.missing(url.path) }
        let data: Data
        do { data = try Data(contentsOf: url) } catch {
            throw CheckpointError.corrupt(url.path, reason: "cannot read: \(error.localizedDescription)")
        }
        return try load(data, path: url.path, model: model, optimizer: optimizer, attachment: attachment)
    }

    /// `load(from:model:optimizer:)` on a checkpoint's bytes; `path` names them in errors. Nothing is changed
    /// unless every check passes.
    public static func load(_ data: Data, path: String, model: ResNet, optimizer: Optimizer,
                            attachment: CheckpointAttachment? = nil) throws -> CheckpointHeader {
        let file: (tensors: [String: SafetensorsEntry], metadata: [String: String])
        do { file = try Safetensors.parse(data) } catch {
            throw CheckpointError.corrupt(path, reason: "\(error)")
        }
        guard file.metadata["format"] == format else {
            throw CheckpointError.incompatible(path, reason: "written by an older version of the tool (format "
                                               + "\(file.metadata["format"] ?? "1"), its header not checksummed); start the run again")
        }
        guard let positionJSON = file.metadata["position"], let settings = file.metadata["settings"],
              let runJSON = file.metadata["run"], let stored = file.metadata["checksum"] else {
            throw CheckpointError.corrupt(path, reason: "metadata (position, settings, run, checksum) missing")
        }
        // The checksum covers the header and the data in the order `save` wrote it (model entries, then
        // optimizer state); the parsed header is a dictionary, so rebuild that order from this model and optimizer.
        var ordered = model.stateEntries().map { "model." + $0.0 }
        ordered += optimizer.stateTensors.map { "optimizer." + $0.name }
        ordered += attachment?.checkpointNames ?? []
        guard Set(ordered) == Set(file.tensors.keys) else {
            // Name one difference: a `moco.` name, present or missing, says the run's --method is not the file's.
            let unexpected = Set(file.tensors.keys).subtracting(ordered).sorted().first.map { ", e.g. the file has \($0)" }
            let missing = Set(ordered).subtracting(file.tensors.keys).sorted().first.map { ", e.g. the file lacks \($0)" }
            throw CheckpointError.incompatible(path, reason: "tensor names differ from this model and optimizer"
                                               + (unexpected ?? missing ?? ""))
        }
        var header = file.metadata
        header["checksum"] = nil
        let actual = String(checksum(metadata: header, tensors: ordered.map { file.tensors[$0]!.data }), radix: 16)
        guard actual == stored else {
            throw CheckpointError.corrupt(path, reason: "checksum \(actual) does not match the stored \(stored)")
        }
        guard let position = try? JSONDecoder().decode(TrainingPosition.self, from: Data(positionJSON.utf8)),
              let run = try? JSONDecoder().decode(RunIdentity.self, from: Data(runJSON.utf8)) else {
            throw CheckpointError.corrupt(path, reason: "position or run identity does not decode")
        }
        guard position.step >= 0, position.optimizerStepCount >= 0,
              position.epochTotals?.isFinite ?? true else {
            throw CheckpointError.corrupt(path, reason: "position \(positionJSON) has negative counts or non-finite totals")
        }
        // The optimizer state is checked before the model loads, so a refused file changes nothing.
        for (name, t) in optimizer.stateTensors {
            let e = file.tensors["optimizer." + name]!
            guard e.dtype == .F32, e.elementCount == t.count else {
                throw CheckpointError.incompatible(path, reason: "optimizer state \(name) holds \(e.elementCount) "
                                                   + "\(e.dtype) values, expected \(t.count) F32")
            }
            do { try SafetensorsEntry.checkFinite(e.floats(), tensor: "optimizer." + name) } catch {
                throw CheckpointError.incompatible(path, reason: "\(error)")
            }
        }
        if let why = attachment?.refusal(tensors: file.tensors, metadata: file.metadata) {
            throw CheckpointError.incompatible(path, reason: why)
        }
        var modelTensors: [String: SafetensorsEntry] = [:]
        for (k, v) in file.tensors where k.hasPrefix("model.") { modelTensors[String(k.dropFirst(6))] = v }
        do { try model.load(tensors: modelTensors) } catch {
            throw CheckpointError.incompatible(path, reason: "\(error)")
        }
        for (name, t) in optimizer.stateTensors { t.copy(from: file.tensors["optimizer." + name]!.floats()) }
        optimizer.stepCount = position.optimizerStepCount
        attachment?.restore(tensors: file.tensors, metadata: file.metadata)
        return CheckpointHeader(position: position, settingsJSON: settings, run: run)
    }

    /// FNV-1a 64 over the header (each key and value in key order, each followed by a zero byte) and then
    /// the tensors' bytes.
    static func checksum(metadata: [String: String], tensors: [Data]) -> UInt64 {
        var header = [UInt8]()
        for key in metadata.keys.sorted() {
            header += Array(key.utf8) + [0]
            header += Array(metadata[key]!.utf8) + [0]
        }
        return checksum([Data(header)] + tensors)
    }

    /// FNV-1a 64 over the concatenated bytes.
    static func checksum(_ parts: [Data]) -> UInt64 {
        var h = FNV1a64()
        for d in parts { d.withUnsafeBytes { h.combine(bytes: $0) } }
        return h.value
    }
}

/// State a training method keeps beside the model and optimizer (MoCo: the key encoder and the queue), saved in
/// the same checkpoint under its own names and metadata keys, all covered by the checksum.
public protocol CheckpointAttachment: AnyObject {
    /// Tensors under their checkpoint names, in a fixed order (the checksum's order).
    func checkpointEntries() -> [(String, SafetensorsEntry)]
    /// The names `checkpointEntries` writes, in the same order.
    var checkpointNames: [String] { get }
    /// Metadata entries beside the checkpoint's own (keys other than format, position, settings, run, checksum).
    func checkpointMetadata() -> [String: String]
    /// Why these tensors and metadata cannot be restored into this state (nil: they can); changes nothing.
    func refusal(tensors: [String: SafetensorsEntry], metadata: [String: String]) -> String?
    /// Restores what `refusal` accepted.
    func restore(tensors: [String: SafetensorsEntry], metadata: [String: String])
}
