import ArgumentParser
import Cluster
import Kernels
import Runs

/// The `simclr` command: its subcommands are the tool.
public struct SimCLRTool: ParsableCommand {
    public static let configuration = CommandConfiguration(
        commandName: "simclr",
        abstract: "SimCLR contrastive pretraining of ResNet-18, data-parallel over MPI.",
        discussion: """
        Run under mpirun for data-parallel training; without mpirun the tool is a single process. OpenBLAS \
        kernels are checked at start: when OpenBLAS picked kernels weaker than the CPU offers, the tool restarts \
        itself with OPENBLAS_CORETYPE set. --no-blas-fix (anywhere on the command line, any command) or \
        SIMCLR_NO_BLAS_FIX=1 keeps OpenBLAS's own choice.

        Examples:
          simclr pretrain --out runs/demo --width 0.25 --batch-size 128 \\
              --epochs 5 --recipe quick
          simclr pretrain --help
          simclr --version
        """,
        subcommands: [PretrainCommand.self, SupervisedCommand.self, FinetuneCommand.self, LinearEvalCommand.self,
                      KNNCommand.self, CompareCommand.self, SweepCommand.self, ReportCommand.self, TSNECommand.self,
                      BenchCommand.self, ScalingModelCommand.self, SynthCommand.self, AugmentPreviewCommand.self, EmbedCommand.self]
    )

    @Flag(help: "Print the version, git commit, BLAS, MPI and oneDNN libraries and the precisions this CPU runs.")
    var version = false

    public init() {}

    public func run() throws {
        guard version else { throw CleanExit.helpRequest(self) }
        print(VersionReport.text)
    }
}

extension SimCLRTool {
    /// Parses `arguments`, runs the command and exits; what ArgumentParser's `main` does, except that under an
    /// MPI launcher an error every rank would print (a bad flag, help, a bad setting) is printed once, by
    /// rank 0. See `MPILauncher.deferToLeader()`.
    public static func runAsTool(_ arguments: [String]) -> Never {
        do {
            var command = try parseAsRoot(arguments)
            try command.run()
            exit()
        } catch let stop as ExitCode {
            exit(withError: stop)                     // a status without a message (Ctrl-C, a stopped run)
        } catch {
            MPILauncher.deferToLeader(exitCode: exitCode(for: error).rawValue)
            // A Foundation file error would print as a dump of its userInfo: print its path and reason instead.
            // A library error names settings in backquotes (`out`): say the flags (--out). Usage errors keep their status.
            let said = error is ValidationError ? error : SettingFlags.renamed(error)
            exit(withError: SystemErrorText.fileErrorLine(error).map { CommandError($0) } ?? said)
        }
    }
}
