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
        // scaling.sh takes the cluster's lock itself.
        let run = try ProcessHarness.run([script, "--links", "1gbit", "--max-ranks", "2", "--per-rank-batch", "2", "--width", "0.125",
                                          "--steps", "1", "--modes", "weak", "--emulate", profile, "--emulate-slowdown", "1gbit=1.25",
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
        XCTAssertEqual(two["emulate_scale"], "1")
        XCTAssertEqual(two["emulate_slowdown"], "1.25")
        for r in [one, two] {
            let cpu = try XCTUnwrap(Double(r["host_cpu"] ?? ""), "\(r)")
            XCTAssertTrue(cpu > 0 && cpu <= 1, "\(r)")
            XCTAssertEqual(r["cpu_bound"], cpu >= 0.9 ? "yes" : "no")
            XCTAssertGreaterThan(Double(r["ms_per_step"] ?? "") ?? 0, 0, "\(r)")
        }
        XCTAssertTrue(run.output.contains("W=2 batch=4 (emulated)"), run.output)
    }

    func testEmulationOptionsAreRefusedWhereTheyCannotApply() throws {
        let dir = try makeTemporaryDirectory(self)
        for (arguments, message) in [(["--emulate-scale", "2"], "apply to --emulate PROFILE only"),
                                     (["--emulate", dir.appendingPathComponent("none.json").path], "--emulate: no profile at"),
                                     (["--emulate", script, "--modes", "weak strong"], "give --modes weak"),
                                     (["--emulate", script, "--modes", "weak", "--emulate-scale", "0"], "--emulate-scale takes a positive integer")] {
            let run = try ProcessHarness.run([script, "--out", dir.path] + arguments, timeout: 30)
            XCTAssertEqual(run.status, 2, "\(arguments): \(run.output)")
            XCTAssertTrue(run.output.contains(message), "\(arguments): \(run.output)")
        }
    }
}
