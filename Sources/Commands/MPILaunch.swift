import ArgumentParser
import Cluster
import Foundation
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

/// How a rank other than 0 reports an error every rank meets: after rank 0 (`MPILauncher.rank`).
enum LauncherRank {
    /// Seconds a rank other than 0 waits before reporting an error: long enough for rank 0, meeting the same
    /// error at the same point, to report it and end the job (mpirun and `srun --kill-on-bad-exit` then stop
    /// this rank before it prints); an error of this rank alone is printed after the pause.
    static let leaderHead: UInt32 = 3

    static func pause() { sleep(leaderHead) }

    /// On a rank other than 0, before printing an error with `exitCode`: waits for rank 0 to end the job first.
    /// Help and `--version` (exit code 0) are printed by rank 0 alone.
    static func deferToLeader(exitCode: Int32) {
        guard let rank = MPILauncher.rank, rank != 0 else { return }
        if exitCode == 0 { Foundation.exit(0) }
        pause()
    }
}

extension DistributedFault: ExpressibleByArgument {}
