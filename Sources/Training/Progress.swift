import Foundation

/// Progress of a long loop: a redrawn bar when stdout is a terminal, plain periodic lines otherwise
/// (log files, CI). `SIMCLR_PROGRESS=lines` asks for lines even on a terminal (mpirun gives its ranks one
/// even when its own output goes to a file), `SIMCLR_PROGRESS=bar` for the bar.
public final class ProgressReporter {
    public let total: Int
    public let logEvery: Int
    private let isTerminal: Bool = {
        switch ProcessInfo.processInfo.environment["SIMCLR_PROGRESS"] {
        case "lines": return false
        case "bar": return true
        default: return isatty(STDOUT_FILENO) == 1
        }
    }()
    private let start = Date()
    private var firstStep: Int?

    private let silent: Bool

    public init(total: Int, logEvery: Int, silent: Bool = false) {
        self.total = total
        self.logEvery = max(1, logEvery)
        self.silent = silent
    }

    public func update(step: Int, fields: String) {
        guard !silent else { return }
        if firstStep == nil { firstStep = step - 1 }
        let done = step - (firstStep ?? 0)
        let elapsed = Date().timeIntervalSince(start)
        let eta = done > 0 ? elapsed / Double(done) * Double(total - step) : 0
        if isTerminal {
            let width = 24
            let filled = min(width, width * step / max(total, 1))
            let bar = String(repeating: "#", count: filled) + String(repeating: ".", count: width - filled)
            print("\r[\(bar)] \(step)/\(total) \(fields) ETA \(Self.duration(eta))   ", terminator: "")
            fflush(stdout)
        } else if step % logEvery == 0 || step == total {
            print("step \(step)/\(total) \(fields) eta \(Self.duration(eta))")
            fflush(stdout)
        }
    }

    /// Ends the bar's line before other output.
    public func finishLine() { if isTerminal && !silent { print("") } }

    public static func duration(_ s: Double) -> String {
        guard s.isFinite else { return "?" }
        let t = Int(s.rounded())
        return t >= 3600 ? String(format: "%dh%02dm", t / 3600, t / 60 % 60) : String(format: "%dm%02ds", t / 60, t % 60)
    }
}
