import Checkpoints

/// A checkpoint attachment held by every rank: rank 0 restores it from the checkpoint, then the ranks make it
/// identical. Apart from `CheckpointAttachment` so that the checkpoint file target needs no MPI (the fuzzers
/// build it alone).
public protocol ReplicatedCheckpointAttachment: CheckpointAttachment {
    /// Makes every rank hold rank 0's state (after rank 0 restored it).
    func broadcast(over dataParallel: DataParallel) throws
    /// Checks that every rank holds identical state.
    func verifyReplicas(over dataParallel: DataParallel) throws
}
