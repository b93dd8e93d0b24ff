import Cluster
import Foundation

/// How a training or evaluation command runs: MPI is initialized only under a launcher (and finalized after);
/// under MPI an error on one rank aborts the job with its message, and an error every rank meets at the same
/// point (a divergence) is printed by rank 0 and ends every rank with its status; without MPI a training error
/// (divergence, bad settings) is printed and ends with status 2 (3 for a divergence). A run that stopped early
/// (checkpoint written) ends with its outcome's exit status: not a success after Ctrl-C or SIGTERM, so
/// `pretrain && linear-eval` stops there.
public enum MPIJob {
    /// The exit status of a run that diverged, and of a sweep whose table is complete but has diverged settings.
    /// deploy/launch.sh does not restart it: the same checkpoint and settings diverge again.
    public static let divergedStatus: Int32 = 3

    /// The exit status of a training error: 3 for a divergence, 2 for the others.
    public static func exitStatus(of error: Error) -> Int32 {
        if case .diverged? = error as? TrainingError { return divergedStatus }
        return 2
    }

    /// Runs `body` as described above and returns the exit status the process should end with (0: success).
    /// `threadLevel`: what MPI must provide (MULTIPLE only when a communication thread overlaps the all-reduces).
    /// `spell`: an error as the user reads it (the tool names its flags where the library names settings); an
    /// error of a single process is thrown so spelled, for the caller to print.
    public static func run(threadLevel: ThreadLevel = .multiple, spell: (Error) -> Error,
                           _ body: (Communicator?) throws -> StopOutcome?) throws -> Int32 {
        let communicator = MPILauncher.isPresent ? try Communicator.initialize(threadLevel: threadLevel) : nil
        defer { if communicator != nil { try? Communicator.finalize() } }
        var outcome: StopOutcome?
        var status: Int32?
        var everyRanksError: TrainingError?
        try runAbortingOnError(communicator, spell: spell) {
            do {
                outcome = try body(communicator)
            } catch let error as TrainingError where communicator != nil && error.isEveryRanks {
                everyRanksError = error  // no abort: every rank stops here, after the same step
            } catch where communicator == nil && (error is TrainingError || error is SettingsError) {
                fflush(stdout)  // the log so far first, then the error where errors go
                Console().note("error: \(spell(error))")
                status = exitStatus(of: error)
            }
        }
        if let everyRanksError {
            // Each rank ends with the status after MPI_Finalize (the deferred call), as one process would, and
            // mpirun passes it on; an abort would end with 1.
            if communicator?.rank == 0 {
                fflush(stdout)
                Console().note("error: \(spell(everyRanksError))")
            }
            return exitStatus(of: everyRanksError)
        }
        return status ?? outcome?.exitStatus ?? 0
    }

    /// Runs `body`; under MPI with several ranks, an error on one rank aborts the whole job with the message
    /// (otherwise the other ranks would wait forever in their next collective). An error every rank meets (other
    /// data, a bad setting) is printed once, by rank 0 (`MPILauncher.deferToLeader`).
    public static func runAbortingOnError(_ communicator: Communicator?, spell: (Error) -> Error,
                                          _ body: () throws -> Void) throws {
        do {
            try body()
        } catch {
            guard let communicator, communicator.size > 1 else { throw spell(error) }
            if communicator.rank != 0 { MPILauncher.pauseForLeader() }
            communicator.abort(message: "\(spell(error))")
        }
    }
}
