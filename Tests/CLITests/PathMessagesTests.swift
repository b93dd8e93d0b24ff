import Foundation
import TestSupport
import XCTest

/// Paths that point the wrong way get a message that says where to point: a file given as --data, the parent
/// of an image folder's splits, a run directory given as --encoder; a pretraining checkpoint works as an
/// encoder, and the encoder's width is read from its weights.
final class PathMessagesTests: XCTestCase {
    func testDataPathsThatPointTheWrongWay() throws {
        let dir = try makeTemporaryDirectory(self)
        let file = dir.appendingPathComponent("cifar-10-binary.tar.gz")
        XCTAssertTrue(FileManager.default.createFile(atPath: file.path, contents: Data([0])))
        let asFile = try runSimclr(["pretrain", "--out", "unused", "--data", file.path], in: dir)
        XCTAssertNotEqual(asFile.status, 0)
        XCTAssertTrue(asFile.stderr.contains("is a file, not a dataset directory") && asFile.stderr.contains("extract the archive"),
                      asFile.stdout + asFile.stderr)

        let folder = dir.appendingPathComponent("shapes")
        let synth = try runSimclr(["synth", "--format", "folder", "--out", folder.path, "--image-size", "8",
                                   "--train-count", "10", "--test-count", "10"], in: dir)
        XCTAssertEqual(synth.status, 0, synth.stderr)
        let parent = try runSimclr(["pretrain", "--out", "unused", "--data", folder.path], in: dir)
        XCTAssertNotEqual(parent.status, 0)
        XCTAssertTrue((parent.stdout + parent.stderr).contains("give its training split, \(folder.path)/train"),
                      parent.stdout + parent.stderr)
    }

    func testARunAndItsCheckpointAsEncoder() throws {
        let dir = try makeTemporaryDirectory(self)
        let run = dir.appendingPathComponent("run")
        let data = ["--synthetic-train-count", "32", "--synthetic-test-count", "16", "--threads", "1"]
        let pretrain = try runSimclr(["pretrain", "--out", run.path, "--width", "0.0625", "--image-size", "16",
                                      "--batch-size", "8", "--steps", "2", "--workers", "1", "--no-tensorboard"] + data, in: dir)
        XCTAssertEqual(pretrain.status, 0, pretrain.stdout + pretrain.stderr)

        let asDirectory = try runSimclr(["linear-eval", "--encoder", run.path, "--out", "unused"], in: dir)
        XCTAssertNotEqual(asDirectory.status, 0)
        XCTAssertTrue(asDirectory.stderr.contains("\(run.path) is a directory; did you mean \(run.path)/model.safetensors?"),
                      asDirectory.stderr)

        // No --width: 0.0625 is read from the checkpoint's channel counts (32-d features).
        let probe = try runSimclr(["linear-eval", "--encoder", run.appendingPathComponent("checkpoint.safetensors").path,
                                   "--out", dir.appendingPathComponent("probe").path, "--epochs", "1"] + data, in: dir)
        XCTAssertEqual(probe.status, 0, probe.stdout + probe.stderr)
        XCTAssertTrue(probe.stderr.contains("ResNet-18 stem=cifar width=0.0625"), probe.stderr)
    }
}
