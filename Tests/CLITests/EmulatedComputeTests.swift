import Foundation
import TestSupport
import XCTest

/// `simclr bench --profile-out FILE` writes one rank's step profile; `bench --distributed --emulate FILE` replays
/// it on 2 ranks by sleeping, with the real collectives (SyncBN reductions, the gather, the gradient buckets),
/// and refuses a profile of another model or batch.
final class EmulatedComputeTests: XCTestCase {
    private let small = ["--no-roofline", "--width", "0.125", "--proj-dims", "32,16", "--image-size", "16", "--threads", "1",
                         "--warmup", "1", "--steps", "2"]

    private func profile(in dir: URL) throws -> (url: URL, json: [String: Any]) {
        let url = dir.appendingPathComponent("profile.json")
        let run = try runSimclr(["bench", "--profile-out", url.path, "--batch-size", "4"] + small, in: dir)
        XCTAssertEqual(run.status, 0, run.stdout + run.stderr)
        let json = try XCTUnwrap(try JSONSerialization.jsonObject(with: Data(contentsOf: url)) as? [String: Any])
        return (url, json)
    }

    func testProfileHasEveryPointWhereTheStepMeetsCommunication() throws {
        let dir = try makeTemporaryDirectory(self)
        let (_, json) = try profile(in: dir)
        XCTAssertEqual(json["format"] as? String, "simclr-step-timeline")
        let events = try XCTUnwrap(json["events"] as? [[String: Any]])
        let parameters = try XCTUnwrap(json["parameters"] as? [[String: Any]])
        func kinds(_ k: String) -> [[String: Any]] { events.filter { $0["kind"] as? String == k } }
        // ResNet-18's 20 BatchNorms reduce once forward and once backward; every parameter is reported once.
        XCTAssertEqual(kinds("syncbn").count, 40)
        XCTAssertEqual(kinds("ready").count, parameters.count)
        XCTAssertEqual(Set(kinds("ready").compactMap { $0["count"] as? Int }), Set(0..<parameters.count))
        for k in ["gather", "gather-backward", "finish-gradients", "totals"] { XCTAssertEqual(kinds(k).count, 1, k) }
        XCTAssertEqual(kinds("gather").first?["count"] as? Int, 8, "rows per rank: both views of 4 images")
        let seconds = events.compactMap { $0["computeSeconds"] as? Double }
        XCTAssertEqual(seconds.count, events.count)
        XCTAssertTrue(seconds.allSatisfy { $0 >= 0 })
        XCTAssertGreaterThan(seconds.reduce(0, +), 0.001, "a step of compute")
    }

