import Foundation

public enum TrainingError: Error, CustomStringConvertible {
    case nonFiniteLoss(step: Int, loss: Double)
    case checkpointNotWritten(step: Int, reason: String)
    case writeFailed(String)
    /// Rank 0 could not claim the run directory (its message); the other ranks stop with it.
    case runDirectoryRefused(String)

    public var description: String {
        switch self {
        case let .nonFiniteLoss(step, loss):
            return "loss became \(loss) at step \(step); stopping. The last good checkpoint is kept (try a lower `lr`; in pretraining also a higher `temperature`)."
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
