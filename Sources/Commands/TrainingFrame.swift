import ArgumentParser
import Cluster
import Foundation
import Runs
import Training

extension RunContext {
    /// The run context of a training command's flags.
    init(communicator: Communicator?, runtime: RuntimeOptions, data: DataOptions) {
        self.init(communicator: communicator, threads: runtime.compute.threads, progress: runtime.progress,
                  precision: runtime.compute.precision, convAlgorithm: runtime.compute.convAlgorithm,
                  data: data.describe(), command: CommandLine.arguments.joined(separator: " "))
    }
}

/// Runs a training or evaluation command as the library's `MPIJob` does (MPI only under a launcher, errors of one
/// rank or of every rank, exit statuses), its errors naming flags.
func runTrainingCommand(threadLevel: ThreadLevel = .multiple, _ body: (Communicator?) throws -> StopOutcome?) throws {
    let status = try MPIJob.run(threadLevel: threadLevel, spell: SettingFlags.renamed, body)
    if status != 0 { throw ExitCode(status) }
}

/// The stop policy of a training command: Ctrl-C and SIGTERM, and the hidden `--testing-halt-after`.
func stopPolicy(haltAfter step: Int?) -> StopPolicy {
    step.map { StopPolicies([SignalStop(), HaltAfterStep($0)]) } ?? SignalStop()
}

/// `Console().say`: for commands that never run under MPI (compare, sweep, synth, report).
func say(_ line: String) { Console().say(line) }
