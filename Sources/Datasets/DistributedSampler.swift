import Kernels

/// Which samples each rank reads at each step, with PyTorch `DistributedSampler` semantics at batch level.
///
/// Per epoch there is one order of the N dataset indices: a permutation that is a function of
/// (seed, epoch) only, or 0..<N when `shuffle` is off. With world size W and per-rank batch b, the global
/// batch is B = W * b and
///
///     global batch k       = order[k*B ..< (k+1)*B]
///     rank r's batch at k  = order[k*B + r*b ..< k*B + (r+1)*b]     (the contiguous slice r of batch k)
///
/// so concatenating the W ranks' batches of step k in rank order gives exactly the 1-rank batch k of size B.
/// PyTorch assigns positions strided (rank r takes r, r+W, ...); the contiguous convention differs only in
/// which rank gets which sample: the set of samples of every step, and the shards' disjointness and
/// coverage, are the same.
///
/// The tail (N not a multiple of B): `.drop` drops it (every step full, like `drop_last`), `.pad` repeats
/// the order from its start up to whole global batches (PyTorch pads the same way, to a multiple of W),
/// `.partial` keeps one short last global batch, split over the ranks as evenly as possible (evaluation
/// with one rank; with several, the ranks' last batches can differ by one sample).
public struct DistributedSampler: Equatable, Sendable {
    public enum Remainder: String, Sendable { case drop, pad, partial }

    public let datasetCount: Int
    public let worldSize: Int
    public let rank: Int
    /// Per-rank batch size b.
    public let batchSize: Int
    public let shuffle: Bool
    public let seed: UInt64
    public let remainder: Remainder

    public init(datasetCount: Int, worldSize: Int = 1, rank: Int = 0, batchSize: Int, shuffle: Bool = true,
                seed: UInt64 = 0, remainder: Remainder = .drop) throws {
        guard worldSize >= 1, (0..<worldSize).contains(rank) else {
            throw DatasetError.invalidConfiguration("rank \(rank) of world size \(worldSize)")
        }
        guard batchSize >= 1 else { throw DatasetError.invalidConfiguration("batch size \(batchSize)") }
        guard datasetCount >= 1 else { throw DatasetError.invalidConfiguration("an empty dataset") }
        if remainder == .drop && datasetCount < worldSize * batchSize {
            throw DatasetError.invalidConfiguration(
                "\(datasetCount) samples do not fill one global batch of \(worldSize) x \(batchSize)")
        }
        self.datasetCount = datasetCount
        self.worldSize = worldSize
        self.rank = rank
        self.batchSize = batchSize
        self.shuffle = shuffle
        self.seed = seed
        self.remainder = remainder
    }

    /// The same sampler for another rank.
    public func forRank(_ r: Int) throws -> DistributedSampler {
        try DistributedSampler(datasetCount: datasetCount, worldSize: worldSize, rank: r, batchSize: batchSize,
                               shuffle: shuffle, seed: seed, remainder: remainder)
    }

    public var globalBatchSize: Int { worldSize * batchSize }

    public var stepsPerEpoch: Int {
        remainder == .drop ? datasetCount / globalBatchSize
            : (datasetCount + globalBatchSize - 1) / globalBatchSize
    }

    /// The epoch's order of dataset indices before padding or dropping (same on every rank).
    public func order(epoch: Int) -> [Int] {
        guard shuffle else { return Array(0..<datasetCount) }
        var rng = RandomStream(.sampler, seed: seed, key: epoch)
        return rng.permutation(datasetCount)
    }

    /// The epoch's plan; compute it once per epoch and take its batches.
    public func plan(epoch: Int) -> EpochPlan {
        EpochPlan(sampler: self, epoch: epoch, order: order(epoch: epoch))
    }

    /// This rank's batch at (epoch, step). Computes the epoch order; use `plan(epoch:)` for many steps.
    public func batch(epoch: Int, step: Int) -> [Int] { plan(epoch: epoch).batch(step: step) }

    /// Where a run that has done `globalStep` steps in all resumes: (epoch, step within the epoch).
    public func position(afterSteps globalStep: Int) -> (epoch: Int, step: Int) {
        (globalStep / stepsPerEpoch, globalStep % stepsPerEpoch)
    }
}

/// One epoch of a `DistributedSampler`: its order and the batches cut from it.
public struct EpochPlan: Sendable {
    public let sampler: DistributedSampler
    public let epoch: Int
    public let order: [Int]

    public var steps: Int { sampler.stepsPerEpoch }

    /// Index into the padded order (wrapping to its start, as many times as needed).
    private func element(_ position: Int) -> Int { order[position % order.count] }

    /// Global batch `step`: every rank's batch of that step, concatenated in rank order.
    public func globalBatch(step: Int) -> [Int] {
        precondition(step >= 0 && step < steps, "step \(step) outside 0..<\(steps)")
        let B = sampler.globalBatchSize
        let size = sampler.remainder == .partial ? min(B, order.count - step * B) : B
        return (step * B ..< step * B + size).map(element)
    }

    /// Rank `rank`'s batch at `step` (this sampler's rank by default): slice `rank` of the global batch.
    public func batch(step: Int, rank: Int? = nil) -> [Int] {
        let r = rank ?? sampler.rank
        let global = globalBatch(step: step)
        let W = sampler.worldSize
        if global.count == sampler.globalBatchSize {
            return Array(global[r * sampler.batchSize ..< (r + 1) * sampler.batchSize])
        }
        // Short last batch (`.partial`): slices as even as possible, still contiguous and in rank order.
        return Array(global[global.count * r / W ..< global.count * (r + 1) / W])
    }

    /// Every index this rank reads in the epoch, from `step` on, in order.
    public func rankIndices(from step: Int = 0) -> [Int] {
        (step..<steps).flatMap { batch(step: $0) }
    }
}
