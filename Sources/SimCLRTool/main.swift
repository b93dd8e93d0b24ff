import ArgumentParser
import Foundation

BLASSetup.ensureGoodKernels(arguments: CommandLine.arguments)

struct SimCLRTool: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "simclr",
        abstract: "SimCLR contrastive pretraining of ResNet-18, data-parallel over MPI.",
        discussion: """
        Run under mpirun for data-parallel training; without mpirun the tool is a single process.
        OpenBLAS kernels are checked at start (see --no-blas-fix on each command).
        """,
        subcommands: [PretrainCommand.self, SupervisedCommand.self, FinetuneCommand.self, LinearEvalCommand.self,
                      KNNCommand.self, CompareCommand.self, SweepCommand.self, ReportCommand.self, TSNECommand.self,
                      BenchCommand.self, SynthCommand.self, AugmentPreviewCommand.self, EmbedCommand.self]
    )
}

SimCLRTool.main(NegativeNumberArguments.joined(Array(CommandLine.arguments.dropFirst())))
