import Foundation

/// How long a rank may wait inside one collective before it ends the job: a rank that stopped (SIGSTOP, a
/// swapped-out node, a write blocked on NFS) would otherwise leave every other rank spinning forever.
///
/// Process-wide, because every communicator (the world and the gradient reducer's duplicate) waits the same
/// way. The training loop says where it stands (`enter`), which names the step in the message and grants
/// the slow phases (the start, with its data loading and broadcasts, and the step after a checkpoint, which
/// rank 0 writes while the others wait) `slowFactor` times the limit.
public enum CollectiveDeadline {
    public static let slowFactor = 4.0

    private final class State: @unchecked Sendable {
        let lock = NSLock()
        var seconds: Double?
        var phase = "start"
        var slow = true
        var nextStepSlow = true
    }
    private static let state = State()

    /// nil (the default): no deadline, MPI waits as long as it takes.
    public static func configure(seconds: Double?) {
        state.lock.lock(); defer { state.lock.unlock() }
        state.seconds = seconds
        state.phase = "start"
        state.slow = true
        state.nextStepSlow = true
    }

    /// Training step `step` (1-based) begins: the phase for messages; slow when it is the first step of the
    /// process or follows `expectSlowNextStep()`.
    public static func enterStep(_ step: Int) {
        state.lock.lock(); defer { state.lock.unlock() }
        state.phase = "step \(step)"
        state.slow = state.nextStepSlow
        state.nextStepSlow = false
    }

    /// Rank 0 alone does something long before the next step (a checkpoint, a kNN evaluation) while the
    /// others already wait in that step's first collective.
    public static func expectSlowNextStep() {
        state.lock.lock(); defer { state.lock.unlock() }
        state.nextStepSlow = true
    }

    /// The limit in force and the phase, read at the start of each collective (nil: no deadline).
    static func current() -> (limit: Double, phase: String)? {
        state.lock.lock(); defer { state.lock.unlock() }
        guard let seconds = state.seconds else { return nil }
        return (state.slow ? seconds * slowFactor : seconds, state.phase)
    }

    /// The message of a rank that gave up waiting. Which rank is missing is knowable only in a world of two.
    public static func timeoutMessage(call: String, count: Int, waited: Double, phase: String, rank: Int, size: Int) -> String {
        let missing = size == 2 ? "rank \(1 - rank) did not arrive"
            : "at least one of the other \(size - 1) ranks did not arrive"
        return String(format: "%@ of %d elements timed out after %.0f s during %@: %@ (stopped, hung, or far slower); "
                      + "ending the job (raise --collective-timeout if this rank is merely slow)",
                      call, count, waited, phase, missing)
    }
}
