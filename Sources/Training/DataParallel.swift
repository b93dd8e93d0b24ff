import Cluster
import Datasets
import Foundation
import Kernels
import NeuralNet

/// How to spread a run over ranks (see `DataParallel`). The default group is `SingleProcess`, the world of
/// one of a process started without an MPI launcher.
public struct DataParallelOptions {
    public var communicator: any ProcessGroup
    public var syncBatchNorm = true
    public var bucketBytes = 25 * 1024 * 1024
    public var overlap = true
    /// Check that all replicas hold bit-identical parameters every this many steps (also at every checkpoint).
    public var verifyReplicasEvery: Int?
    /// Seconds a rank waits in one collective before it ends the job (nil: forever); see `CollectiveDeadline`.
    public var collectiveTimeout: Double?
    /// A known mistake to make on purpose (tests only, through the hidden `--testing-fault` flag).
    public var fault: DistributedFault?

    public init(communicator: any ProcessGroup = SingleProcess()) { self.communicator = communicator }

    /// The data-parallel machinery for `model`, after checking that every rank runs the same configuration
    /// (`configuration`, the data and every option that changes the distributed step, hashed and compared
    /// with rank 0's). Rank 0's parameters and buffers are broadcast.
    public func makeDataParallel(model: ResNet, configuration: String, dataset: DatasetIdentity) throws -> DataParallel {
        CollectiveDeadline.configure(seconds: communicator.size > 1 ? collectiveTimeout : nil)
        try ConfigurationCheck.verify(canonicalConfiguration(configuration, dataset: dataset), communicator: communicator)
        let dp = try DataParallel(communicator: communicator, model: model, syncBatchNorm: syncBatchNorm,
                                  bucketBytes: bucketBytes, overlap: overlap, sharding: fault?.sharding ?? GlobalBatchLoss())
        try dp.broadcastState(of: model)
        return dp
    }

    /// The text ranks compare: a rank with other data, or another SyncBN, bucket or overlap choice, would issue
    /// other collectives (or the same ones with other sizes) and hang or diverge instead of failing.
    func canonicalConfiguration(_ configuration: String, dataset: DatasetIdentity) -> String {
        configuration + "\n" + ConfigurationCheck.canonical([
            "world": String(communicator.size), "dataset": dataset.description, "sync_bn": String(syncBatchNorm),
            "bucket_bytes": String(bucketBytes), "overlap": String(overlap), "fault": fault?.rawValue ?? "none",
        ])
    }
}

/// Everything that makes one training step data-parallel (docs/distributed-step.md):
/// - SyncBN: every BatchNorm sums its statistics over all ranks (global batch statistics);
/// - the projection embeddings are all-gathered so InfoNCE sees the global batch; each rank computes the
///   loss rows of its own anchors, divided by the global count, and the gather's backward sums the
///   embedding gradient over ranks (`LossSharding` says which rows and what divisor);
/// - parameter gradients are summed over ranks in buckets that start during backward, as each parameter
///   reports its gradient final (docs/bucket-plan.md);
/// - the step's loss, metric counts and stop requests travel in one small sum (`StepTotals`).
/// With SyncBN on, W ranks with per-rank batch b compute what one process computes with batch W*b. A process
/// without MPI is a world of one (`DataParallel.singleProcess`), so the steps have one path.
public final class DataParallel {
    public let communicator: any ProcessGroup
    public let gather: EmbeddingGather
    public let reducer: GradientBucketReducer
    /// BatchNorm statistics are summed over the ranks (asked for, and more than one rank).
    public let syncBatchNorm: Bool
    public let sharding: LossSharding
    public var rank: Int { communicator.rank }
    public var size: Int { communicator.size }
    private var totalsBuffer = [Double](repeating: 0, count: StepTotals.fieldCount)

    /// Collective (the gradient reducer duplicates the group). With one rank there is nothing to overlap,
    /// so the reducer runs synchronously and has no thread.
    public init(communicator: any ProcessGroup, model: ResNet, syncBatchNorm: Bool, bucketBytes: Int, overlap: Bool,
                sharding: LossSharding = GlobalBatchLoss()) throws {
        self.communicator = communicator
        self.syncBatchNorm = syncBatchNorm && communicator.size > 1
        self.sharding = sharding
        gather = EmbeddingGather(communicator: communicator)
        // The loss of each rank is already divided by the global count, so the parameter gradient of the
        // global loss is the SUM of the ranks' gradients (not their mean).
        let reducer = try GradientBucketReducer(communicator: communicator, gradients: model.flatGradients,
                                                parameterRanges: model.parameters.map { $0.offset..<($0.offset + $0.count) },
                                                bucketBytes: bucketBytes, average: false,
                                                overlap: overlap && communicator.size > 1)
        self.reducer = reducer
        model.registry.setGradientReadyHook { p in reducer.gradientsReady(p.offset..<(p.offset + p.count)) }
        if self.syncBatchNorm {
            let reduce = SyncBatchNorm.statisticsReducer(communicator: communicator)
            for bn in model.batchNorms { bn.reducer = reduce }
        }
    }

