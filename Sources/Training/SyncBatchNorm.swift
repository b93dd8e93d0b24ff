import Cluster
import NeuralNet

/// Global batch statistics for BatchNorm layers (SyncBN): the reducer a layer hands its `BatchStatistics`
/// to (the two per-channel sums and the count, in forward and in backward), which sums them over all ranks in
/// one message per layer and pass.
///
/// The reducer runs on the compute thread, on the group given (the world), while the gradient reducer's
/// thread uses its own duplicate; this is allowed because MPI was initialized with MPI_THREAD_MULTIPLE and
/// the two threads never share a communicator.
public enum SyncBatchNorm {
    /// Sums the statistics over all ranks in place. An MPI failure aborts the job with the reason (the
    /// reducer cannot throw, and a rank that silently skipped a collective would hang the others).
    /// With one rank it does nothing.
    public static func statisticsReducer(communicator: any ProcessGroup) -> BatchStatisticsReducer {
        guard communicator.size > 1 else { return { _ in } }
        return { statistics in
            do { try communicator.allReduceSum(&statistics.values) } catch {
                communicator.abort(message: "SyncBatchNorm statistics: \(error)")
            }
        }
    }
}
