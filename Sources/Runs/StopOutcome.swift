/// How a stopped run ends: the line it logs and the exit status the process should end with.
public struct StopOutcome: Equatable, Sendable {
    public var message: String
    /// 0 for a planned halt; 130 (SIGINT) or 143 (SIGTERM) for an interruption, so that
    /// `pretrain && linear-eval` stops there.
    public var exitStatus: Int32

    public init(message: String, exitStatus: Int32) {
        self.message = message
        self.exitStatus = exitStatus
    }

    /// The stop asked for by a signal (this rank's `status`, or SIGTERM's when another rank asked).
    public static func interrupted(afterStep step: Int, status: Int32 = 143) -> StopOutcome {
        StopOutcome(message: "interrupted: checkpoint written at step \(step); continue with --resume", exitStatus: status)
    }
}
