import Kernels

/// MoCo's dictionary of negatives: a FIFO ring of K unit key rows of dimension D and the row the next keys
/// are written to (docs/moco.md, note 'Queue'). Each step's global batch of B keys replaces the oldest B rows,
/// so K must be a multiple of B and the pointer moves by B, wrapping to 0.
public final class MoCoQueue {
    /// [K, D] unit rows.
    public let keys: Tensor
    /// Next row to be overwritten: a multiple of the batch, in 0..<K.
    public var pointer = 0
    public var size: Int { keys.shape[0] }
    public var dim: Int { keys.shape[1] }

    /// Standard normal rows from `seed` (SplitMix64, Box-Muller), each divided by its norm: the same queue on
    /// every rank and in every run with the seed, as MoCo starts from a normalized random queue.
    public init(size: Int, dim: Int, seed: UInt64) {
        precondition(size >= 1 && dim >= 1, "MoCo queue needs K >= 1 rows of D >= 1")
        var random = SplitMix64(.mocoQueue, seed: seed)  // apart from the weights' stream
        let raw = Tensor(shape: [size, dim], values: (0..<(size * dim)).map { _ in Float(random.nextNormal()) })
        keys = Tensor(shape: [size, dim])
        MoCoLoss.normalizeRows(raw, into: keys)
    }

    /// Writes the B rows of `batch` ([B, D], unit rows in global-batch order) at the pointer and advances it.
    public func enqueue(_ batch: Tensor) {
        let b = batch.shape[0]
        precondition(batch.shape == [b, dim] && size % b == 0, "enqueue: [B, \(dim)] with K = \(size) a multiple of B")
        (keys.address + pointer * dim).update(from: batch.address, count: b * dim)
        pointer = (pointer + b) % size
    }
}
