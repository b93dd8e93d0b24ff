import Foundation
import TestSupport
import XCTest

/// Under mpirun, an error every rank meets is printed once (by rank 0), and an error of one rank alone is still
/// printed, by that rank.
final class ErrorsUnderMPITests: XCTestCase {
    private func occurrences(of text: String, in output: String) -> Int { output.components(separatedBy: text).count - 1 }

    func testAFlagErrorIsPrintedOnce() throws {
        let run = try ProcessHarness.mpirun(np: 2, [try simclrExecutable().path, "pretrain", "--out", "unused",
                                                    "--temperature", "-1"])
        XCTAssertNotEqual(run.status, 0)
        XCTAssertEqual(occurrences(of: "--temperature must be positive", in: run.output), 1, run.output)
    }

    func testADataErrorAfterMPIStartsIsPrintedOnce() throws {
        let dir = try makeTemporaryDirectory(self)
        let missing = dir.appendingPathComponent("no-such-data").path
        let run = try ProcessHarness.mpirun(np: 2, [try simclrExecutable().path, "pretrain", "--out",
                                                    dir.appendingPathComponent("run").path, "--data", missing])
        XCTAssertNotEqual(run.status, 0)
        XCTAssertEqual(occurrences(of: "\(missing): not found", in: run.output), 1, run.output)
        XCTAssertTrue(run.output.contains("[rank 0 of 2"), run.output)
    }

    func testHelpIsPrintedOnce() throws {
        let run = try ProcessHarness.mpirun(np: 2, [try simclrExecutable().path, "pretrain", "--help"])
        XCTAssertEqual(run.status, 0, run.output)
        XCTAssertEqual(occurrences(of: "USAGE:", in: run.output), 1, run.output)
    }

    /// Two programs (MPMD): only rank 1 has the bad flag, so rank 1 prints it.
    func testAnErrorOfOneRankIsPrintedByThatRank() throws {
        let tool = try simclrExecutable().path
        let dir = try makeTemporaryDirectory(self)
        let good = [tool, "pretrain", "--out", dir.appendingPathComponent("run").path, "--width", "0.0625",
                    "--batch-size", "8", "--steps", "2", "--synthetic-train-count", "32", "--synthetic-test-count", "8"]
        let run = try ProcessHarness.mpirunMPMD([good, good + ["--temperature", "-1"]])
        XCTAssertNotEqual(run.status, 0)
        XCTAssertEqual(occurrences(of: "--temperature must be positive", in: run.output), 1, run.output)
    }
}
