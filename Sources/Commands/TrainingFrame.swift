import ArgumentParser
import Cluster
import Foundation
import Kernels
import Training

/// What every training command does first: set the threads, log the BLAS kernels, collect the facts
/// config.json records. Only rank 0 prints.
struct RunContext {
    let communicator: Communicator?
    let threadCount: Int
    var info: [String: String]
    var isLeader: Bool { (communicator?.rank ?? 0) == 0 }

    init(communicator: Communicator?, runtime: RuntimeOptions, data: DataOptions) {
        self.communicator = communicator
        threadCount = applyThreads(runtime.compute.threads)
        ProgressReporter.style = runtime.progress ?? .automatic(underMPI: communicator != nil)
        info = RunInfo.collect(command: CommandLine.arguments.joined(separator: " "))
        info["data"] = data.describe()
        info["threads"] = String(threadCount)
        say(BLASSetup.describe())
        say("cpu: \(CPUFeatures.current.summary); convolutions: \(ConvolutionLibrary.description); precision \(runtime.compute.precision.rawValue), conv algorithm \(runtime.compute.convAlgorithm.rawValue)")
    }

    func say(_ line: String) { Console(leader: isLeader).say(line) }
}

/// Runs a training or evaluation command: MPI is initialized only under a launcher (and finalized after); under MPI an error
/// on one rank aborts the job with its message, and an error every rank meets at the same point (a divergence)
/// is printed by rank 0 and ends every rank with its status; without MPI a training error (divergence, bad
/// settings) is printed and exits with status 2 (3 for a divergence). A run that stopped early (checkpoint written) ends with its outcome's
/// exit status: not a success after Ctrl-C or SIGTERM, so `pretrain && linear-eval` stops there.
/// `threadLevel`: what MPI must provide (MULTIPLE only when a communication thread overlaps the all-reduces).
func runTrainingCommand(threadLevel: ThreadLevel = .multiple, _ body: (Communicator?) throws -> StopOutcome?) throws {
    let communicator = MPILauncher.isPresent ? try Communicator.initialize(threadLevel: threadLevel) : nil
    defer { if communicator != nil { try? Communicator.finalize() } }
    var outcome: StopOutcome?
    var everyRanksError: TrainingError?
    try runAbortingOnError(communicator) {
        do {
            outcome = try body(communicator)
        } catch let error as TrainingError where communicator != nil && error.isEveryRanks {
            everyRanksError = error  // no abort: every rank stops here, after the same step
        } catch where communicator == nil && (error is TrainingError || error is SettingsError) {
            fflush(stdout)  // the log so far first, then the error where errors go
            Console().note("error: \(SettingFlags.message(error))")
            throw ExitCode(exitStatus(of: error))
        }
    }
    if let everyRanksError {
        // Each rank ends with the status after MPI_Finalize (the deferred call), as one process would, and mpirun
        // passes it on; an abort would end with 1.
        if communicator?.rank == 0 {
            fflush(stdout)
            Console().note("error: \(SettingFlags.message(everyRanksError))")
        }
        throw ExitCode(exitStatus(of: everyRanksError))
    }
    if let status = outcome?.exitStatus, status != 0 { throw ExitCode(status) }
}

/// The exit status of a training error: 3 for a divergence (as `sweep` ends when a setting diverged; launch.sh
/// does not restart it: the same checkpoint and settings diverge again), 2 for the others.
private func exitStatus(of error: Error) -> Int32 {
    if case .diverged? = error as? TrainingError { return SweepCommand.divergedStatus }
    return 2
}

/// The stop policy of a training command: Ctrl-C and SIGTERM, and the hidden `--testing-halt-after`.
func stopPolicy(haltAfter step: Int?) -> StopPolicy {
    step.map { StopPolicies([SignalStop(), HaltAfterStep($0)]) } ?? SignalStop()
}