    func testTwoRanksReplayTheProfileWithRealCollectives() throws {
        let dir = try makeTemporaryDirectory(self)
        let (url, json) = try profile(in: dir)
        let replayed = (json["events"] as? [[String: Any]] ?? []).compactMap { $0["computeSeconds"] as? Double }.reduce(0, +)
        let trace = dir.appendingPathComponent("trace.json")
        let run = try ProcessHarness.mpirun(np: 2, [try simclrExecutable().path, "bench", "--distributed", "--emulate", url.path,
                                                    "--batch-size", "8", "--no-overlap-baseline", "--json", "--trace", trace.path] + small)
        XCTAssertEqual(run.status, 0, run.output)
        let line = try XCTUnwrap(run.output.split(separator: "\n").first { $0.hasPrefix("{") }, run.output)
        let report = try XCTUnwrap(try JSONSerialization.jsonObject(with: Data(line.utf8)) as? [String: Any])
        XCTAssertEqual(report["emulated"] as? Bool, true)
        // mpirun --bind-to none: the ranks are bound to one core only if this test is.
        XCTAssertEqual(report["emulated_cpu_sharing"] as? String, boundToOneCore() ? "core" : "thread")
        XCTAssertEqual(report["world_size"] as? Int, 2)
        let msPerStep = try XCTUnwrap(report["ms_per_step"] as? Double)
        // A step sleeps at least the replayed compute (the loss's share is the one-rank measurement; the rest as measured).
        XCTAssertGreaterThanOrEqual(msPerStep, 0.9 * replayed * 1000, run.output)
        let payload = try XCTUnwrap(report["grad_payload_mb"] as? Double)
        XCTAssertGreaterThan(payload, 0)

        // Scaled by 4, the gradients travel at a quarter of their size (each parameter rounded up to an element).
        let scaled = try ProcessHarness.mpirun(np: 2, [try simclrExecutable().path, "bench", "--distributed", "--emulate", url.path,
                                                       "--batch-size", "8", "--no-overlap-baseline", "--json", "--emulate-scale", "4"] + small)
        XCTAssertEqual(scaled.status, 0, scaled.output)
        let scaledLine = try XCTUnwrap(scaled.output.split(separator: "\n").first { $0.hasPrefix("{") }, scaled.output)
        let scaledReport = try XCTUnwrap(try JSONSerialization.jsonObject(with: Data(scaledLine.utf8)) as? [String: Any])
        XCTAssertEqual(scaledReport["emulate_scale"] as? Int, 4)
        let parameters = (json["parameters"] as? [[String: Any]] ?? []).count
        XCTAssertEqual(try XCTUnwrap(scaledReport["grad_payload_mb"] as? Double), payload / 4, accuracy: Double(parameters) * 4e-6 + 1e-3)
        XCTAssertGreaterThanOrEqual(try XCTUnwrap(scaledReport["ms_per_step"] as? Double), 0.9 * replayed * 1000)

        // The collectives are real: every SyncBN reduction is an all-reduce, the buckets go as non-blocking chunks.
        let object = try JSONSerialization.jsonObject(with: Data(contentsOf: trace)) as? [String: Any]
        let events = try XCTUnwrap(object?["traceEvents"] as? [[String: Any]])
        for rank in 0..<2 {
            let spans = events.filter { $0["pid"] as? Int == rank && $0["ph"] as? String == "X" }
            func named(_ test: (String) -> Bool) -> Int { spans.filter { test($0["name"] as? String ?? "") }.count }
            XCTAssertEqual(named { $0.hasPrefix("syncbn ") }, 2 * 40, "rank \(rank): 40 SyncBN reductions per step")
            XCTAssertEqual(named { $0 == "allreduce" }, 2 * (40 + 3),
                           "rank \(rank): per step SyncBN's 40, the gather backward's, the totals, the chunk-size agreement")
            XCTAssertGreaterThan(named { $0 == "iallreduce" }, 0, "rank \(rank): no gradient chunk")
            XCTAssertEqual(named { $0 == "allgather" }, 2, "rank \(rank): one embedding gather per step")
        }
    }

    /// Two ranks without overlap write one profile (rank 0's: the compute of ranks kept in step by SyncBN, no
    /// gradient traffic during it), which replays like a one-rank profile.
    func testTwoRanksWithoutOverlapWriteAProfileInStep() throws {
        let dir = try makeTemporaryDirectory(self)
        let url = dir.appendingPathComponent("in-step.json")
        let run = try ProcessHarness.mpirun(np: 2, [try simclrExecutable().path, "bench", "--distributed", "--no-overlap",
                                                    "--profile-out", url.path, "--batch-size", "8"] + small)
        XCTAssertEqual(run.status, 0, run.output)
        let json = try XCTUnwrap(try JSONSerialization.jsonObject(with: Data(contentsOf: url)) as? [String: Any])
        let events = try XCTUnwrap(json["events"] as? [[String: Any]])
        XCTAssertEqual(events.filter { $0["kind"] as? String == "syncbn" }.count, 40)
        XCTAssertEqual(events.first { $0["kind"] as? String == "gather" }?["count"] as? Int, 8, "rows per rank")
        let losses = try XCTUnwrap(json["lossTimes"] as? [[String: Any]])
        XCTAssertEqual(losses.first?["world"] as? Int, 2, "the loss was timed on 2 ranks")
        let replay = try ProcessHarness.mpirun(np: 2, [try simclrExecutable().path, "bench", "--distributed", "--emulate", url.path,
                                                       "--batch-size", "8", "--no-overlap-baseline", "--json"] + small)
        XCTAssertEqual(replay.status, 0, replay.output)
        XCTAssertTrue(replay.output.contains("\"emulated\": true"), replay.output)
    }

