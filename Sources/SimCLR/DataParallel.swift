import Cluster
import Foundation
import Kernels
import NeuralNet

/// How to spread a run over MPI ranks (see `DataParallel`).
public struct DataParallelOptions {
    public var communicator: Communicator
    public var syncBatchNorm = true
    public var bucketBytes = 25 * 1024 * 1024
    public var overlap = true
    /// Check that all replicas hold bit-identical parameters every this many steps (also at every checkpoint).
    public var verifyReplicasEvery: Int?
    public var fault: DistributedFault?

    public init(communicator: Communicator) { self.communicator = communicator }
}

extension DataParallelOptions {
    /// The data-parallel machinery for `model`, after checking that every rank runs the same configuration
    /// (`configuration` hashed and compared with rank 0's). Rank 0's parameters and buffers are broadcast.
    public func makeDataParallel(model: ResNet18, configuration: String) throws -> DataParallel {
        _ = try ConfigurationCheck.verify(configuration + "\nworld=\(communicator.size)", communicator: communicator)
        let dp = try DataParallel(communicator: communicator, model: model, syncBatchNorm: syncBatchNorm,
                                  bucketBytes: bucketBytes, overlap: overlap)
        dp.fault = fault
        try dp.broadcastState(of: model)
        return dp
    }
}

/// Deliberate faults for tests that must show the distributed invariant can fail (hidden CLI flag).
public enum DistributedFault: String, CaseIterable {
    /// The gather's backward keeps this rank's partial gradient instead of summing over ranks.
    case localGatherGradient = "local-gather-gradient"
    /// Every rank takes anchors at rank 0's rows (positives and masks not offset by rank).
    case noRankOffset = "no-rank-offset"
    /// Classifier training: each rank takes the mean loss over its own images instead of normalizing by the
    /// global batch, so the summed gradient is W times too large.
    case localLossNormalization = "local-loss-normalization"
}

/// Everything that makes one training step data-parallel over MPI:
/// - SyncBN: every BatchNorm sums its statistics over all ranks (global batch statistics);
/// - the projection embeddings are all-gathered so InfoNCE sees the global batch; each rank computes the
///   loss rows of its own anchors, normalized by the global count, and the gather's backward sums the
///   embedding gradient over ranks;
/// - parameter gradients are summed over ranks in buckets that start during backward.
/// With SyncBN on, W ranks with per-rank batch b compute what one process computes with batch W*b.
public final class DataParallel {
    public let communicator: Communicator
    public let gather: EmbeddingGather
    public let reducer: GradientBucketReducer
    public let syncBatchNorm: Bool
    public var fault: DistributedFault?
    public var rank: Int { communicator.rank }
    public var size: Int { communicator.size }

    public init(communicator: Communicator, model: ResNet18, syncBatchNorm: Bool, bucketBytes: Int, overlap: Bool) throws {
        self.communicator = communicator
        self.syncBatchNorm = syncBatchNorm
        gather = EmbeddingGather(communicator: communicator)
        // The loss of each rank is already normalized by the global anchor count, so the parameter
        // gradient of the global loss is the SUM of the ranks' gradients (not their mean).
        reducer = try GradientBucketReducer(communicator: communicator, gradients: model.flatGradients,
                                            parameterRanges: model.parameters.map { $0.offset..<($0.offset + $0.count) },
                                            bucketBytes: bucketBytes, average: false, overlap: overlap)
        if syncBatchNorm && communicator.size > 1 {
            let reduce = SyncBatchNorm.statisticsReducer(communicator: communicator)
            for bn in model.batchNorms { bn.reducer = reduce }
        }
    }

    /// Makes every rank start from rank 0's parameters, buffers and BatchNorm counters.
    public func broadcastState(of model: ResNet18) throws {
        try communicator.broadcast(model.flatParameters)
        try communicator.broadcast(model.registry.flatBuffers)
        var counters = model.batchNorms.map(\.numBatchesTracked)
        try communicator.broadcast(&counters)
        for (bn, c) in zip(model.batchNorms, counters) { bn.numBatchesTracked = c }
    }

    /// Checks that every replica holds bit-identical parameters (no-op on one rank).
    public func verifyReplicas(of model: ResNet18) throws {
        guard size > 1 else { return }
        try ReplicaCheck.verify(model.flatParameters, communicator: communicator)
    }

    /// Global rows this rank computes the loss for.
    func anchors(localBatch b: Int) -> [Int] {
        if fault == .noRankOffset {
            let B = size * b
            return Array(0..<b) + Array(B..<(B + b))
        }
        return gather.ownedRows(localBatch: b)
    }
}
