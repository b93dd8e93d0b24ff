import ArgumentParser
import Cluster
import Foundation
import Kernels
import NeuralNet
import Runs
import Studies

/// The flags of how `compare` and `sweep` start their runs (the library's `StudyLaunch`).
struct LaunchOptions: ParsableArguments {
    @Option(help: ArgumentHelp("MPI ranks of every run (training is data-parallel, evaluation computes features "
                                   + "in shards); 1 = a plain process, no MPI."))
    var ranks = 1

    @Option(help: ArgumentHelp("MPI launcher for runs with several ranks, called as LAUNCHER -np N PROGRAM ARGS.",
                               valueName: "program"))
    var launcher = "mpirun"

    @Option(help: ArgumentHelp("Extra argument for the launcher, e.g. --mpirun-arg=--hostfile=hosts (repeatable).",
                               valueName: "arg"))
    var mpirunArg: [String] = []

    @Option(help: "BLAS/kernel threads of each rank (default: the machine's cores divided by --ranks, at least 1).")
    var threadsPerRank: Int?

    @Flag(help: "Run every step again, even those whose results are already in the run directory.")
    var force = false

    func validate() throws {
        guard ranks >= 1 else { throw ValidationError("--ranks must be at least 1") }
        if let threadsPerRank, threadsPerRank < 1 { throw ValidationError("--threads-per-rank must be at least 1") }
        if MPILauncher.isPresent {
            throw ValidationError("start this command without mpirun: it launches its own runs (use --ranks N)")
        }
    }

    /// The launch as the library's study runner takes it.
    var studyLaunch: StudyLaunch {
        StudyLaunch(ranks: ranks, launcher: launcher, launcherArguments: mpirunArg, threadsPerRank: threadsPerRank,
                    force: force)
    }
}

/// The encoder shape and seed shared by every run of a study.
struct StudyModelOptions: ParsableArguments {
    @Option(help: "Architecture of every encoder: resnet18, resnet34 or resnet50.")
    var arch: Architecture = .resnet18

    @Option(help: "Stem of every encoder: cifar or imagenet.")
    var stem: Stem = .cifar

    @Option(help: "Channel width multiplier of every encoder.")
    var width = 1.0

    @Option(help: "Seed of every run (weights, data order, label subsets).")
    var seed: UInt64 = 0

    func validate() throws {
        try SettingFlags.validate { try precision.checkSupported() }
        try SettingFlags.validate { try ResNetConfig.checkWidth(width) }
    }

    @Option(help: "Arithmetic of every run: fp32 or bf16 (passed to each command's --precision).")
    var precision: ComputePrecision = .fp32

    @Option(help: ArgumentHelp("Convolution algorithms of every run (passed to each command's --conv-algorithm).", valueName: "auto|direct|winograd"))
    var convAlgorithm: ConvAlgorithmChoice = .auto

    var arguments: [String] {
        ["--arch", arch.rawValue, "--stem", stem.rawValue, "--width", String(width), "--seed", String(seed), "--precision", precision.rawValue,
         "--conv-algorithm", convAlgorithm.rawValue]
    }
    var describe: String { "\(arch.displayName) \(stem.rawValue) stem, width \(width)" }
}
