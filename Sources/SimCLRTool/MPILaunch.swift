import Cluster
import Foundation
import SimCLR
import ArgumentParser

/// Whether this process was started by an MPI launcher (mpirun/mpiexec, srun, the MPI Operator's mpirun).
/// Without one the tool runs as a single process and does not initialize MPI at all.
func launchedUnderMPI() -> Bool {
    let env = ProcessInfo.processInfo.environment
    return ["OMPI_COMM_WORLD_SIZE", "PMIX_RANK", "PMI_RANK", "PMI_SIZE"].contains { env[$0] != nil }
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
