import Foundation
import TestSupport
import XCTest

/// deploy/launch.sh when a job goes wrong: a stop requested while the job starts, a link cut between two
/// namespace hosts, a host that dies (restarts). The namespace cases need root and hold the test-cluster lock.
final class LauncherTests: XCTestCase {
    private static var workDir: URL!

    private var simclr: String { get throws { try ProcessHarness.executable("simclr").path } }
    private var launcher: String { ProcessHarness.packageRoot.appendingPathComponent("deploy/launch.sh").path }

    override class func setUp() {
        workDir = FileManager.default.temporaryDirectory.appendingPathComponent("launcher-\(UUID().uuidString)")
        try? FileManager.default.createDirectory(at: workDir, withIntermediateDirectories: true)
    }

    override class func tearDown() { try? FileManager.default.removeItem(at: workDir) }

    private func path(_ name: String) -> String { Self.workDir.appendingPathComponent(name).path }

    private func pretrain(_ out: String, steps: Int) throws -> [String] {
        let data = path("data")
        if !FileManager.default.fileExists(atPath: data + "/cifar-10-batches-bin/test_batch.bin") {
            let r = try ProcessHarness.run([try simclr, "synth", "--out", data, "--train-count", "64", "--test-count", "8"])
            XCTAssertEqual(r.status, 0, r.output)
        }
        return ["pretrain", "--data", data, "--out", path(out), "--width", "0.125", "--proj-dims", "32,16",
                "--batch-size", "16", "--steps", String(steps), "--threads", "1", "--workers", "0",
                "--warmup-epochs", "0", "--lr", "0.05", "--log-every", "1"]
    }

    private func stepsLogged(_ out: String) -> Int {
        let text = (try? String(contentsOfFile: path(out) + "/metrics.csv", encoding: .utf8)) ?? ""
        return max(0, text.split(separator: "\n").count - 1)
    }

    private func weights(_ out: String) throws -> [String: [Float]] {
        try SafetensorsFloats.read(URL(fileURLWithPath: path(out) + "/model.safetensors"))
    }

    /// The processes in a test-cluster node's network namespace.
    private func processes(in node: String) throws -> [String] {
        try ProcessHarness.run(["/usr/sbin/ip", "netns", "pids", node], timeout: 30).output
            .split(separator: "\n").map(String.init)
    }

    private func withTwoNodes(_ body: () throws -> Void) throws {
        do {
            try TestCluster.with(nodes: 2) { _ in try body() }
        } catch let unavailable as TestCluster.Unavailable {
            throw XCTSkip("namespace cluster unavailable: \(unavailable)")
        }
    }

    private func ip(_ arguments: [String]) throws {
        let r = try ProcessHarness.run(["/usr/sbin/ip"] + arguments, timeout: 30)
        XCTAssertEqual(r.status, 0, "ip \(arguments.joined(separator: " ")): \(r.output)")
    }

    // MARK: signals

    /// SIGTERM in the launcher's first 0.3 s ended it with 140: the SIGUSR2 meant for the ranks killed an
    /// mpirun that had not yet set up its handlers. A stop at any moment of the start must end with 143.
    func testAStopWhileTheJobStartsEndsWithTheSignalsStatus() throws {
        for delay in [0.02, 0.2, 0.5, 1.5] {
            let out = "early-\(delay)"
            let job = try BackgroundProcess([launcher, "-n", "2", "--bind", "none", "--program", try simclr, "--"]
                                            + pretrain(out, steps: 100_000))
            defer { job.terminate() }
            Thread.sleep(forTimeInterval: delay)
            kill(job.pid, SIGTERM)
            XCTAssertEqual(try job.wait(timeout: 60), 143, "SIGTERM \(delay) s after the start:\n\(job.output)")
        }
    }

    /// A Ctrl-C through the launcher is a clean stop (checkpoint, exit 130), yet it ended with mpirun's two
    /// notices that a process "exited with non-zero status". The launcher leaves them out for 130 and 143 and
    /// keeps them for every other status.
    func testACleanStopEndsWithoutMPIsFailureNotices() throws {
        let notice = "exited with non-zero status"
        let job = try BackgroundProcess([launcher, "-n", "2", "--bind", "none", "--program", try simclr, "--"]
                                        + pretrain("clean-stop", steps: 100_000) + ["--progress", "lines"])
        defer { job.terminate() }
        try job.waitUntil(timeout: 120, "the first steps") { stepsLogged("clean-stop") >= 2 }
        kill(job.pid, SIGINT)
        XCTAssertEqual(try job.wait(timeout: 60), 130, job.output)
        XCTAssertFalse(job.output.contains(notice), job.output)
        XCTAssertFalse(job.output.contains("Primary job"), job.output)

        let failing = try BackgroundProcess([launcher, "-n", "2", "--bind", "none", "--program", "/bin/bash", "--",
                                             "-c", "sleep 0.5; exit 3"])
        defer { failing.terminate() }
        XCTAssertEqual(try failing.wait(timeout: 60), 3, failing.output)
        XCTAssertTrue(failing.output.contains(notice), failing.output)
        XCTAssertTrue(failing.output.contains("Exit code:    3"), failing.output)
    }

    // MARK: a cut link