    /// The world of one: no MPI, every collective the identity.
    public static func singleProcess(model: ResNet) -> DataParallel {
        // Cannot throw: no MPI call is made and a model's parameter ranges are valid.
        try! DataParallel(communicator: SingleProcess(), model: model, syncBatchNorm: false,
                          bucketBytes: GradientBucketPlan.defaultBucketBytes, overlap: false)
    }

    // MARK: one step, in the order a step calls them

    /// Before forward: no gradient bucket is ready yet.
    public func beginStep() { reducer.beginStep() }

    /// Global rows of the gathered embeddings whose InfoNCE terms this rank computes.
    public func anchors(localBatch b: Int) -> [Int] { sharding.contrastiveAnchors(gather: gather, localBatch: b) }

    /// This rank's [2b, D] embeddings -> the global [2B, D] in the single-process layout.
    public func gatherViews(_ local: Tensor, into global: Tensor) throws { try gather.gatherViews(local, into: global) }

    /// Backward of `gatherViews`: this rank's [2b, D] rows of the embedding gradient summed over ranks.
    public func gatherViewsBackward(_ global: Tensor, into local: Tensor) throws {
        try sharding.viewsBackward(gather: gather, global: global, into: local)
    }

    /// The divisor of a classifier rank's summed cross-entropy over its `localBatch` images.
    public func lossNormalization(localBatch b: Int) -> Int { sharding.classifierNormalization(localBatch: b, world: size) }

    /// After backward: waits until every gradient bucket is summed over the ranks.
    public func finishGradients() throws -> GradientReductionTiming { try reducer.finishStep() }

    /// Sums the step's totals over the ranks in one message.
    public func sum(_ totals: inout StepTotals) throws {
        totals.write(into: &totalsBuffer)
        try communicator.allReduceSum(&totalsBuffer)
        totals = StepTotals(totalsBuffer)
    }

    // MARK: between steps

    /// Makes every rank start from rank 0's parameters, buffers and BatchNorm counters.
    public func broadcastState(of model: ResNet) throws {
        try communicator.broadcast(model.flatParameters)
        try communicator.broadcast(model.registry.flatBuffers)
        var counters = model.batchNorms.map(\.numBatchesTracked)
        try communicator.broadcast(&counters)
        for (bn, c) in zip(model.batchNorms, counters) { bn.numBatchesTracked = c }
    }

    /// Checks that every replica holds bit-identical parameters (no-op on one rank).
    public func verifyReplicas(of model: ResNet) throws {
        guard size > 1 else { return }
        try ReplicaCheck.verify(model.flatParameters, communicator: communicator)
    }
}

/// The numbers every step adds up over the ranks, in one small all-reduce after the optimizer step. Each
/// rank fills in its own rows; the sums describe the global batch.
public struct StepTotals: Equatable, Sendable {
    /// This rank's share of the loss, already divided by the global count: the sum is the global loss.
    public var loss = 0.0
    /// Rows the loss covers: InfoNCE anchors, or classified images.
    public var rows = 0
    public var top1Hits = 0
    public var top5Hits = 0
    /// InfoNCE: the positive's rank summed over the anchors (1 = ranked first); 0 for classifiers.
    public var rankSum = 0
    /// Ranks that asked to stop after this step (Ctrl-C, SIGTERM): all ranks see the same count, so they
    /// stop together at the same step boundary.
    public var stopRequests = 0

    public init(loss: Double = 0, rows: Int = 0, top1Hits: Int = 0, top5Hits: Int = 0, rankSum: Int = 0,
                stopRequested: Bool = false) {
        self.loss = loss; self.rows = rows; self.top1Hits = top1Hits; self.top5Hits = top5Hits
        self.rankSum = rankSum; self.stopRequests = stopRequested ? 1 : 0
    }

    public var stopRequested: Bool { stopRequests > 0 }

    /// The wire format: six doubles (counts are exact in a double far beyond any batch).
    static let fieldCount = 6

    init(_ values: [Double]) {
        (loss, rows, top1Hits, top5Hits) = (values[0], Int(values[1]), Int(values[2]), Int(values[3]))
        (rankSum, stopRequests) = (Int(values[4]), Int(values[5]))
    }

