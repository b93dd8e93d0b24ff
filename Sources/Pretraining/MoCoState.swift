import Checkpoints
import Cluster
import Contrastive
import Foundation
import Kernels
import NeuralNet
import Training

/// What MoCo keeps besides the query encoder and its optimizer (docs/moco.md): the key encoder, a second
/// model of the same shape that never gets a gradient and follows the query encoder as a moving average of its
/// parameters, and the queue of negative keys. Saved in checkpoints under `moco.key_encoder.<name>` (its
/// parameters and BatchNorm buffers, torchvision keys), `moco.queue` and the metadata key `moco`.
public final class MoCoState {
    public let keyEncoder: ResNet
    public let queue: MoCoQueue
    public let momentum: Float
    /// 1 - m rounded from double precision (what PyTorch computes for `param_q * (1. - m)`).
    public let complement: Float

    static let keyPrefix = "moco.key_encoder."
    static let queueName = "moco.queue"
    static let metadataKey = "moco"

    /// A key encoder that is an exact copy of `queryEncoder` (parameters, buffers and BatchNorm counters, taken
    /// after rank 0's state was broadcast, so every rank starts from the same copy) and the queue drawn from
    /// `seed`. Its BatchNorm statistics are summed over `communicator`'s ranks (global-batch statistics).
    public init(queryEncoder: ResNet, settings: MoCoSettings, seed: UInt64, communicator: any ProcessGroup) {
        keyEncoder = ResNet(config: queryEncoder.config, seed: seed)
        keyEncoder.precision = queryEncoder.precision
        keyEncoder.flatParameters.copy(from: queryEncoder.flatParameters)
        keyEncoder.registry.flatBuffers.copy(from: queryEncoder.registry.flatBuffers)
        for (k, q) in zip(keyEncoder.batchNorms, queryEncoder.batchNorms) { k.numBatchesTracked = q.numBatchesTracked }
        let reduce = SyncBatchNorm.statisticsReducer(communicator: communicator)
        for bn in keyEncoder.batchNorms { bn.reducer = reduce }
        queue = MoCoQueue(size: settings.queueSize, dim: queryEncoder.config.outputDim, seed: seed)
        momentum = Float(settings.momentum)
        complement = Float(1 - settings.momentum)
    }

    /// k = m * k + (1 - m) * q over the parameters (not the buffers: the key encoder's BatchNorm running
    /// statistics come from its own forwards, as in MoCo).
    public func momentumUpdate(from queryEncoder: ResNet) {
        Elementwise.movingAverage(keyEncoder.flatParameters, toward: queryEncoder.flatParameters,
                                  momentum: momentum, complement: complement)
    }
}

extension MoCoState: ReplicatedCheckpointAttachment {
    private struct Metadata: Codable { var queuePointer: Int }

    public func checkpointEntries() -> [(String, SafetensorsEntry)] {
        keyEncoder.stateEntries().map { (Self.keyPrefix + $0.0, $0.1) }
            + [(Self.queueName, SafetensorsEntry(floats: queue.keys.array, shape: queue.keys.shape))]
    }

    public var checkpointNames: [String] { keyEncoder.stateEntries().map { Self.keyPrefix + $0.0 } + [Self.queueName] }

    public func checkpointMetadata() -> [String: String] {
        [Self.metadataKey: String(decoding: try! JSONEncoder().encode(Metadata(queuePointer: queue.pointer)), as: UTF8.self)]
    }

    public func refusal(tensors: [String: SafetensorsEntry], metadata: [String: String]) -> String? {
        guard let json = metadata[Self.metadataKey],
              let stored = try? JSONDecoder().decode(Metadata.self, from: Data(json.utf8)) else {
            return "MoCo's metadata (the queue pointer) is missing or does not decode"
        }
        guard let q = tensors[Self.queueName], q.dtype == .F32, q.shape == queue.keys.shape else {
            return "its MoCo queue is \(tensors[Self.queueName]?.shape ?? []), this run's is \(queue.keys.shape) (`moco.queueSize`, `model.headDims`)"
        }
        guard (0..<queue.size).contains(stored.queuePointer) else {
            return "its queue pointer \(stored.queuePointer) is outside the queue of \(queue.size) rows"
        }
        let key = keyEncoderTensors(tensors)
        // Validated on a scratch model so that a refused file changes nothing.
        let scratch = ResNet(config: keyEncoder.config, seed: 0)
        do { try scratch.load(tensors: key) } catch { return "its key encoder does not fit: \(error)" }
        return nil
    }

    public func restore(tensors: [String: SafetensorsEntry], metadata: [String: String]) {
        try! keyEncoder.load(tensors: keyEncoderTensors(tensors))  // `refusal` accepted these tensors
        queue.keys.copy(from: tensors[Self.queueName]!.floats())
        queue.pointer = try! JSONDecoder().decode(Metadata.self, from: Data(metadata[Self.metadataKey]!.utf8)).queuePointer
    }

    public func broadcast(over dataParallel: DataParallel) throws {
        try dataParallel.broadcastState(of: keyEncoder)
        try dataParallel.communicator.broadcast(queue.keys)
        queue.pointer = try dataParallel.communicator.broadcast(queue.pointer)
    }

    public func verifyReplicas(over dataParallel: DataParallel) throws {
        try dataParallel.verifyReplicas(of: keyEncoder)
        try ReplicaCheck.verify(queue.keys, communicator: dataParallel.communicator)
    }

    /// The key encoder's entries of a checkpoint under their model names.
    private func keyEncoderTensors(_ tensors: [String: SafetensorsEntry]) -> [String: SafetensorsEntry] {
        var key: [String: SafetensorsEntry] = [:]
        for (name, t) in tensors where name.hasPrefix(Self.keyPrefix) { key[String(name.dropFirst(Self.keyPrefix.count))] = t }
        return key
    }
}
