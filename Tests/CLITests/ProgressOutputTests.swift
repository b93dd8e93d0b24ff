import Foundation
import TestSupport
import XCTest

/// `--progress bar|lines|none`, and lines by default under mpirun, whose ranks see a terminal even when the
/// job's output goes to a file (a redrawn bar there becomes one giant line).
final class ProgressOutputTests: XCTestCase {
    private func pretrain(_ extra: [String], ranks: Int = 1, out: URL? = nil) throws -> String {
        let dir = try makeTemporaryDirectory(self)
        let args = [try simclrExecutable().path, "pretrain", "--out", (out ?? dir.appendingPathComponent("run")).path,
                    "--width", "0.0625", "--image-size", "16", "--batch-size", "8", "--steps", "4", "--log-every", "2",
                    "--synthetic-train-count", "32", "--synthetic-test-count", "8", "--threads", "1", "--workers", "1",
                    "--no-tensorboard"] + extra
        let run = ranks > 1 ? try ProcessHarness.mpirun(np: ranks, args) : try ProcessHarness.run(args)
        XCTAssertEqual(run.status, 0, run.output)
        return run.output
    }

    func testEachStyle() throws {
        let lines = try pretrain(["--progress", "lines"])
        XCTAssertTrue(lines.contains("step 2/4 ") && lines.contains("step 4/4 "), lines)
        XCTAssertFalse(lines.contains("\r"), lines)

        let bar = try pretrain(["--progress", "bar"])
        XCTAssertTrue(bar.contains("\r[") && bar.contains("] 4/4 "), bar)

        let none = try pretrain(["--progress", "none"])
        XCTAssertFalse(none.contains("step 2/4") || none.contains("\r["), none)
        XCTAssertTrue(none.contains("finished 4 steps"), none)
    }

    func testLinesByDefaultUnderMPI() throws {
        let output = try pretrain([], ranks: 2)
        XCTAssertTrue(output.contains("step 2/4 ") && output.contains("step 4/4 "), output)
        XCTAssertFalse(output.contains("\r"), "a progress bar under mpirun: \(output)")
    }

    /// embed shows its progress with the same reporter, on stderr (its stdout says what it wrote), counting
    /// images: a line each time a tenth of them is done, whatever the batch.
    func testEmbedCountsImagesOnStderr() throws {
        let dir = try makeTemporaryDirectory(self)
        let run = dir.appendingPathComponent("run")
        _ = try pretrain(["--progress", "none"], out: run)
        let embed = try runSimclr(["embed", "--weights", run.appendingPathComponent("model.safetensors").path,
                                   "--synthetic-train-count", "32", "--synthetic-test-count", "8",
                                   "--batch-size", "3", "--threads", "1", "--out", dir.appendingPathComponent("x.npy").path],
                                  in: dir)
        XCTAssertEqual(embed.status, 0, embed.stderr)
        for count in [3, 6, 8] { XCTAssertTrue(embed.stderr.contains("embedded \(count)/8 images"), embed.stderr) }
        XCTAssertFalse(embed.stderr.contains("\r") || embed.stdout.contains("embedded"), embed.stdout + embed.stderr)
    }

    func testUnknownStyleIsRefused() throws {
        let dir = try makeTemporaryDirectory(self)
        let run = try runSimclr(["pretrain", "--out", dir.path, "--progress", "dots"], in: dir)
        XCTAssertNotEqual(run.status, 0)
        XCTAssertTrue(run.stderr.contains("--progress"), run.stderr)
    }
}
