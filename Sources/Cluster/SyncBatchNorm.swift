/// Global batch statistics for BatchNorm layers (SyncBN).
///
/// A BatchNorm layer sums its per-channel statistics (count, sum, sum of squares in forward; the two
/// gradient sums in backward) in a [Double] and hands it to the reducer, which sums it over all ranks.
/// Doubles keep the sums of large batches exact enough; one call per layer and pass is a small message.
///
/// The reducer runs on the compute thread, on the group given (the world), while the gradient reducer's
/// thread uses its own duplicate; this is allowed because MPI was initialized with MPI_THREAD_MULTIPLE and
/// the two threads never share a communicator.
public enum SyncBatchNorm {
    /// A closure that sums a [Double] over all ranks in place. An MPI failure aborts the job with the reason
    /// (the closure cannot throw, and a rank that silently skipped a collective would hang the others).
    /// With one rank it does nothing.
    public static func statisticsReducer(communicator: any ProcessGroup) -> (inout [Double]) -> Void {
        guard communicator.size > 1 else { return { _ in } }
        return { values in
            do { try communicator.allReduceSum(&values) } catch {
                communicator.abort(message: "SyncBatchNorm statistics: \(error)")
            }
        }
    }
}
