import Foundation
import TestSupport
import XCTest

/// A checkpoint that does not fit the disk stops every rank with rank 0's error and status 2 (under two ranks it
/// was an MPI_Abort of rank 0 alone, exit 1), and the previous checkpoint stays.
final class FullDiskCLITests: XCTestCase {
    func testAFullDiskStopsEveryRankWithTheErrorAndKeepsThePreviousCheckpoint() throws {
        let dir = try makeSyntheticDataDirectory(self)
        // A 2 MB file system: the step-4 checkpoint (about 1.4 MB) fits, the step-8 one beside it does not.
        let disk = dir.appendingPathComponent("disk")
        try FileManager.default.createDirectory(at: disk, withIntermediateDirectories: true)
        let mount = try ProcessHarness.run(["mount", "-t", "tmpfs", "-o", "size=2000k", "tmpfs", disk.path], timeout: 20)
        guard mount.status == 0 else { throw XCTSkip("cannot mount a tmpfs here (not root?): \(mount.output)") }
        defer { _ = try? ProcessHarness.run(["umount", disk.path], timeout: 20) }
        let out = disk.appendingPathComponent("run")
        let run = try ProcessHarness.mpirun(np: 2, [try simclrExecutable().path, "pretrain", "--data", dir.path, "--out", out.path,
                                                    "--width", "0.125", "--proj-dims", "32,16", "--batch-size", "8", "--steps", "8", "--threads", "1",
                                                    "--workers", "0", "--warmup-epochs", "0"], timeout: 120)
        XCTAssertFalse(run.timedOut, run.output)
        XCTAssertEqual(run.status, 2, "every rank ends with the error's status, without an abort:\n\(run.output)")
        XCTAssertFalse(run.output.contains("MPI_ABORT"), run.output)
        XCTAssertEqual(run.output.components(separatedBy: "the checkpoint of step 8 was not written").count - 1, 1, run.output)
        XCTAssertTrue(run.output.contains("No space left on device"), run.output)
        let kept = try XCTUnwrap(fileSize(out.appendingPathComponent("checkpoint.safetensors")))
        XCTAssertGreaterThan(kept, 100_000, "the step-4 checkpoint is still there")
    }
}