    /// `--emulate-real-rank R`: rank R runs the real step while the others replay; with --profile-out it writes its
    /// compute as it ran in step (overlap on: what the communication took from it is in the gaps), a profile
    /// that replays like any other.
    func testOneRealRankAmongReplayingOnesWritesItsInStepProfile() throws {
        let dir = try makeTemporaryDirectory(self)
        let (url, json) = try profile(in: dir)
        let inStep = dir.appendingPathComponent("in-step.json")
        func report(_ arguments: [String]) throws -> [String: Any] {
            let run = try ProcessHarness.mpirun(np: 2, [try simclrExecutable().path, "bench", "--distributed", "--emulate", url.path,
                                                        "--batch-size", "8", "--no-overlap-baseline", "--json"] + small + arguments)
            XCTAssertEqual(run.status, 0, run.output)
            let line = try XCTUnwrap(run.output.split(separator: "\n").first { $0.hasPrefix("{") }, run.output)
            return try XCTUnwrap(try JSONSerialization.jsonObject(with: Data(line.utf8)) as? [String: Any])
        }
        let real = try report(["--emulate-real-rank", "0", "--profile-out", inStep.path])
        XCTAssertEqual(real["emulated"] as? Bool, true)
        XCTAssertEqual(real["emulate_real_rank"] as? Int, 0)
        XCTAssertNil(real["ms_replayed_compute"], "rank 0 computed: nothing replayed there")
        XCTAssertGreaterThan(try XCTUnwrap(real["ms_conv"] as? Double), 0, "rank 0 ran its convolutions")
        // The report is rank 0's: with rank 1 real, rank 0 replays and runs no convolution.
        let replaying = try report(["--emulate-real-rank", "1"])
        XCTAssertEqual(replaying["emulate_real_rank"] as? Int, 1)
        XCTAssertNotNil(replaying["ms_replayed_compute"])
        XCTAssertEqual(replaying["ms_conv"] as? Double, 0)

        let written = try XCTUnwrap(try JSONSerialization.jsonObject(with: Data(contentsOf: inStep)) as? [String: Any])
        let events = try XCTUnwrap(written["events"] as? [[String: Any]])
        XCTAssertEqual(events.filter { $0["kind"] as? String == "syncbn" }.count, 40)
        XCTAssertEqual(events.filter { $0["kind"] as? String == "ready" }.count, (json["parameters"] as? [Any])?.count)
        XCTAssertEqual((written["lossTimes"] as? [[String: Any]])?.first?["world"] as? Int, 2, "the loss was timed on 2 ranks")
        XCTAssertGreaterThan(events.compactMap { $0["computeSeconds"] as? Double }.reduce(0, +), 0.001)
        let replay = try ProcessHarness.mpirun(np: 2, [try simclrExecutable().path, "bench", "--distributed", "--emulate", inStep.path,
                                                       "--batch-size", "8", "--no-overlap-baseline", "--json"] + small)
        XCTAssertEqual(replay.status, 0, replay.output)

        for (arguments, message) in [(["--emulate-real-rank", "0"], "--emulate-real-rank applies to emulated compute"),
                                     (["--emulate", url.path, "--emulate-real-rank", "0", "--emulate-scale", "2"], "leave --emulate-scale at 1"),
                                     (["--emulate", url.path, "--emulate-real-rank=-1"], "--emulate-real-rank must be a rank (0 or more), not -1"),
                                     (["--emulate", url.path, "--emulate-real-rank", "0"], "needs several ranks")] {
            let run = try runSimclr(["bench", "--batch-size", "4"] + small + arguments, in: dir)
            XCTAssertNotEqual(run.status, 0, "\(arguments)")
            XCTAssertTrue(run.stderr.contains(message), "\(arguments): " + run.stdout + run.stderr)
        }
    }

