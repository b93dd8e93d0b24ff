import Foundation
import TestSupport
import XCTest

/// A run that diverges ends with a message, a non-zero status and divergence.json, on every rank at the same
/// step (no rank left waiting), and no checkpoint of the diverged weights.
final class DivergenceCLITests: XCTestCase {
    /// `--lr 1e6` with SGD kept the loss finite (at chance) while the weights reached 1e19, and exited 0.
    func testALearningRateOfAMillionStopsBothRanksAtTheFirstStep() throws {
        let dir = try makeSyntheticDataDirectory(self)
        let out = dir.appendingPathComponent("run")
        let pretrain = [try simclrExecutable().path, "pretrain", "--data", dir.path, "--out", out.path, "--width", "0.125",
                        "--batch-size", "8", "--steps", "5", "--save-every", "1", "--threads", "1", "--workers", "0",
                        "--warmup-epochs", "0"]
        let run = try ProcessHarness.mpirun(np: 2, pretrain + ["--lr", "1e6"], timeout: 120)
        XCTAssertFalse(run.timedOut, run.output)
        XCTAssertEqual(run.status, 3, "every rank ends with the divergence's status, without an abort:\n\(run.output)")
        XCTAssertFalse(run.output.contains("MPI_ABORT"), run.output)
        XCTAssertEqual(run.output.components(separatedBy: "training diverged").count - 1, 1, "printed once, by rank 0")
        for text in ["training diverged at step 1: weight norm", "more than 1000 times its",
                     "No checkpoint was written before it: start again with a lower --lr and --overwrite"] {
            XCTAssertTrue(run.output.contains(text), "no '\(text)' in\n\(run.output)")
        }
        XCTAssertFalse(FileManager.default.fileExists(atPath: out.appendingPathComponent("checkpoint.safetensors").path))
        XCTAssertFalse(FileManager.default.fileExists(atPath: out.appendingPathComponent("model.safetensors").path))
        let record = try String(contentsOf: out.appendingPathComponent("divergence.json"), encoding: .utf8)
        XCTAssertTrue(record.contains("\"step\" : 1") && record.contains("weight norm"), record)

        // As the message says: a lower --lr with --overwrite trains (one process: exit 0, a model).
        let again = try runSimclr(Array(pretrain.dropFirst()) + ["--lr", "0.1", "--overwrite"], in: dir)
        XCTAssertEqual(again.status, 0, again.stderr + again.stdout)
        XCTAssertTrue(FileManager.default.fileExists(atPath: out.appendingPathComponent("model.safetensors").path))
    }
}
