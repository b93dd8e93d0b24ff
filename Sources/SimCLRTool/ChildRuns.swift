import ArgumentParser
import Kernels
import Foundation
import NeuralNet
import RunFiles

/// How `compare` and `sweep` start the training and evaluation runs they are made of: each run is this
/// same executable with a subcommand, started as a child process, under an MPI launcher when it has more
/// than one rank.
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
        if launchedUnderMPI() {
            throw ValidationError("start this command without mpirun: it launches its own runs (use --ranks N)")
        }
    }

    var threads: Int { threadsPerRank ?? max(1, ProcessInfo.processInfo.activeProcessorCount / ranks) }
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
        try checkPrecisionSupported(precision)
        try checkWidth(width)
    }

    @Option(help: "Arithmetic of every run: fp32 or bf16 (passed to each command's --precision).")
    var precision: ComputePrecision = .fp32

    var arguments: [String] {
        ["--arch", arch.rawValue, "--stem", stem.rawValue, "--width", String(width), "--seed", String(seed), "--precision", precision.rawValue]
    }
    var describe: String { "\(arch.displayName) \(stem.rawValue) stem, width \(width)" }
}

/// One run of a study: `simclr SUBCOMMAND ARGS --out DIR`, in its own run directory.
struct ChildRun {
    var name: String
    var subcommand: String
    var arguments: [String]
    /// The file whose presence means the run finished (results.json, or model.safetensors for pretrain).
    var product: String = "results.json"
}

/// Starts child runs one after another, shows their output, keeps a log of each, and skips a run that
/// already finished with the same command (so a study that was interrupted continues where it stopped).
struct ChildRunner {
    let options: LaunchOptions
    let studyDirectory: URL
    let program = URL(fileURLWithPath: "/proc/self/exe").resolvingSymlinksInPath().path
    private(set) var completed = 0

    init(options: LaunchOptions, studyDirectory: URL) {
        self.options = options
        self.studyDirectory = studyDirectory
    }

    func directory(of run: ChildRun) -> URL { studyDirectory.appendingPathComponent(run.name) }

    /// The full command line of `run` (launcher included when it has several ranks).
    func commandLine(of run: ChildRun) -> [String] {
        let ranks = options.ranks, threads = options.threads
        var tool = [program, run.subcommand] + run.arguments
            + ["--out", directory(of: run).path, "--threads", String(threads)]
        if ranks > 1 {
            var launch = [options.launcher, "-np", String(ranks)]
            // Progress as plain lines: the ranks' output goes to a log, even though mpirun gives them a terminal.
            if ["mpirun", "mpiexec"].contains(URL(fileURLWithPath: options.launcher).lastPathComponent) {
                launch += ["-x", "SIMCLR_PROGRESS"]
            }
            if ranks > ProcessInfo.processInfo.activeProcessorCount { launch.append("--oversubscribe") }
            tool = launch + options.mpirunArg + tool
        }
        return tool
    }

    /// Runs `run`, the next of `total`, unless it already finished with the same command; returns its
    /// results.json (nil for a run whose product is not results.json).
    mutating func run(_ run: ChildRun, of total: Int) throws -> RunResults? {
        let index = completed + 1
        let dir = directory(of: run)
        let command = commandLine(of: run)
        let marker = dir.appendingPathComponent("command.txt")
        let recorded = (try? String(contentsOf: marker, encoding: .utf8)) ?? ""
        let product = dir.appendingPathComponent(run.product)
        let line = command.map(shellQuoted).joined(separator: " ")
        let sameCommand = recorded == line + "\n"
        let done = FileManager.default.fileExists(atPath: product.path) && sameCommand
        if done && !options.force {
            say("[\(index)/\(total)] \(run.name): already done, skipped (\(product.path))")
        } else {
            try FileManager.default.createDirectory(at: dir, withIntermediateDirectories: true)
            var arguments = command
            // An interrupted pretraining continues from its checkpoint instead of starting over.
            let checkpoint = dir.appendingPathComponent("checkpoint.safetensors")
            if run.subcommand == "pretrain", !options.force, sameCommand,
               FileManager.default.fileExists(atPath: checkpoint.path) {
                arguments.append("--resume")
            }
            try? FileManager.default.removeItem(at: product)
            try Data((line + "\n").utf8).write(to: marker)
            say("[\(index)/\(total)] \(run.name): \(arguments.map(shellQuoted).joined(separator: " "))")
            let started = Date()
            try execute(arguments, log: dir.appendingPathComponent("log.txt"), name: run.name)
            say(String(format: "[%d/%d] %@: done in %.0f s", index, total, run.name, Date().timeIntervalSince(started)))
        }
        completed += 1
        guard run.product == "results.json" else { return nil }
        do { return try RunResults.read(product) } catch {
            throw CommandError("\(product.path) is not a results.json: \(error)")
        }
    }

