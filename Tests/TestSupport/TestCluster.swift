import Foundation

/// The namespace test cluster (deploy/testcluster.sh): N "hosts" on this machine joined by a bridge.
public enum TestCluster {
    public enum Unavailable: Error, CustomStringConvertible {
        case reason(String)
        public var description: String { if case let .reason(r) = self { return r }; return "" }
    }

    /// Brings up `nodes` hosts, runs `body` with the mpirun arguments that launch across them, and always
    /// takes them down again. One cluster at a time on this machine: a lock file serializes users.
    /// Throws `Unavailable` when this machine cannot make namespaces (not root, no iproute2, not permitted).
    public static func with<T>(nodes: Int, _ body: (_ mpirunArguments: [String]) throws -> T) throws -> T {
        guard getuid() == 0 else { throw Unavailable.reason("the namespace cluster needs root (ip netns)") }
        guard ProcessHarness.which("ip") != nil else { throw Unavailable.reason("iproute2 (ip) is not installed") }
        guard let mpirun = ProcessHarness.which("mpirun") else { throw Unavailable.reason("mpirun is not installed") }
        let root = ProcessHarness.packageRoot
        let script = root.appendingPathComponent("deploy/testcluster.sh").path
        let lock = open("/tmp/simclr-testcluster.lock", O_CREAT | O_RDWR, 0o644)
        flock(lock, LOCK_EX)
        defer { flock(lock, LOCK_UN); close(lock) }
        let up = try ProcessHarness.run([script, "up", String(nodes)], timeout: 60)
        defer { _ = try? ProcessHarness.run([script, "down"], timeout: 60) }
        guard up.status == 0 else {
            throw Unavailable.reason("deploy/testcluster.sh up \(nodes) failed: \(up.output)")
        }
        return try body([mpirun, "--hostfile", root.appendingPathComponent("hostfiles/testcluster-generated").path,
                         "-np", String(nodes), "--bind-to", "none",
                         "--mca", "plm_rsh_agent", root.appendingPathComponent("deploy/netns-agent.sh").path,
                         "--mca", "btl", "tcp,self", "--mca", "btl_tcp_if_include", "10.77.0.0/24",
                         "--mca", "oob_tcp_if_include", "10.77.0.0/24"])
    }
}
