import Foundation
import Kernels

/// How a study (`compare`, `sweep`) starts the runs it is made of: each run is the tool itself with a
/// subcommand, started as a child process, under an MPI launcher when it has more than one rank.
public struct StudyLaunch: Equatable {
    /// MPI ranks of every run; 1 = a plain process.
    public var ranks: Int
    /// The launcher of runs with several ranks, called as LAUNCHER -np N PROGRAM ARGS.
    public var launcher: String
    /// Extra arguments for the launcher (before the program).
    public var launcherArguments: [String]
    /// BLAS/kernel threads of each rank.
    public var threadsPerRank: Int
    /// Run every step again, even those whose results are already there.
    public var force: Bool
    /// The tool's own executable.
    public var program: String
    /// Cores of this machine: more ranks than cores need the launcher's permission to oversubscribe.
    public var cores: Int

    public init(ranks: Int, launcher: String = "mpirun", launcherArguments: [String] = [], threadsPerRank: Int? = nil,
                force: Bool = false, program: String = StudyLaunch.currentProgram,
                cores: Int = Parallel.availableCores) {
        self.ranks = ranks; self.launcher = launcher; self.launcherArguments = launcherArguments
        self.threadsPerRank = threadsPerRank ?? max(1, cores / max(1, ranks))
        self.force = force; self.program = program; self.cores = cores
    }

    /// The running executable (the children are the same tool).
    public static var currentProgram: String {
        URL(fileURLWithPath: "/proc/self/exe").resolvingSymlinksInPath().path
    }

    /// Whether the launcher is Open MPI's (it takes -x to pass an environment variable to the ranks).
    var launcherIsOpenMPI: Bool { ["mpirun", "mpiexec"].contains(URL(fileURLWithPath: launcher).lastPathComponent) }

    /// The full command line of `run` writing into `directory` (launcher included when it has several ranks).
    public func commandLine(of run: ChildRun, in directory: URL) -> [String] {
        var tool = [program, run.subcommand] + run.arguments
            + ["--out", directory.path, "--threads", String(threadsPerRank)]
        if ranks > 1 {
            var launch = [launcher, "-np", String(ranks)]
            // Progress as plain lines: the ranks' output goes to a log, even though mpirun gives them a terminal.
            if launcherIsOpenMPI { launch += ["-x", "SIMCLR_PROGRESS"] }
            if ranks > cores { launch.append("--oversubscribe") }
            tool = launch + launcherArguments + tool
        }
        return tool
    }
}

/// One run of a study: `simclr SUBCOMMAND ARGS --out DIR`, in its own directory under the study's.
public struct ChildRun: Equatable {
    /// The run's directory, relative to the study's ("pretrain", "temperature-0.1/linear").
    public var name: String
    public var subcommand: String
    public var arguments: [String]
    /// The file whose presence means the run finished (results.json, or model.safetensors for pretrain).
    public var product: String

    public init(name: String, subcommand: String, arguments: [String], product: String = "results.json") {
        self.name = name; self.subcommand = subcommand; self.arguments = arguments; self.product = product
    }
}

/// A study that could not go on, named for the user.
public struct StudyError: Error, CustomStringConvertible {
    public let description: String
    public init(_ description: String) { self.description = description }
}

/// `word` quoted for a POSIX shell when it needs quoting, so logged commands can be pasted back.
public func shellQuoted(_ word: String) -> String {
    let plain = word.allSatisfy { $0.isLetter || $0.isNumber || "-_./=,:+@%".contains($0) }
    if plain && !word.isEmpty { return word }
    return "'" + word.replacingOccurrences(of: "'", with: "'\\''") + "'"
}

/// "10pct", "1pct", "0.5pct": a label fraction in a directory name.
public func fractionTag(_ f: Double) -> String { String(format: "%gpct", f * 100) }
