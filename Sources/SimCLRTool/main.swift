import ArgumentParser
import Foundation

let arguments = BLASSetup.ensureGoodKernels(arguments: CommandLine.arguments)

struct SimCLRTool: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "simclr",
        abstract: "SimCLR contrastive pretraining of ResNet-18, data-parallel over MPI.",
        discussion: """
        Run under mpirun for data-parallel training; without mpirun the tool is a single process.
        OpenBLAS kernels are checked at start: when OpenBLAS picked kernels weaker than the CPU offers, the \
        tool restarts itself with OPENBLAS_CORETYPE set. --no-blas-fix (anywhere on the command line, any \
        command) or SIMCLR_NO_BLAS_FIX=1 keeps OpenBLAS's own choice.
        """,
        subcommands: [PretrainCommand.self, SupervisedCommand.self, FinetuneCommand.self, LinearEvalCommand.self,
                      KNNCommand.self, CompareCommand.self, SweepCommand.self, ReportCommand.self, TSNECommand.self,
                      BenchCommand.self, SynthCommand.self, AugmentPreviewCommand.self, EmbedCommand.self]
    )
}

SimCLRTool.main(NegativeNumberArguments.joined(Array(arguments.dropFirst())))
