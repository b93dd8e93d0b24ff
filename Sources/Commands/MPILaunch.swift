import ArgumentParser
import Cluster
import Foundation
import Training

/// Whether this process was started by an MPI launcher (mpirun/mpiexec, srun, the MPI Operator's mpirun).
/// Without one the tool runs as a single process and does not initialize MPI at all.
func launchedUnderMPI() -> Bool {
    let env = ProcessInfo.processInfo.environment
    return ["OMPI_COMM_WORLD_SIZE", "PMIX_RANK", "PMI_RANK", "PMI_SIZE"].contains { env[$0] != nil }
}

/// The number of ranks the launcher started, read from its environment before MPI is initialized (nil
/// without a launcher).
var launchedWorldSize: Int? {
    let env = ProcessInfo.processInfo.environment
    return (env["OMPI_COMM_WORLD_SIZE"] ?? env["PMI_SIZE"] ?? env["SLURM_NTASKS"]).flatMap { Int($0) }
}

/// Refuses a global batch that does not split over the launched ranks, while parsing flags: every rank
/// exits with this message instead of failing inside an MPI_Abort later.
func checkBatchSplitsOverRanks(_ batchSize: Int) throws {
    guard launchedUnderMPI(), let world = launchedWorldSize, world > 1 else { return }
    guard batchSize % world == 0 else {
        throw ValidationError("--batch-size \(batchSize) (the global batch) does not split over the \(world) ranks; "
                              + "use a multiple of \(world)")
    }
}

/// Runs `body`; under MPI with several ranks, an error on one rank aborts the whole job with the message
/// (otherwise the other ranks would wait forever in their next collective).
func runAbortingOnError(_ communicator: Communicator?, _ body: () throws -> Void) throws {
    do {
        try body()
    } catch {
        guard let communicator, communicator.size > 1 else { throw error }
        communicator.abort(message: "\(error)")
    }
}

extension DistributedFault: ExpressibleByArgument {}
