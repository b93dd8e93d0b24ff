import Foundation
import Kernels
import TestSupport
import XCTest

/// The default thread count follows the process's CPU affinity, so a rank bound to one core runs one thread.
final class ThreadDefaultTests: XCTestCase {
    /// `Parallel.availableCores` counts the CPUs of the affinity mask the kernel reports in /proc/self/status.
    func testAvailableCoresIsTheAffinityMask() throws {
        let status = try String(contentsOfFile: "/proc/self/status", encoding: .utf8)
        let line = try XCTUnwrap(status.split(separator: "\n").first { $0.hasPrefix("Cpus_allowed_list:") })
        let list = line.split(separator: ":")[1].trimmingCharacters(in: .whitespaces)
        let count = list.split(separator: ",").reduce(0) { total, part in
            let ends = part.split(separator: "-").compactMap { Int($0) }
            return total + (ends.count == 2 ? ends[1] - ends[0] + 1 : 1)
        }
        XCTAssertEqual(Parallel.availableCores, count)
    }

    /// Under `taskset -c 0` (what a launcher's --bind-to core does) the tool's default is one thread.
    func testToolDefaultsToTheBoundCores() throws {
        guard let taskset = ProcessHarness.which("taskset") else { throw XCTSkip("taskset is not installed") }
        let tool = try simclrExecutable().path
        let bench = [tool, "bench", "--width", "0.0625", "--batch-size", "2", "--steps", "1", "--warmup", "0",
                     "--no-roofline", "--json"]
        let bound = try ProcessHarness.run([taskset, "-c", "0"] + bench)
        XCTAssertEqual(bound.status, 0, bound.output)
        XCTAssertTrue(bound.output.contains("\"threads\": 1"), bound.output)
        if Parallel.availableCores > 1 {
            let free = try ProcessHarness.run(bench)
            XCTAssertEqual(free.status, 0, free.output)
            XCTAssertTrue(free.output.contains("\"threads\": \(Parallel.availableCores)"), free.output)
        }
    }
}