    /// A link cut between two hosts: both ranks time out, but mpirun waited forever for the daemon behind
    /// the cut (killed by hand after 238 s). The launcher's watchdog now ends the job --end-grace seconds after
    /// the first failure report, with status 1 and the ranks' message, and leaves nothing on the host it can
    /// still reach.
    func testACutLinkEndsTheJobWithinTheDeadlineAndTheGrace() throws {
        try withTwoNodes {
            let out = "cut"
            let job = try BackgroundProcess([launcher, "--testcluster", "--end-grace", "5", "--program", try simclr, "--"]
                                            + pretrain(out, steps: 100_000) + ["--collective-timeout", "5"])
            defer { job.terminate() }
            try job.waitUntil(timeout: 120, "two steps logged") { stepsLogged(out) >= 2 }
            try ip(["-n", "sc-node2", "link", "set", "eth0", "down"])
            let cut = Date()
            let status = try job.wait(timeout: 5 + 60)
            let waited = Date().timeIntervalSince(cut)
            XCTAssertEqual(status, 1, job.output)
            // 5 s, or 4 x 5 s when the cut falls in the step after a checkpoint (CollectiveDeadline.slowFactor: rank 0
            // writes while the others wait; here an epoch is 4 steps and each epoch ends with a checkpoint).
            XCTAssertTrue(["timed out after 5 s", "timed out after 20 s"].contains { job.output.contains($0) }, job.output)
            XCTAssertTrue(job.output.contains("launch: mpirun stopped by the watchdog; the job failed: [rank 0 of 2 on sc-node1]"), job.output)
            XCTAssertLessThan(waited, 5 + 60, job.output)
            XCTAssertEqual(try processes(in: "sc-node1"), [], "the job left processes on the host that answers")
            print("cut link: the launcher ended \(String(format: "%.1f", waited)) s after the cut")
        }
    }

    // MARK: binding

    /// The test cluster's nodes are namespaces of one machine: `--bind-to core` would put every node's rank on
    /// core 0, and unbound ranks float over all cores (overlap then slowed compute more). When the ranks fit on
    /// the cores, the launcher binds rank i to core i (a rankfile); `--bind none` still leaves them unbound.
    func testOnTheTestClusterRankIIsBoundToCoreI() throws {
        guard ProcessInfo.processInfo.activeProcessorCount >= 2 else { throw XCTSkip("needs 2 cores") }
        let script = #"echo "rank $OMPI_COMM_WORLD_RANK: $(grep Cpus_allowed_list /proc/self/status | cut -f2)""#
        func allowedCores(_ options: [String]) throws -> [String] {
            let r = try ProcessHarness.run([launcher, "--testcluster", "-n", "2"] + options
                                           + ["--program", "/bin/sh", "--", "-c", script], timeout: 120)
            XCTAssertEqual(r.status, 0, r.output)
            return r.output.split(separator: "\n").filter { $0.hasPrefix("rank ") }.map(String.init).sorted()
        }
        try withTwoNodes {
            XCTAssertEqual(try allowedCores([]), ["rank 0: 0", "rank 1: 1"])
            let all = "0-\(ProcessInfo.processInfo.activeProcessorCount - 1)"
            XCTAssertEqual(try allowedCores(["--bind", "none"]), ["rank 0: \(all)", "rank 1: \(all)"])
        }
    }

    // MARK: restarts

    /// A host dies mid-run (link down, its processes killed): with --max-restarts 1 the launcher starts the job
    /// again on the host that still answers, with one rank, from the last checkpoint, and the run ends with the
    /// model the same job gives without the failure (within the tolerance of the tests that resume on another
    /// rank count).
    func testARestartContinuesOnTheHostThatAnswersAndEndsWithTheSameModel() throws {
        let steps = 8
        let straight = try ProcessHarness.mpirun(np: 2, [try simclr] + pretrain("restart-straight", steps: steps))
        XCTAssertEqual(straight.status, 0, straight.output)
        try withTwoNodes {
            let out = "restarted"
            let job = try BackgroundProcess([launcher, "--testcluster", "--end-grace", "5", "--max-restarts", "1",
                                             "--program", try simclr, "--"]
                                            + pretrain(out, steps: steps) + ["--save-every", "2", "--collective-timeout", "5"])
            defer { job.terminate() }
            try job.waitUntil(timeout: 120, "five steps logged") { stepsLogged(out) >= 5 }
            try ip(["-n", "sc-node2", "link", "set", "eth0", "down"])
            for pid in try processes(in: "sc-node2") { if let p = pid_t(pid) { kill(p, SIGKILL) } }
            XCTAssertEqual(try job.wait(timeout: 180), 0, job.output)
            let log = job.output
            XCTAssertTrue(log.range(of: #"launch: restart 1 of 1 after exit status \d+ \("#, options: .regularExpression) != nil, log)
            XCTAssertTrue(log.range(of: #"from step [2468], on 1 rank\(s\): 10\.77\.0\.1"#, options: .regularExpression) != nil, log)
            XCTAssertTrue(log.contains("(written by 2 ranks, continued on 1)"), log)
            XCTAssertTrue(log.contains("finished \(steps) steps"), log)
        }
        let diff = WeightDifference.modelRelative(try weights("restart-straight"), try weights("restarted"))
        XCTAssertLessThan(diff, 1e-3, "the restarted run differs from the uninterrupted one")
    }
}
