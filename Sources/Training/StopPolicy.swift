import Foundation
import Runs

/// When a run stops before its last step, and what it says then. The trainer asks the policy before every
/// step whether this rank wants to stop after it; the wish travels in the step's totals, so every rank stops
/// after the same step, writes the checkpoint and returns. Ctrl-C and SIGTERM (`SignalStop`) and a test's
/// halt after step N (`HaltAfterStep`) are policies asked the same way; `StopPolicies` combines them.
public protocol StopPolicy {
    /// Called once, when the run starts its first step (the signal policy installs its handlers here).
    func begin()
    /// Whether this rank asks to stop after step `step` (counted from 1), asked before the step runs.
    func wantsStop(afterStep step: Int) -> Bool
    /// What the stop after `step` means, when this policy asked for it (nil: it did not).
    func outcome(afterStep step: Int) -> StopOutcome?
}

extension StopPolicy {
    public func begin() {}
}

/// The exit status a stop signal asks for (130 for SIGINT, 143 for SIGTERM; 0: none received). A plain
/// integer, since a signal handler may only store.
nonisolated(unsafe) private var stopSignalStatus: Int32 = 0

/// Ctrl-C and SIGTERM as a request to stop cleanly (checkpoint, then exit) instead of dying mid-step.
///
/// Under mpirun, SIGINT/SIGTERM sent to mpirun are not forwarded: mpirun sends SIGTERM to the ranks itself
/// and SIGKILL one second later, too soon for a step and a checkpoint. SIGUSR1 and SIGUSR2 are forwarded at
/// once, so deploy/launch.sh turns SIGINT into SIGUSR1 (stop as SIGINT would) and SIGTERM into SIGUSR2.
public struct SignalStop: StopPolicy {
    public init() {}

    /// Clears the flag and routes SIGINT, SIGTERM, SIGUSR1 (as SIGINT) and SIGUSR2 (as SIGTERM) to it.
    public func begin() {
        stopSignalStatus = 0
        signal(SIGINT) { _ in stopSignalStatus = 130 }
        signal(SIGUSR1) { _ in stopSignalStatus = 130 }
        signal(SIGTERM) { _ in stopSignalStatus = 143 }
        signal(SIGUSR2) { _ in stopSignalStatus = 143 }
    }

    public func wantsStop(afterStep step: Int) -> Bool { stopSignalStatus != 0 }

    public func outcome(afterStep step: Int) -> StopOutcome? {
        stopSignalStatus != 0 ? .interrupted(afterStep: step, status: stopSignalStatus) : nil
    }
}

/// Stops after step `step` as an interruption would (checkpoint, no final model), for resume tests.
public struct HaltAfterStep: StopPolicy {
    public let step: Int

    public init(_ step: Int) { self.step = step }

    public func wantsStop(afterStep step: Int) -> Bool { step == self.step }

    public func outcome(afterStep step: Int) -> StopOutcome? {
        step == self.step ? StopOutcome(message: "halted at step \(step)", exitStatus: 0) : nil
    }
}

/// Several policies: a rank wants to stop when any of them does; the first that asked names the outcome.
public struct StopPolicies: StopPolicy {
    public let policies: [StopPolicy]

    public init(_ policies: [StopPolicy]) { self.policies = policies }

    public func begin() { for p in policies { p.begin() } }
    public func wantsStop(afterStep step: Int) -> Bool { policies.contains { $0.wantsStop(afterStep: step) } }
    public func outcome(afterStep step: Int) -> StopOutcome? { policies.lazy.compactMap { $0.outcome(afterStep: step) }.first }
}
