import Cluster
import Kernels

/// How the ranks share the loss of one global batch: which rows each rank's loss covers, what it is divided
/// by, and whether the gradient of the gathered embeddings is summed over the ranks. `GlobalBatchLoss` is the
/// correct way, the one training uses; each `DistributedFault` replaces one of these with a mistake known from
/// other implementations. The choice is made once, when `DataParallel` is built (as DDP's communication hook
/// replaces its all-reduce), so the steps have no test branches. The answers are pure functions of the rank,
/// the world size and the local batch.
public protocol LossSharding {
    /// Rows of the gathered [2B, D] embeddings whose InfoNCE terms rank `rank` of `world` computes.
    func contrastiveAnchors(rank: Int, world: Int, localBatch b: Int) -> [Int]
    /// Whether the views gather's backward sums each gathered row's gradient over the ranks (true), or each
    /// rank keeps its own partial gradient of its own rows.
    var sumsGatheredGradient: Bool { get }
    /// The divisor of a rank's summed cross-entropy over its `localBatch` images.
    func classifierNormalization(localBatch b: Int, world: Int) -> Int
}

extension LossSharding {
    /// Rank r's own images: rows r*b..<(r+1)*b and B + r*b..<B + (r+1)*b.
    public func contrastiveAnchors(rank r: Int, world: Int, localBatch b: Int) -> [Int] {
        let B = world * b
        return Array(r * b..<(r + 1) * b) + Array(B + r * b..<B + (r + 1) * b)
    }

    public var sumsGatheredGradient: Bool { true }

    /// The global batch: the ranks' losses and gradients add up to those of the single-process mean.
    public func classifierNormalization(localBatch b: Int, world: Int) -> Int { b * world }
}

/// The loss of the global batch, split by rows: see `LossSharding`'s default implementations.
public struct GlobalBatchLoss: LossSharding {
    public init() {}
}

/// Deliberate mistakes for tests that must show the distributed invariant can fail (hidden CLI flag).
public enum DistributedFault: String, CaseIterable, Sendable {
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
    /// PowerSGD with per-worker error feedback (e_i <- N_i - A): the ranks feed the approximation's error back
    /// W times (docs/gradient-compression.md, note 'Rank-count independence').
    case powerSGDPerRankError = "powersgd-per-rank-error"
    /// PowerSGD whose Q is not summed over the ranks.
    case powerSGDPerRankQ = "powersgd-per-rank-q"

    /// The gradient reducer's fault, for the PowerSGD faults.
    public var powerSGDFault: PowerSGDFault? {
        switch self {
        case .powerSGDPerRankError: return .perRankErrorFeedback
        case .powerSGDPerRankQ: return .perRankQ
        default: return nil
        }
    }

    public var sharding: LossSharding {
        switch self {
        case .localKeyBatchNorm, .powerSGDPerRankError, .powerSGDPerRankQ: return GlobalBatchLoss()
        case .localGatherGradient: return LocalGatherGradient()
        case .noRankOffset: return NoRankOffset()
        case .localLossNormalization: return LocalLossNormalization()
        }
    }

    /// Whether a second encoder's BatchNorm (MoCo's key encoder) sums its statistics over the ranks.
    public var keyEncoderBatchNormIsGlobal: Bool { self != .localKeyBatchNorm }
}

/// `DistributedFault.localGatherGradient`: rows r*b..<(r+1)*b and B + r*b..<B + (r+1)*b of this rank's own
/// partial gradient, unsummed.
struct LocalGatherGradient: LossSharding {
    var sumsGatheredGradient: Bool { false }
}

/// `DistributedFault.noRankOffset`: rank 0's anchors on every rank.
struct NoRankOffset: LossSharding {
    func contrastiveAnchors(rank: Int, world: Int, localBatch b: Int) -> [Int] {
        let B = world * b
        return Array(0..<b) + Array(B..<(B + b))
    }
}

/// `DistributedFault.localLossNormalization`: each rank's own mean.
struct LocalLossNormalization: LossSharding {
    func classifierNormalization(localBatch b: Int, world: Int) -> Int { b }
}
