import ArgumentParser
import Cluster
import Runs
import Training

/// Refuses a run whose step cannot fit this machine's memory (per rank, times the ranks on this host) before
/// anything large is allocated; logs the estimate otherwise.
func checkStepMemory(_ estimate: StepMemoryEstimate, say: (String) -> Void) throws {
    if let line = try estimate.check(ranksOnThisHost: MPILauncher.ranksOnThisHost) { say(line) }
}

/// Refuses a global batch that does not split over the launched ranks, while parsing flags: every rank
/// exits with this message instead of failing inside an MPI_Abort later.
func checkBatchSplitsOverRanks(_ batchSize: Int) throws {
    guard MPILauncher.isPresent, let world = MPILauncher.worldSize, world > 1 else { return }
    guard batchSize % world == 0 else {
        throw ValidationError("--batch-size \(batchSize) (the global batch) does not split over the \(world) ranks; "
                              + "use a multiple of \(world)")
    }
}

extension DistributedFault: ExpressibleByArgument {}
