import Foundation
import RunFiles

public enum TrainingError: Error, CustomStringConvertible {
    /// The run diverged (`DivergenceCheck`); the checkpoint of `keptCheckpointStep` (nil: none was written) is
    /// the last good state.
    case diverged(RunDivergence, keptCheckpointStep: Int?)
    case checkpointNotWritten(step: Int, reason: String)
    case writeFailed(String)
    /// Rank 0 could not claim the run directory (its message); the other ranks stop with it.
    case runDirectoryRefused(String)

    /// Whether every rank meets this error at the same point of the run (the ranks judge a divergence from the
    /// same summed totals; rank 0 tells every rank that a checkpoint was not written), so they can all stop
    /// without aborting one another.
    public var isEveryRanks: Bool {
        switch self {
        case .diverged, .checkpointNotWritten: return true
        case .writeFailed, .runDirectoryRefused: return false
        }
    }

    public var description: String {
        switch self {
        case let .diverged(divergence, kept):
            let what = divergence.reason.map { "training diverged at step \(divergence.step): \($0)" }
                ?? "loss became \(divergence.loss) at step \(divergence.step)"
            let next = kept.map {
                "The checkpoint of step \($0) is kept: continue it with `resume` and a lower `lr` (a run that diverged may change `lr` when resumed)"
            } ?? "No checkpoint was written before it: start again with a lower `lr` and `overwrite`"
            return "\(what); stopping. \(next); in pretraining a higher `temperature` also steadies the loss."
        case let .checkpointNotWritten(step, reason):
            return "the checkpoint of step \(step) was not written: \(reason); stopping (free space, then `resume`)"
        case let .writeFailed(what): return what
        case let .runDirectoryRefused(why): return why
        }
    }
}

/// Settings a run cannot train with. The message names settings as their settings type spells them, in
/// backquotes (`batchSize`, `moco.queueSize`); a front end names them its own way with `described(naming:)`
/// (the tool: `--batch-size`, `--queue-size`).
public struct SettingsError: Error, CustomStringConvertible, Equatable {
    public let description: String

    public init(_ description: String) { self.description = description }

    /// The message with every backquoted setting name replaced by `naming(name)`.
    public func described(naming: (String) -> String) -> String { Self.renaming(description, naming) }

    /// `text` with every backquoted name replaced by `naming(name)`.
    public static func renaming(_ text: String, _ naming: (String) -> String) -> String {
        var result = "", rest = Substring(text)
        while let open = rest.firstIndex(of: "`"), let close = rest[rest.index(after: open)...].firstIndex(of: "`") {
            result += rest[..<open] + naming(String(rest[rest.index(after: open)..<close]))
            rest = rest[rest.index(after: close)...]
        }
        return result + rest
    }
}
