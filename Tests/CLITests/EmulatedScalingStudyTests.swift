import Foundation
import TestSupport
import XCTest

/// `deploy/scaling.sh --emulate PROFILE` on the namespace test cluster: the 2-rank row replays the profile (with
/// the link's measured slowdown), the 1-rank baseline computes for real, and scaling.csv says so in its last
/// columns with the host's CPU use; bad combinations are refused before anything runs.
final class EmulatedScalingStudyTests: XCTestCase {
    private let script = ProcessHarness.packageRoot.appendingPathComponent("deploy/scaling.sh").path

    func testEmulatedRowsAreMarkedWithTheirScaleSlowdownAndHostCPU() throws {
        guard getuid() == 0, ProcessHarness.which("ip") != nil else { throw XCTSkip("the namespace cluster needs root and iproute2") }
        let dir = try makeTemporaryDirectory(self)
        let profile = dir.appendingPathComponent("profile.json").path
        let made = try runSimclr(["bench", "--profile-out", profile, "--batch-size", "2", "--width", "0.125", "--threads", "1",
                                  "--steps", "2", "--warmup", "1", "--no-roofline"], in: dir)
        XCTAssertEqual(made.status, 0, made.stdout + made.stderr)
        // A small sweep of a fast link (20 us + 0.01 ns per byte), so the model's W = 2 step is its compute
        // times the compute factor, plus little.
        var sweep = "link,world,algorithm,collective,ranks,bytes,iterations,seconds\n"
        for w in [2, 4] {
            for bytes in [8, 1 << 10, 1 << 20, 8 << 20] {
                let seconds = String(format: "%.9f", 20e-6 + Double(bytes) * 1e-11)
                sweep += "1gbit,\(w),nbc:3,allreduce,\(w),\(bytes),10,\(seconds)\n1gbit,\(w),nbc:2,allgather,\(w),\(bytes),10,\(seconds)\n"
            }
        }
        let sweepFile = dir.appendingPathComponent("sweep.csv")
        try sweep.write(to: sweepFile, atomically: true, encoding: .utf8)
        // scaling.sh takes the cluster's lock itself.
        let run = try ProcessHarness.run([script, "--links", "1gbit", "--max-ranks", "2", "--per-rank-batch", "2", "--width", "0.125",
                                          "--steps", "1", "--modes", "weak", "--emulate", profile, "--emulate-slowdown", "1gbit=1.25",
                                          "--emulate-sharing", "none", "--predict", sweepFile.path, "--emulate-scale", "10gbit=4",
                                          "--out", dir.appendingPathComponent("study").path], timeout: 300)
        if run.output.contains("Operation not permitted") { throw XCTSkip("network namespaces not permitted here: \(run.output)") }
        XCTAssertEqual(run.status, 0, run.output)
        let text = try String(contentsOf: dir.appendingPathComponent("study/scaling.csv"), encoding: .utf8)
        let lines = text.split(separator: "\n").map { $0.split(separator: ",", omittingEmptySubsequences: false).map(String.init) }
        let header = try XCTUnwrap(lines.first)
        XCTAssertEqual(Array(header.suffix(6)), ["emulated", "emulate_scale", "emulate_slowdown", "host_cpu", "cpu_bound", "predicted_ms_per_step"])
        func row(ranks: String) throws -> [String: String] {
            let values = try XCTUnwrap(lines.dropFirst().first { $0[header.firstIndex(of: "ranks")!] == ranks }, text)
            return Dictionary(uniqueKeysWithValues: zip(header, values))
        }
        let one = try row(ranks: "1"), two = try row(ranks: "2")
        XCTAssertEqual(one["emulated"], "no")
        XCTAssertEqual(two["emulated"], "yes")
        XCTAssertEqual(two["emulate_scale"], "1", "--emulate-scale 10gbit=4 scales another link only")
        XCTAssertEqual(two["emulate_slowdown"], "1.25")
        for r in [one, two] {
            let cpu = try XCTUnwrap(Double(r["host_cpu"] ?? ""), "\(r)")
            XCTAssertTrue(cpu > 0 && cpu <= 1, "\(r)")
            XCTAssertEqual(r["cpu_bound"], cpu >= 0.9 ? "yes" : "no")
            XCTAssertGreaterThan(Double(r["ms_per_step"] ?? "") ?? 0, 0, "\(r)")
        }
        XCTAssertTrue(run.output.contains("W=2 batch=4 (emulated)"), run.output)

        // --predict gives the model the links' compute factor (--emulate-slowdown's): one rank's step is the
        // profile's compute, two ranks' at least 1.25 times it (the fast link adds little; without the factor
        // it would be about 1 times).
        let timeline = try XCTUnwrap(try JSONSerialization.jsonObject(with: Data(contentsOf: URL(fileURLWithPath: profile))) as? [String: Any])
        let events = try XCTUnwrap(timeline["events"] as? [[String: Any]])
        let computeMs = 1000 * (events.compactMap { $0["computeSeconds"] as? Double }.reduce(0, +) + (timeline["trailingSeconds"] as? Double ?? 0))
        let predictedOne = try XCTUnwrap(Double(one["predicted_ms_per_step"] ?? ""), "\(one)")
        let predictedTwo = try XCTUnwrap(Double(two["predicted_ms_per_step"] ?? ""), "\(two)")
        // (the table holds predictions to 0.1 ms)
        XCTAssertEqual(predictedOne, computeMs, accuracy: 0.05)
        XCTAssertGreaterThanOrEqual(predictedTwo, 1.25 * computeMs - 0.05, "compute factor 1.25 on 1gbit")
        let model = try String(contentsOf: dir.appendingPathComponent("study/model.txt"), encoding: .utf8)
        XCTAssertTrue(model.contains("takes its profile times: 1gbit 1.250"), model)
    }

    func testEmulationOptionsAreRefusedWhereTheyCannotApply() throws {
        let dir = try makeTemporaryDirectory(self)
        for (arguments, message) in [(["--emulate-scale", "2"], "apply to --emulate PROFILE only"),
                                     (["--emulate", script, "--modes", "weak", "--emulate-sharing", "all"], "--emulate-sharing takes core, thread or none"),
                                     (["--emulate", script, "--modes", "weak", "--compute-factor", "1.1"], "--compute-factor is the model's"),
                                     (["--emulate", dir.appendingPathComponent("none.json").path], "--emulate: no profile at"),
                                     (["--emulate", script, "--modes", "weak strong"], "give --modes weak"),
                                     (["--emulate", script, "--modes", "weak", "--emulate-scale", "0"], "--emulate-scale takes 'LINK=K,...' or one K"),
                                     (["--emulate", script, "--modes", "weak", "--emulate-scale", "10gbit=8,1gbit=x"], "--emulate-scale takes 'LINK=K,...' or one K"),
                                     (["--emulate", script, "--modes", "weak", "--predict", "auto nope.csv"], "--predict: no sweep CSV at 'auto'")] {
            let run = try ProcessHarness.run([script, "--out", dir.path] + arguments, timeout: 30)
            XCTAssertEqual(run.status, 2, "\(arguments): \(run.output)")
            XCTAssertTrue(run.output.contains(message), "\(arguments): \(run.output)")
        }
    }
}
