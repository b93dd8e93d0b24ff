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

/// The ranks the launcher started on this host (1 without a launcher, or when it does not say).
var launchedRanksOnThisHost: Int {
    let env = ProcessInfo.processInfo.environment
    return (env["OMPI_COMM_WORLD_LOCAL_SIZE"] ?? env["MPI_LOCALNRANKS"] ?? env["SLURM_NTASKS_PER_NODE"]).flatMap { Int($0) } ?? 1
}

/// Refuses a run whose step cannot fit this machine's memory (`StepMemoryEstimate` per rank, times the ranks on
/// this host), before anything large is allocated; logs the estimate otherwise.
func checkStepMemory(_ estimate: StepMemoryEstimate, say: (String) -> Void) throws {
    guard let machine = MachineMemory.bytes else { return }
    let ranks = launchedRanksOnThisHost
    let (needed, overflow) = estimate.total.multipliedReportingOverflow(by: ranks)
    let each = ranks == 1 ? "" : "\(ranks) ranks on this host, each "
    guard !overflow, needed <= machine else {
        throw CommandError("this run needs about \(overflow ? "more than 9e9 GB" : StepMemoryEstimate.gigabytes(needed)) "
                           + "(\(each)\(estimate.breakdown)), this machine has \(StepMemoryEstimate.gigabytes(machine)): "
                           + "make its largest part smaller (--batch-size, --image-size, --width, --small-crops, --queue-size) or spread "
                           + "the batch over more hosts")
    }
    say("memory: about \(StepMemoryEstimate.gigabytes(estimate.total)) per rank (\(estimate.breakdown)); this machine has \(StepMemoryEstimate.gigabytes(machine))")
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
/// (otherwise the other ranks would wait forever in their next collective). An error every rank meets (other
/// data, a bad setting) is printed once, by rank 0 (`LauncherRank.deferToLeader`).
func runAbortingOnError(_ communicator: Communicator?, _ body: () throws -> Void) throws {
    do {
        try body()
    } catch {
        guard let communicator, communicator.size > 1 else { throw SettingFlags.renamed(error) }
        if communicator.rank != 0 { LauncherRank.pause() }
        communicator.abort(message: SettingFlags.message(error))
    }
}

/// This process's rank as the MPI launcher numbered it, read from the environment (MPI may not be initialized).
enum LauncherRank {
    static var current: Int? {
        guard launchedUnderMPI(), (launchedWorldSize ?? 2) > 1 else { return nil }
        let env = ProcessInfo.processInfo.environment
        return (env["OMPI_COMM_WORLD_RANK"] ?? env["PMIX_RANK"] ?? env["PMI_RANK"] ?? env["SLURM_PROCID"]).flatMap { Int($0) }
    }

    /// Seconds a rank other than 0 waits before reporting an error: long enough for rank 0, meeting the same
    /// error at the same point, to report it and end the job (mpirun and `srun --kill-on-bad-exit` then stop
    /// this rank before it prints); an error of this rank alone is printed after the pause.
    static let leaderHead: UInt32 = 3

    static func pause() { sleep(leaderHead) }

    /// On a rank other than 0, before printing an error with `exitCode`: waits for rank 0 to end the job first.
    /// Help and `--version` (exit code 0) are printed by rank 0 alone.
    static func deferToLeader(exitCode: Int32) {
        guard let rank = current, rank != 0 else { return }
        if exitCode == 0 { Foundation.exit(0) }
        pause()
    }
}

extension DistributedFault: ExpressibleByArgument {}
