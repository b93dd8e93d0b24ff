import Cluster
import Foundation
import RunFiles

/// What rank 0 of a training run does to its directory before it writes anything there (docs/run-files.md,
/// note 'run.lock'): take the directory's lock, refuse to start over an existing run unless asked, and clear
/// what a crashed write left behind.
public enum RunDirectoryClaim {
    /// A training run already lives in `directory` and neither resume nor overwrite was asked for.
    public struct ExistingRun: Error, CustomStringConvertible {
        public var directory: String
        public var files: [String]

        public var description: String {
            "\(directory) already holds a run (\(files.joined(separator: ", "))): pass `resume` to continue it or "
                + "`overwrite` to delete it and start over"
        }
    }

    /// What a training run leaves in `directory`: one of them there means a run is (or was) there.
    public static func trainingProducts(in directory: URL) -> [URL] {
        ["checkpoint.safetensors", "model.safetensors", "metrics.csv", "results.json", RunDivergence.fileName, "tb"]
            .map { directory.appendingPathComponent($0) }
    }

    /// Refuses a directory that holds a run when neither `resume` nor `overwrite` is asked, before the run loads
    /// data or prints what it is about to do (the claim at its start checks again, under the lock). Rank 0 looks;
    /// every rank of `group` (nil: a single process) stops with its refusal.
    public static func refuseExistingRun(in directory: URL, resume: Bool, overwrite: Bool, group: (any ProcessGroup)?) throws {
        try onLeader(of: group ?? SingleProcess()) {
            guard !resume, !overwrite else { return }
            let existing = trainingProducts(in: directory).filter { FileManager.default.fileExists(atPath: $0.path) }
            if !existing.isEmpty { throw ExistingRun(directory: directory.path, files: existing.map(\.lastPathComponent)) }
        }
    }

    /// Runs `work` on rank 0 of `group` alone (only rank 0 looks at the run directory) and tells every rank how
    /// it went, so all stop together: when it throws, rank 0 rethrows its error and every other rank throws
    /// `TrainingError.runDirectoryRefused` with the error's text. Returns `work`'s result on rank 0, nil elsewhere.
    @discardableResult
    public static func onLeader<T>(of group: any ProcessGroup, _ work: () throws -> T) throws -> T? {
        var result: T?, failure: Error?
        if group.rank == 0 {
            do { result = try work() } catch { failure = error }
        }
        let said = try group.broadcast(failure.map { "\($0)" } ?? "")
        if let failure { throw failure }
        if !said.isEmpty { throw TrainingError.runDirectoryRefused(said) }
        return result
    }

    /// Creates `directory`, locks it and returns the lock (hold it for the run's life). `products` are the files
    /// (or folders) a run leaves there: when one exists, the run needs `resume` (continue it) or `overwrite`
    /// (they are deleted first). Temporary files of an interrupted atomic write (`.NAME.tmp-PID`) are deleted:
    /// under the lock no other process can be writing them.
    public static func claim(_ directory: URL, resume: Bool, overwrite: Bool, products: [URL],
                             log: (String) -> Void) throws -> RunDirectoryLock {
        try OutputDirectory.prepare(directory)
        let lock = try RunDirectoryLock(directory: directory, log: log)
        let existing = products.filter { FileManager.default.fileExists(atPath: $0.path) }
        if !existing.isEmpty && !resume {
            let names = existing.map(\.lastPathComponent)
            guard overwrite else { throw ExistingRun(directory: directory.path, files: names) }
            for url in existing { try FileManager.default.removeItem(at: url) }
            log("overwrite: deleted the previous run's \(names.joined(separator: ", ")) in \(directory.path)")
        }
        let names = (try? FileManager.default.contentsOfDirectory(atPath: directory.path)) ?? []
        let stale = names.filter { $0.hasPrefix(".") && $0.range(of: #"\.tmp-[0-9]+$"#, options: .regularExpression) != nil }
        for name in stale { try? FileManager.default.removeItem(at: directory.appendingPathComponent(name)) }
        if !stale.isEmpty {
            log("deleted \(stale.count) temporary file(s) an interrupted write left in \(directory.path): "
                + stale.joined(separator: ", "))
        }
        return lock
    }
}
