import Foundation

/// The exit status a stop signal asks for (130 for SIGINT, 143 for SIGTERM; 0: none received). A plain
/// integer, since a signal handler may only store.
nonisolated(unsafe) private var stopSignalStatus: Int32 = 0

/// Ctrl-C and SIGTERM as a request to stop cleanly (checkpoint, then exit) instead of dying mid-step.
///
/// Under mpirun, SIGINT/SIGTERM sent to mpirun are not forwarded: mpirun sends SIGTERM to the ranks itself
/// and SIGKILL one second later, too soon for a step and a checkpoint. SIGUSR1 and SIGUSR2 are forwarded at
/// once, so deploy/launch.sh turns SIGINT into SIGUSR1 (stop as SIGINT would) and SIGTERM into SIGUSR2.
public enum StopSignal {
    public static var received: Bool { stopSignalStatus != 0 }

    /// Set when a training loop stopped for a stop request (of this rank or another): the process should
    /// exit with it, 130 (SIGINT) or 143 (SIGTERM).
    nonisolated(unsafe) public private(set) static var exitStatus: Int32?

    /// Clears the flag and routes SIGINT, SIGTERM, SIGUSR1 (as SIGINT) and SIGUSR2 (as SIGTERM) to it.
    public static func install() {
        stopSignalStatus = 0
        exitStatus = nil
        signal(SIGINT) { _ in stopSignalStatus = 130 }
        signal(SIGUSR1) { _ in stopSignalStatus = 130 }
        signal(SIGTERM) { _ in stopSignalStatus = 143 }
        signal(SIGUSR2) { _ in stopSignalStatus = 143 }
    }

    /// The loop honoured a stop request: this rank's own signal, or SIGTERM's status when another rank asked.
    static func honoured() { exitStatus = stopSignalStatus != 0 ? stopSignalStatus : 143 }
}
