import Foundation

/// A run's `divergence.json`: written by a training run that stopped because it diverged (its loss, gradient
/// or weights stopped being finite, or the weights grew past the documented limit), so a study that started it
/// can report the setting as diverged (and go on) instead of only seeing a failed process, and a resumed run
/// knows it continues a diverged one (docs/run-files.md).
public struct RunDivergence: Codable, Equatable {
    /// The step that diverged (1-based, as metrics.csv counts).
    public var step: Int
    /// That step's loss as text ("nan", "-nan", "inf", "4.1416"): JSON has no number for NaN.
    public var loss: String
    /// What diverged when it was not the loss, in words ("the weights' norm grew to ..."); nil when the loss
    /// itself was not finite (and in files of earlier versions, which only watched the loss).
    public var reason: String?

    public init(step: Int, loss: Double, reason: String? = nil) {
        self.step = step
        self.loss = "\(loss)"   // as the error message prints it ("-nan")
        self.reason = reason
    }

    /// What diverged, for a table cell or a log line: "loss nan", or the reason.
    public var summary: String { reason ?? "loss \(loss)" }

    public static let fileName = "divergence.json"

    public func write(to directory: URL) throws {
        let encoder = JSONEncoder()
        encoder.outputFormatting = [.prettyPrinted, .sortedKeys]
        try (encoder.encode(self) + Data("\n".utf8)).write(to: directory.appendingPathComponent(Self.fileName), options: .atomic)
    }

    /// The divergence recorded in `directory`, nil when there is none (or it cannot be read).
    public static func read(from directory: URL) -> RunDivergence? {
        try? JSONDecoder().decode(RunDivergence.self, from: Data(contentsOf: directory.appendingPathComponent(fileName)))
    }
}