    func write(into values: inout [Double]) {
        values[0] = loss; values[1] = Double(rows); values[2] = Double(top1Hits); values[3] = Double(top5Hits)
        values[4] = Double(rankSum); values[5] = Double(stopRequests)
    }
}

/// How the ranks share the loss of one global batch: which rows each rank's loss covers, what it is divided
/// by, and how the gradient of the gathered embeddings gets back to each rank. `GlobalBatchLoss` is the
/// correct way, the one training uses; each `DistributedFault` replaces one of these with a mistake known
/// from other implementations. The choice is made once, when `DataParallel` is built (as DDP's communication
/// hook replaces its all-reduce), so the step has no test branches.
public protocol LossSharding {
    /// Rows of the gathered [2B, D] embeddings whose InfoNCE terms this rank computes.
    func contrastiveAnchors(gather: EmbeddingGather, localBatch b: Int) -> [Int]
    /// Backward of the views gather: this rank's [2b, D] rows of the gradient summed over ranks.
    func viewsBackward(gather: EmbeddingGather, global: Tensor, into local: Tensor) throws
    /// The divisor of a rank's summed cross-entropy over its `localBatch` images.
    func classifierNormalization(localBatch b: Int, world: Int) -> Int
}

extension LossSharding {
    /// Rank r's own images: rows r*b..<(r+1)*b and B + r*b..<B + (r+1)*b.
    public func contrastiveAnchors(gather: EmbeddingGather, localBatch b: Int) -> [Int] { gather.ownedRows(localBatch: b) }

    /// The all-reduce of the gradient w.r.t. every gathered row, then this rank's rows.
    public func viewsBackward(gather: EmbeddingGather, global: Tensor, into local: Tensor) throws {
        try gather.viewsBackward(global, into: local)
    }

    /// The global batch: the ranks' losses and gradients add up to those of the single-process mean.
    public func classifierNormalization(localBatch b: Int, world: Int) -> Int { b * world }
}

/// The loss of the global batch, split by rows: see `LossSharding`'s default implementations.
public struct GlobalBatchLoss: LossSharding {
    public init() {}
}

/// Deliberate mistakes for tests that must show the distributed invariant can fail (hidden CLI flag).
public enum DistributedFault: String, CaseIterable {
    /// The gather's backward keeps this rank's partial gradient instead of summing over ranks.
    case localGatherGradient = "local-gather-gradient"
    /// Every rank takes anchors at rank 0's rows (positives and masks not offset by rank).
    case noRankOffset = "no-rank-offset"
    /// Classifier training: each rank takes the mean loss over its own images instead of normalizing by the
    /// global batch, so the summed gradient is W times too large.
    case localLossNormalization = "local-loss-normalization"
    /// MoCo: the key encoder's BatchNorm normalizes with each rank's own batch statistics (what shuffle-BN and
    /// SyncBN exist to avoid), so its keys and the queue differ from one process's.
    case localKeyBatchNorm = "local-key-batchnorm"

    public var sharding: LossSharding {
        switch self {
        case .localKeyBatchNorm: return GlobalBatchLoss()
        case .localGatherGradient: return LocalGatherGradient()
        case .noRankOffset: return NoRankOffset()
        case .localLossNormalization: return LocalLossNormalization()
        }
    }
}

/// `DistributedFault.localGatherGradient`: rows r*b..<(r+1)*b and B + r*b..<B + (r+1)*b of this rank's own
/// partial gradient, unsummed.
struct LocalGatherGradient: LossSharding {
    func viewsBackward(gather: EmbeddingGather, global: Tensor, into local: Tensor) throws {
        let (b, d) = (local.shape[0] / 2, local.shape[1])
        let B = gather.communicator.size * b, r = gather.communicator.rank
        for view in 0..<2 {
            local.view(offset: view * b * d, shape: [b * d]).copy(from: global.view(offset: (view * B + r * b) * d, shape: [b * d]))
        }
    }
}

/// `DistributedFault.noRankOffset`: rank 0's anchors on every rank.
struct NoRankOffset: LossSharding {
    func contrastiveAnchors(gather: EmbeddingGather, localBatch b: Int) -> [Int] {
        let B = gather.communicator.size * b
        return Array(0..<b) + Array(B..<(B + b))
    }
}

/// `DistributedFault.localLossNormalization`: each rank's own mean.
struct LocalLossNormalization: LossSharding {
    func classifierNormalization(localBatch b: Int, world: Int) -> Int { b }
}
