import Foundation
import TestSupport
import XCTest

/// Output and exit status of a child process.
struct RunResult {
    let status: Int32
    let output: String
    /// True when the deadline passed and the process was killed.
    var timedOut: Bool { status == 124 || status == 137 }
    func lines(startingWith prefix: String) -> [String] {
        output.split(separator: "\n").map(String.init).filter { $0.hasPrefix(prefix) }
    }
}

/// The cluster tests' view of the shared process harness (Tests/TestSupport).
enum ClusterHarness {
    static var packageRoot: URL { ProcessHarness.packageRoot }

    /// The built `cluster-check`; a missing binary fails the test with a "build it" message.
    static func clusterCheck() throws -> URL { try ProcessHarness.executable("cluster-check") }

    static func which(_ name: String) -> String? { ProcessHarness.which(name) }

    static func requireMpirun() throws -> String {
        guard let mpirun = which("mpirun") else {
            throw XCTSkip("mpirun not installed (deploy/setup.sh installs openmpi-bin): multi-process tests skipped")
        }
        return mpirun
    }

    static var isRoot: Bool { getuid() == 0 }

    /// Runs `arguments` under coreutils `timeout` (a hang ends as status 124), output of both streams together.
    static func run(_ arguments: [String], timeout seconds: Int, environment extra: [String: String] = [:]) throws -> RunResult {
        let r = try ProcessHarness.run(arguments, timeout: seconds, environment: extra)
        return RunResult(status: r.status, output: r.output)
    }

    /// mpirun on this host with shared memory, oversubscribing when asked for more ranks than cores.
    static func mpirun(np: Int, _ arguments: [String], timeout: Int = 60) throws -> RunResult {
        _ = try requireMpirun()  // skips the test where mpirun is missing
        let r = try ProcessHarness.mpirun(np: np, [try clusterCheck().path] + arguments, timeout: timeout)
        return RunResult(status: r.status, output: r.output)
    }
}
