import Cluster
import Foundation

/// Runs named checks on every rank and agrees on the outcome: rank 0 prints one `PASS name`, `SKIP name`
/// or `FAIL name` line per check; failing ranks print their own reason. A check skips by returning
/// `skip(reason)` (on every rank: skipping depends only on the world size).
final class CheckRunner {
    let comm: Communicator
    private(set) var failures = 0

    init(comm: Communicator) { self.comm = comm }

    /// `body` returns nil on success or a reason; a thrown error is a failure too. Collective.
    func check(_ name: String, _ body: () throws -> String?) {
        var reason: String?
        let start = Date()
        do { reason = try body() } catch { reason = "threw \(error)" }
        let seconds = Date().timeIntervalSince(start)
        if let reason, reason.hasPrefix(skipPrefix) {
            if comm.rank == 0 { say("SKIP \(name): \(reason.dropFirst(skipPrefix.count))") }
            return
        }
        if let reason { say("rank \(comm.rank): \(name): \(reason)") }
        let flags = (try? comm.allGather([Int64(reason == nil ? 1 : 0)])) ?? [0]
        let failed = flags.indices.filter { flags[$0] == 0 }
        if comm.rank == 0 {
            if failed.isEmpty { say("PASS \(name) (\(String(format: "%.2f", seconds)) s)") } else {
                say("FAIL \(name) on rank(s) \(failed)")
            }
        }
        if !failed.isEmpty { failures += 1 }
    }

    /// Prints on rank 0 only.
    func info(_ text: String) { if comm.rank == 0 { say("INFO \(text)") } }
}

private let skipPrefix = "\u{1}skip: "

/// The result of a check that does not apply here (e.g. needs two ranks).
func skip(_ reason: String) -> String? { skipPrefix + reason }

func say(_ text: String) {
    print(text)
    fflush(stdout)
}

/// nil when `condition` holds, else `reason`.
func expect(_ condition: Bool, _ reason: @autoclosure () -> String) -> String? { condition ? nil : reason() }

/// The first non-nil reason.
func firstFailure(_ reasons: String?...) -> String? { reasons.compactMap { $0 }.first }