    /// Bound to one core, replayed compute ends later by what else ran there: beside a busy loop on that core
    /// a step takes about twice its compute (the loop's fair half), and without the stretch about its compute.
    func testReplayedComputeIsStretchedByWhatElseRunsOnItsCore() throws {
        let dir = try makeTemporaryDirectory(self)
        let (url, json) = try profile(in: dir)
        let replayed = (json["events"] as? [[String: Any]] ?? []).compactMap { $0["computeSeconds"] as? Double }.reduce(0, +)
        let taskset = try XCTUnwrap(ProcessHarness.which("taskset"), "taskset (util-linux) is needed")
        let loop = Process()
        loop.executableURL = URL(fileURLWithPath: taskset)
        loop.arguments = ["-c", "0", "/bin/sh", "-c", "while :; do :; done"]
        try loop.run()
        defer { loop.terminate(); loop.waitUntilExit() }
        func bench(_ extra: [String]) throws -> [String: Any] {
            let run = try ProcessHarness.run([taskset, "-c", "0", try simclrExecutable().path, "bench", "--emulate", url.path,
                                              "--batch-size", "4", "--json"] + small + extra)
            XCTAssertEqual(run.status, 0, run.output)
            let line = try XCTUnwrap(run.output.split(separator: "\n").first { $0.hasPrefix("{") }, run.output)
            return try XCTUnwrap(try JSONSerialization.jsonObject(with: Data(line.utf8)) as? [String: Any])
        }
        let stretched = try bench([])
        XCTAssertEqual(stretched["emulated_cpu_sharing"] as? String, "core")
        let stretchedMs = try XCTUnwrap(stretched["ms_per_step"] as? Double)
        XCTAssertGreaterThanOrEqual(stretchedMs, 1.5 * replayed * 1000, "the busy loop's half of the core was not added")
        // bench's account of the rank's CPU: bound to core 0, which the busy loop never let idle, so the core was
        // busy for the whole interval the account covers (`ms_wall` per step; not the median step above, which
        // on a loaded machine can lie far from the mean of two steps).
        let host = try XCTUnwrap(stretched["host"] as? [String: Any])
        XCTAssertEqual(host["core"] as? Int, 0)
        let wall = try XCTUnwrap(host["ms_wall"] as? Double)
        XCTAssertGreaterThanOrEqual(wall, 1.5 * replayed * 1000, "the interval covers the stretched steps: \(host)")
        XCTAssertGreaterThanOrEqual(try XCTUnwrap(host["ms_core_busy"] as? Double), 0.9 * wall, "\(host)")
        XCTAssertLessThan(try XCTUnwrap(host["ms_main_thread_cpu"] as? Double), 0.5 * wall, "the replay sleeps: \(host)")
        // What the pacer added for the busy loop: it wanted the core whenever the replay slept, so each stretch
        // was lengthened by half its elapsed time, the replayed compute once more in all (more under load: it
        // is capped by elapsed time, which load only lengthens). Without sharing nothing is added. (Comparing
        // the two runs' step times instead failed under load: they run one after the other.)
        XCTAssertGreaterThanOrEqual(try XCTUnwrap(stretched["ms_replay_stretch"] as? Double), 0.5 * replayed * 1000, "\(stretched)")
        let plain = try bench(["--emulate-cpu-sharing", "none"])
        XCTAssertEqual(plain["emulated_cpu_sharing"] as? String, "none")
        XCTAssertEqual(plain["ms_replay_stretch"] as? Double, 0)
    }