    /// Runs a command, copying its output (both streams) to our standard output, indented, and to `log`.
    private func execute(_ arguments: [String], log: URL, name: String) throws {
        FileManager.default.createFile(atPath: log.path, contents: nil)
        let logHandle = try FileHandle(forWritingTo: log)
        defer { try? logHandle.close() }
        let process = Process()
        process.executableURL = URL(fileURLWithPath: try resolve(arguments[0]))
        process.arguments = Array(arguments.dropFirst())
        var environment = ProcessInfo.processInfo.environment
        environment["SIMCLR_PROGRESS"] = "lines"
        if arguments[0] == options.launcher, getuid() == 0 {
            environment["OMPI_ALLOW_RUN_AS_ROOT"] = "1"
            environment["OMPI_ALLOW_RUN_AS_ROOT_CONFIRM"] = "1"
        }
        process.environment = environment
        let pipe = Pipe()
        process.standardOutput = pipe
        process.standardError = pipe
        let lock = NSLock()
        pipe.fileHandleForReading.readabilityHandler = { handle in
            let data = handle.availableData
            guard !data.isEmpty else { return }
            lock.lock(); defer { lock.unlock() }
            logHandle.write(data)
            let text = String(decoding: data, as: UTF8.self)
            let indented = text.split(separator: "\n", omittingEmptySubsequences: false)
                .map { $0.isEmpty ? "" : "    " + $0 }.joined(separator: "\n")
            FileHandle.standardOutput.write(Data(indented.utf8))
        }
        try process.run()
        process.waitUntilExit()
        pipe.fileHandleForReading.readabilityHandler = nil
        // Whatever arrived between the last callback and the end.
        let rest = pipe.fileHandleForReading.readDataToEndOfFile()
        lock.lock(); logHandle.write(rest); lock.unlock()
        if !rest.isEmpty { FileHandle.standardOutput.write(rest) }
        guard process.terminationReason == .exit, process.terminationStatus == 0 else {
            throw CommandError("step \(name) failed (exit status \(process.terminationStatus)); "
                               + "its output is in \(log.path). Run the command again to continue from there.")
        }
    }

    /// The absolute path of a program named on the command line (as a shell would find it on PATH).
    private func resolve(_ name: String) throws -> String {
        if name.contains("/") { return name }
        for dir in (ProcessInfo.processInfo.environment["PATH"] ?? "").split(separator: ":") {
            let path = "\(dir)/\(name)"
            if FileManager.default.isExecutableFile(atPath: path) { return path }
        }
        throw CommandError("\(name) not found on PATH (deploy/setup.sh installs openmpi-bin for mpirun)")
    }
}

/// `word` quoted for a POSIX shell when it needs quoting, so logged commands can be pasted back.
func shellQuoted(_ word: String) -> String {
    let plain = word.allSatisfy { $0.isLetter || $0.isNumber || "-_./=,:+@%".contains($0) }
    if plain && !word.isEmpty { return word }
    return "'" + word.replacingOccurrences(of: "'", with: "'\\''") + "'"
}
