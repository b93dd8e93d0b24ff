import Cluster
import NeuralNet

/// Global batch statistics for BatchNorm layers (SyncBN): the reducer a layer hands its `BatchStatistics`
/// to (the two per-channel sums and the count, in forward and in backward), which sums them over all ranks in
/// one message per layer and pass. The adapter lives here, where the network (NeuralNet) meets the ranks
/// (Cluster), so neither of the two knows the other.
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

    /// Makes every BatchNorm of `model` normalize with statistics summed over `communicator`'s ranks.
    public static func sumStatistics(of model: ResNet, over communicator: any ProcessGroup) {
        let reduce = statisticsReducer(communicator: communicator)
        for bn in model.batchNorms { bn.reducer = reduce }
    }
}