    /// --emulate-slowdown F: every replayed stretch takes F times its profiled compute.
    func testAMeasuredSlowdownLengthensReplayedCompute() throws {
        let dir = try makeTemporaryDirectory(self)
        let (url, json) = try profile(in: dir)
        let replayed = (json["events"] as? [[String: Any]] ?? []).compactMap { $0["computeSeconds"] as? Double }.reduce(0, +)
        func bench(_ extra: [String]) throws -> [String: Any] {
            let run = try runSimclr(["bench", "--emulate", url.path, "--batch-size", "4", "--json", "--emulate-cpu-sharing", "none"] + small + extra,
                                    in: dir)
            XCTAssertEqual(run.status, 0, run.stdout + run.stderr)
            let line = try XCTUnwrap(run.stdout.split(separator: "\n").first { $0.hasPrefix("{") }, run.stdout)
            return try XCTUnwrap(try JSONSerialization.jsonObject(with: Data(line.utf8)) as? [String: Any])
        }
        let slowed = try bench(["--emulate-slowdown", "4"])
        XCTAssertEqual(slowed["emulate_slowdown"] as? Double, 4)
        let slowedMs = try XCTUnwrap(slowed["ms_per_step"] as? Double)
        XCTAssertGreaterThanOrEqual(slowedMs, 3.9 * replayed * 1000)
        let plain = try bench([])
        XCTAssertEqual(plain["emulate_slowdown"] as? Double, 1)
        // Three more profiles' worth of sleep per step (what else the step does is the same in both).
        XCTAssertGreaterThanOrEqual(slowedMs - (try XCTUnwrap(plain["ms_per_step"] as? Double)), 2 * replayed * 1000)
        let tooSmall = try runSimclr(["bench", "--emulate", url.path, "--batch-size", "4", "--emulate-slowdown", "0.1"] + small, in: dir)
        XCTAssertNotEqual(tooSmall.status, 0)
        XCTAssertTrue(tooSmall.stderr.contains("--emulate-slowdown must lie in 0.5...4"), tooSmall.stdout + tooSmall.stderr)
        let alone = try runSimclr(["bench", "--batch-size", "4", "--emulate-slowdown", "1.2"] + small, in: dir)
        XCTAssertNotEqual(alone.status, 0)
        XCTAssertTrue(alone.stderr.contains("--emulate-slowdown applies to emulated compute"), alone.stdout + alone.stderr)
    }

    private func boundToOneCore() -> Bool {
        let status = (try? String(contentsOfFile: "/proc/self/status", encoding: .utf8)) ?? ""
        let line = status.split(separator: "\n").first { $0.hasPrefix("Cpus_allowed_list:") } ?? ""
        return Int(line.dropFirst("Cpus_allowed_list:".count).trimmingCharacters(in: .whitespaces)) != nil
    }

    func testAProfileOfAnotherModelOrBatchIsRefused() throws {
        let dir = try makeTemporaryDirectory(self)
        let (url, _) = try profile(in: dir)
        let wider = try runSimclr(["bench", "--emulate", url.path, "--batch-size", "4"] + small.map { $0 == "0.125" ? "0.25" : $0 }, in: dir)
        XCTAssertNotEqual(wider.status, 0)
        XCTAssertTrue(wider.stderr.contains("--emulate: the profile was measured for") && wider.stderr.contains("width 0.125 vs 0.25"),
                      wider.stdout + wider.stderr)
        let otherBatch = try ProcessHarness.mpirun(np: 2, [try simclrExecutable().path, "bench", "--distributed", "--emulate", url.path,
                                                           "--batch-size", "4"] + small)
        XCTAssertNotEqual(otherBatch.status, 0)
        XCTAssertTrue(otherBatch.output.contains("batch per rank 4 vs 2"), otherBatch.output)
        let underMPI = try ProcessHarness.mpirun(np: 2, [try simclrExecutable().path, "bench", "--distributed", "--profile-out",
                                                         dir.appendingPathComponent("p2.json").path, "--batch-size", "8"] + small)
        XCTAssertNotEqual(underMPI.status, 0)
        XCTAssertTrue(underMPI.output.contains("--profile-out on 2 ranks: give --no-overlap"), underMPI.output)
        let powerSGD = try runSimclr(["bench", "--emulate", url.path, "--batch-size", "4", "--emulate-scale", "2",
                                      "--grad-compression", "powersgd"] + small, in: dir)
        XCTAssertNotEqual(powerSGD.status, 0)
        XCTAssertTrue(powerSGD.stderr.contains("PowerSGD's messages do not shrink"), powerSGD.stdout + powerSGD.stderr)
        let scaleAlone = try runSimclr(["bench", "--batch-size", "4", "--emulate-scale", "2"] + small, in: dir)
        XCTAssertNotEqual(scaleAlone.status, 0)
        XCTAssertTrue(scaleAlone.stderr.contains("--emulate-scale applies to emulated compute"), scaleAlone.stdout + scaleAlone.stderr)
    }
}
