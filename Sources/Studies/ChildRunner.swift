import Foundation
import RunFiles

/// Starts a study's runs one after another, keeps a log of each, and skips a run that already finished
/// with the same command (so a study that was interrupted continues where it stopped). How a command is
/// executed is given at construction: `ChildProcess` for the real thing, a recording stand-in in tests.
public struct ChildRunner {
    /// Runs a command line, its output to `log`; throws when it fails.
    public typealias Execute = (_ commandLine: [String], _ log: URL, _ name: String) throws -> Void

    public let launch: StudyLaunch
    public let studyDirectory: URL
    private let execute: Execute
    private let say: (String) -> Void
    public private(set) var completed = 0

    public init(launch: StudyLaunch, studyDirectory: URL, say: @escaping (String) -> Void, execute: Execute? = nil) {
        self.launch = launch
        self.studyDirectory = studyDirectory
        self.say = say
        self.execute = execute ?? { try ChildProcess(launcher: launch.launcher).run($0, log: $1, name: $2) }
    }

    /// Counts `runs` as done without running them (the runs of a setting whose pretraining diverged), so
    /// the next run's number stays right.
    public mutating func pass(over runs: Int) { completed += runs }

    public func directory(of run: ChildRun) -> URL { studyDirectory.appendingPathComponent(run.name) }

    /// The subcommands that train (they lock their --out and take --resume / --overwrite).
    static let trainers: Set<String> = ["pretrain", "supervised", "finetune"]

    /// The full command line of `run` (launcher included when it has several ranks).
    public func commandLine(of run: ChildRun) -> [String] { launch.commandLine(of: run, in: directory(of: run)) }

    /// Runs `run`, the next of `total`, unless it already finished with the same command; returns its
    /// results.json (nil for a run whose product is not results.json).
    @discardableResult
    public mutating func run(_ run: ChildRun, of total: Int) throws -> RunResults? {
        let index = completed + 1
        let dir = directory(of: run)
        let command = commandLine(of: run)
        let marker = dir.appendingPathComponent("command.txt")
        let recorded = (try? String(contentsOf: marker, encoding: .utf8)) ?? ""
        let product = dir.appendingPathComponent(run.product)
        let line = command.map(shellQuoted).joined(separator: " ")
        let sameCommand = recorded == line + "\n"
        let done = FileManager.default.fileExists(atPath: product.path) && sameCommand
        if done && !launch.force {
            say("[\(index)/\(total)] \(run.name): already done, skipped (\(product.path))")
        } else {
            try FileManager.default.createDirectory(at: dir, withIntermediateDirectories: true)
            var arguments = command
            // An interrupted pretraining continues from its checkpoint instead of starting over.
            let checkpoint = dir.appendingPathComponent("checkpoint.safetensors")
            if run.subcommand == "pretrain", !launch.force, sameCommand,
               FileManager.default.fileExists(atPath: checkpoint.path) {
                arguments.append("--resume")
            } else if Self.trainers.contains(run.subcommand) {
                // Started over on purpose (another command, --force, or nothing to continue): a trainer refuses to
                // start over an existing run unless told.
                arguments.append("--overwrite")
            }
            try? FileManager.default.removeItem(at: product)
            try? FileManager.default.removeItem(at: dir.appendingPathComponent(RunDivergence.fileName))
            try Data((line + "\n").utf8).write(to: marker)
            say("[\(index)/\(total)] \(run.name): \(arguments.map(shellQuoted).joined(separator: " "))")
            let started = Date()
            try execute(arguments, dir.appendingPathComponent("log.txt"), run.name)
            say(String(format: "[%d/%d] %@: done in %.0f s", index, total, run.name, Date().timeIntervalSince(started)))
        }
        completed += 1
        guard run.product == "results.json" else { return nil }
        do { return try RunResults.read(product) } catch {
            throw StudyError("\(product.path) is not a results.json: \(error)")
        }
    }
}

extension ChildRunner {
    /// One study per directory (docs/run-files.md, 'run.lock'): creates `directory` and locks it for the study's
    /// life, so a second study started on the same `out` refuses, naming the holder, instead of running the same
    /// child runs beside the first (each child then locks its own run directory). Hold the lock until the study
    /// ends; its child processes do not inherit it.
    public static func claimStudyDirectory(_ directory: URL, say: @escaping (String) -> Void) throws -> RunDirectoryLock {
        try OutputDirectory.prepare(directory)
        return try RunDirectoryLock(directory: directory, log: say)
    }
}
