import Foundation

/// A run's `divergence.json`: written by a training run that stopped because its loss stopped being a
/// finite number, so a study that started it can report the setting as diverged (and go on) instead of
/// only seeing a failed process (docs/run-files.md).
public struct RunDivergence: Codable, Equatable {
    /// The step whose loss was not finite (1-based, as metrics.csv counts).
    public var step: Int
    /// That loss as text ("nan", "-nan", "inf"): JSON has no number for it.
    public var loss: String

    public init(step: Int, loss: Double) {
        self.step = step
        self.loss = "\(loss)"   // as the error message prints it ("-nan")
    }

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
