import Foundation
import TestSupport
import XCTest

/// `--comm-cpu`: each rank's communication thread runs on the CPU the list gives its node-local rank, as the
/// kernel reports it back (bench's `comm_thread_cpus`); bad lists are refused with the flag's name.
final class CommunicationCPUTests: XCTestCase {
    private let small = ["--no-roofline", "--width", "0.125", "--proj-dims", "32,16", "--image-size", "16", "--threads", "1",
                         "--warmup", "1", "--steps", "1", "--batch-size", "8", "--no-overlap-baseline", "--json"]

    /// The CPUs this test may run on (mpirun --bind-to none passes them on to the ranks).
    private func allowedCPUs() -> [Int] {
        let status = (try? String(contentsOfFile: "/proc/self/status", encoding: .utf8)) ?? ""
        let line = status.split(separator: "\n").first { $0.hasPrefix("Cpus_allowed_list:") } ?? ""
        return line.dropFirst("Cpus_allowed_list:".count).trimmingCharacters(in: .whitespaces).split(separator: ",").flatMap { part -> [Int] in
            let ends = part.split(separator: "-").compactMap { Int($0) }
            return ends.count == 2 ? Array(ends[0]...ends[1]) : ends
        }
    }

    private func bench(_ extra: [String]) throws -> (report: [String: Any]?, output: String, status: Int32) {
        let run = try ProcessHarness.mpirun(np: 2, [try simclrExecutable().path, "bench", "--distributed"] + small + extra)
        let line = run.output.split(separator: "\n").first { $0.hasPrefix("{") }
        let report = line.flatMap { try? JSONSerialization.jsonObject(with: Data($0.utf8)) as? [String: Any] }
        return (report, run.output, run.status)
    }

    func testEachRankOfANodeGetsItsCPU() throws {
        let allowed = allowedCPUs()
        guard allowed.count >= 2 else { throw XCTSkip("this test may run on one CPU only (\(allowed))") }
        let unbound = try bench([])
        XCTAssertEqual(unbound.status, 0, unbound.output)
        XCTAssertEqual(unbound.report?["comm_thread_cpus"] as? [Int], allowed, unbound.output)
        // One CPU for every rank of the node; the report is rank 0's.
        let one = try bench(["--comm-cpu", String(allowed.last!)])
        XCTAssertEqual(one.status, 0, one.output)
        XCTAssertEqual(one.report?["comm_thread_cpus"] as? [Int], [allowed.last!], one.output)
        // A list: node-local rank i takes the i-th CPU (rank 0 the first).
        let list = try bench(["--comm-cpu", "\(allowed[1]),\(allowed[0])"])
        XCTAssertEqual(list.status, 0, list.output)
        XCTAssertEqual(list.report?["comm_thread_cpus"] as? [Int], [allowed[1]], list.output)
    }

    func testListsThatCannotApplyAreRefused() throws {
        let unknown = try bench(["--comm-cpu", "1023"])
        XCTAssertNotEqual(unknown.status, 0)
        XCTAssertTrue(unknown.output.contains("cannot bind the communication thread to CPU 1023"), unknown.output)
        let dir = try makeTemporaryDirectory(self)
        for (arguments, message) in [(["bench", "--comm-cpu", "x"], "--comm-cpu takes CPU numbers"),
                                     (["bench", "--comm-cpu", "1", "--no-overlap"], "--comm-cpu"),
                                     (["pretrain", "--out", dir.appendingPathComponent("r").path, "--comm-cpu", "1", "--no-overlap"], "--comm-cpu: communication CPUs place the thread"),
                                     (["pretrain", "--out", dir.appendingPathComponent("r").path, "--comm-cpu", "1,-1"], "--comm-cpu takes CPU numbers")] {
            let run = try runSimclr(arguments, in: dir)
            XCTAssertNotEqual(run.status, 0, arguments.joined(separator: " "))
            XCTAssertTrue(run.stderr.contains(message), arguments.joined(separator: " ") + ": " + run.stderr)
        }
    }
}
