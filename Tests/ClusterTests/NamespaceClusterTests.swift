import Foundation
import XCTest

/// Two "hosts" as network namespaces on a bridge (deploy/testcluster.sh), with cluster-check run across
/// them over TCP by mpirun using deploy/netns-agent.sh as its launch agent.
final class NamespaceClusterTests: XCTestCase {
    func testClusterCheckAcrossTwoNamespaceHosts() throws {
        guard ClusterHarness.isRoot else { throw XCTSkip("namespace cluster needs root (ip netns); skipped") }
        guard ClusterHarness.which("ip") != nil else { throw XCTSkip("iproute2 (ip) not installed; namespace cluster skipped") }
        let mpirun = try ClusterHarness.requireMpirun()
        let binary = try ClusterHarness.clusterCheck()
        let root = ClusterHarness.packageRoot
        let script = root.appendingPathComponent("deploy/testcluster.sh").path
        let agent = root.appendingPathComponent("deploy/netns-agent.sh").path
        let hostfile = root.appendingPathComponent("hostfiles/testcluster-generated").path

        // One test cluster at a time on this machine (other checkouts' tests use the same names).
        let lock = open("/tmp/simclr-testcluster.lock", O_CREAT | O_RDWR, 0o644)
        XCTAssertGreaterThanOrEqual(lock, 0)
        flock(lock, LOCK_EX)
        defer { flock(lock, LOCK_UN); close(lock) }

        let up = try ClusterHarness.run([script, "up", "2"], timeout: 60)
        defer {
            let down = try? ClusterHarness.run([script, "down"], timeout: 60)
            XCTAssertEqual(down?.status, 0, "testcluster down failed: \(down?.output ?? "")")
        }
        if up.status != 0 && up.output.contains("Operation not permitted") {
            throw XCTSkip("network namespaces not permitted here: \(up.output)")
        }
        XCTAssertEqual(up.status, 0, up.output)
        guard up.status == 0 else { return }

        let command = [
            mpirun, "--hostfile", hostfile, "-np", "2", "--bind-to", "none",
            "--mca", "plm_rsh_agent", agent, "--mca", "btl", "tcp,self",
            "--mca", "btl_tcp_if_include", "10.77.0.0/24", "--mca", "oob_tcp_if_include", "10.77.0.0/24",
            binary.path,
        ]
        var result = try ClusterHarness.run(command, timeout: 60)
        // Rarely (under 1 launch in 300 here, seen on a loaded machine) a daemon never reports back to
        // mpirun. That is OpenMPI's launch, not our code: retry once, and only for that failure.
        if result.timedOut && result.output.contains("unable to reliably start one or more daemons") {
            print("namespace cluster: daemon launch failed, retrying once:\n\(result.output)")
            result = try ClusterHarness.run(command, timeout: 60)
        }
        ClusterCheckTests.assertAllPassed(result, ranks: 2)
        // Each rank runs on its own "host" (the agent names it after the namespace) and is alone there.
        XCTAssertEqual(result.lines(startingWith: "INFO rank 0: sc-node1 local 0/1").count, 1, result.output)
        XCTAssertEqual(result.lines(startingWith: "INFO rank 1: sc-node2 local 0/1").count, 1, result.output)
    }
}
