import Foundation

/// How a long loop shows its progress.
public enum ProgressStyle: String, CaseIterable, Sendable {
    /// One line redrawn in place (a terminal).
    case bar
    /// A plain line every `logEvery` steps (log files, CI, MPI jobs).
    case lines
    /// Nothing (metrics.csv and the final lines still say how the run went).
    case none

    /// What a run gets when it asks for nothing: `SIMCLR_PROGRESS` if set; lines under an MPI launcher (mpirun
    /// gives its ranks a terminal even when its own output goes to a file, and a bar redrawn there becomes one
    /// giant line); a bar when stdout is a terminal; lines otherwise.
    public static func automatic(underMPI: Bool) -> ProgressStyle {
        if let asked = ProcessInfo.processInfo.environment["SIMCLR_PROGRESS"].flatMap(ProgressStyle.init(rawValue:)) {
            return asked
        }
        if underMPI { return .lines }
        return isatty(STDOUT_FILENO) == 1 ? .bar : .lines
    }
}

/// Progress of a long loop (training steps, images embedded), in the process's `ProgressReporter.style`.
public final class ProgressReporter {
    /// Where progress goes: training shows it on stdout; a command whose stdout is its result (embed) on stderr.
    public enum Stream: Sendable { case standardOutput, standardError }

    /// How every reporter of this process shows progress; the tool sets it from `--progress` (default
    /// `ProgressStyle.automatic`).
    nonisolated(unsafe) public static var style = ProgressStyle.automatic(underMPI: false)

    public let total: Int
    public let logEvery: Int
    /// What `update`'s count counts, in the lines ("step 20/100").
    public let unit: String
    private let stream: Stream
    private let style = ProgressReporter.style
    private let start = Date()
    private var firstStep: Int?
    private var lastStep = 0

    private let silent: Bool

    /// `startingAfter`: the count already done when the reporter starts (the ETA counts from there); nil: one
    /// less than the first update's (a resumed run's first step).
    public init(total: Int, logEvery: Int, silent: Bool = false, unit: String = "step", startingAfter: Int? = nil,
                to stream: Stream = .standardOutput) {
        self.total = total
        self.firstStep = startingAfter
        self.lastStep = startingAfter ?? 0
        self.logEvery = max(1, logEvery)
        self.silent = silent || style == .none
        self.unit = unit
        self.stream = stream
    }

    /// `step` of `total` are done (a count that grows, by one or more). With `.lines`, a line each time the count
    /// passes a multiple of `logEvery`, and at the end.
    public func update(step: Int, fields: String) {
        guard !silent else { return }
        if firstStep == nil { firstStep = step - 1; lastStep = step - 1 }
        let done = step - (firstStep ?? 0)
        let elapsed = Date().timeIntervalSince(start)
        let eta = done > 0 ? elapsed / Double(done) * Double(total - step) : 0
        if style == .bar {
            let width = 24
            let filled = min(width, width * step / max(total, 1))
            let bar = String(repeating: "#", count: filled) + String(repeating: ".", count: width - filled)
            write("\r[\(bar)] \(step)/\(total) \(fields) ETA \(Self.duration(eta))   ")
        } else if step / logEvery > lastStep / logEvery || step == total {
            write("\(unit) \(step)/\(total) \(fields) eta \(Self.duration(eta))\n")
        }
        lastStep = step
    }

    /// Ends the bar's line before other output.
    public func finishLine() { if style == .bar && !silent { write("\n") } }

    private func write(_ text: String) {
        let file = stream == .standardOutput ? stdout : stderr
        fputs(text, file)
        fflush(file)
    }

    public static func duration(_ s: Double) -> String {
        guard s.isFinite else { return "?" }
        let t = Int(s.rounded())
        return t >= 3600 ? String(format: "%dh%02dm", t / 3600, t / 60 % 60) : String(format: "%dm%02ds", t / 60, t % 60)
    }
}
