import Checkpoints
import Kernels
import NeuralNet

/// State saved in checkpoints beside the model and optimizer that lives on every rank (MoCo's key encoder
/// and queue; the gradient reducer's compression state). Rank 0 writes and reads the file; these calls, made
/// on every rank, are where the ranks agree. Apart from `CheckpointAttachment` so that the checkpoint file
/// target needs no MPI (the fuzzers build it alone).
public protocol ReplicatedCheckpointAttachment: CheckpointAttachment {
    /// Collective, on every rank, before a checkpoint is written or read: state gathered from the ranks is
    /// collected here (and its names become known). Default: nothing.
    func prepare(over dataParallel: DataParallel) throws
    /// After rank 0 restored the attachment from a checkpoint: gives every rank what it must hold.
    func broadcast(over dataParallel: DataParallel) throws
    /// Checks that every rank holds identical state (state that differs between ranks by design checks nothing).
    func verifyReplicas(over dataParallel: DataParallel) throws
}

extension ReplicatedCheckpointAttachment {
    public func prepare(over dataParallel: DataParallel) throws {}
}

/// Named float32 tensors a component keeps on every rank, different on each, saved in checkpoints under
/// `prefix + name` (sorted by name): the shape of the gradient reducer's compression state (error feedback,
/// PowerSGD's Q). `collect` is collective and returns what a checkpoint holds (for error feedback, its sum over
/// the ranks); it runs before every checkpoint and once when resuming, to learn the names and shapes a file
/// must have. `restore` runs on every rank after rank 0 read the file: rank 0 receives the saved tensors, the
/// others an empty dictionary. A component with nothing to save returns no tensors, and checkpoints are as
/// they were without it.
public final class TensorStateAttachment: ReplicatedCheckpointAttachment {
    public typealias Collect = () throws -> [String: Tensor]
    public typealias Restore = (_ tensors: [String: Tensor], _ rank: Int) throws -> Void

    public let prefix: String
    private let collect: Collect
    private let restoreState: Restore
    private var collected: [(name: String, tensor: Tensor)] = []
    private var loaded: [String: Tensor] = [:]

    public init(prefix: String, collect: @escaping Collect, restore: @escaping Restore) {
        self.prefix = prefix
        self.collect = collect
        self.restoreState = restore
    }

    public func prepare(over dataParallel: DataParallel) throws {
        collected = try collect().map { (name: $0.key, tensor: $0.value) }.sorted { $0.name < $1.name }
    }

    public func checkpointEntries() -> [(String, SafetensorsEntry)] {
        collected.map { (prefix + $0.name, SafetensorsEntry(floats: $0.tensor.array, shape: $0.tensor.shape)) }
    }

    public var checkpointNames: [String] { collected.map { prefix + $0.name } }

    public func checkpointMetadata() -> [String: String] { [:] }

    public func refusal(tensors: [String: SafetensorsEntry], metadata: [String: String]) -> String? {
        for (name, tensor) in collected {
            guard let entry = tensors[prefix + name], entry.dtype == .F32, entry.shape == tensor.shape else {
                let found = tensors[prefix + name].map { "\($0.dtype) \($0.shape)" } ?? "missing"
                return "its \(prefix + name) is \(found), this run's is F32 \(tensor.shape)"
            }
        }
        return nil
    }

    public func restore(tensors: [String: SafetensorsEntry], metadata: [String: String]) {
        loaded = [:]
        for (name, tensor) in collected {
            loaded[name] = Tensor(shape: tensor.shape, values: tensors[prefix + name]!.floats())  // `refusal` checked them
        }
    }

    public func broadcast(over dataParallel: DataParallel) throws {
        try restoreState(dataParallel.rank == 0 ? loaded : [:], dataParallel.rank)
        loaded = [:]
    }

    public func verifyReplicas(over dataParallel: DataParallel) throws {}
}

/// Several attachments saved in one checkpoint, in order (their names must not overlap).
public final class CheckpointAttachments: ReplicatedCheckpointAttachment {
    public let parts: [ReplicatedCheckpointAttachment]

    public init(_ parts: [ReplicatedCheckpointAttachment]) { self.parts = parts }

    public func prepare(over dataParallel: DataParallel) throws { for p in parts { try p.prepare(over: dataParallel) } }
    public func checkpointEntries() -> [(String, SafetensorsEntry)] { parts.flatMap { $0.checkpointEntries() } }
    public var checkpointNames: [String] { parts.flatMap(\.checkpointNames) }

    public func checkpointMetadata() -> [String: String] {
        parts.reduce(into: [:]) { all, p in all.merge(p.checkpointMetadata()) { own, _ in own } }
    }

    public func refusal(tensors: [String: SafetensorsEntry], metadata: [String: String]) -> String? {
        parts.lazy.compactMap { $0.refusal(tensors: tensors, metadata: metadata) }.first
    }

    public func restore(tensors: [String: SafetensorsEntry], metadata: [String: String]) {
        for p in parts { p.restore(tensors: tensors, metadata: metadata) }
    }

    public func broadcast(over dataParallel: DataParallel) throws { for p in parts { try p.broadcast(over: dataParallel) } }
    public func verifyReplicas(over dataParallel: DataParallel) throws { for p in parts { try p.verifyReplicas(over: dataParallel) } }
}
