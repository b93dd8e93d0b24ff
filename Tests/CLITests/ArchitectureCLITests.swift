import Datasets
import Foundation
import Kernels
import NeuralNet
import XCTest

/// `--arch` through the tool: the architecture is recorded in config.json and the checkpoint, so `--resume`
/// and `embed` rebuild the network without being told again.
final class ArchitectureCLITests: XCTestCase {
    func testResNet50PretrainResumesAndEmbedsWithoutRepeatingTheArchitecture() throws {
        let dir = try makeTemporaryDirectory(self)
        let synth = try runSimclr(["synth", "--out", dir.path, "--train-count", "16", "--test-count", "8"], in: dir)
        XCTAssertEqual(synth.status, 0, synth.stderr)
        let run = dir.appendingPathComponent("run")
        let common = ["pretrain", "--data", dir.path, "--out", run.path, "--steps", "2", "--batch-size", "8",
                      "--image-size", "16", "--width", "0.0625", "--proj-dims", "32,16", "--workers", "1"]
        let first = try runSimclr(common + ["--arch", "resnet50", "--zero-init-residual", "--testing-halt-after", "1"], in: dir)
        XCTAssertEqual(first.status, 0, first.stderr)
        XCTAssertTrue(first.stdout.contains("ResNet-50") || first.stderr.contains("ResNet-50"), first.stdout + first.stderr)

        let resumed = try runSimclr(common + ["--resume"], in: dir)
        XCTAssertEqual(resumed.status, 0, resumed.stderr)
        let config = try JSONSerialization.jsonObject(with: Data(contentsOf: run.appendingPathComponent("config.json"))) as! [String: Any]
        let model = (config["settings"] as! [String: Any])["model"] as! [String: Any]
        XCTAssertEqual(model["arch"] as? String, "resnet50")
        XCTAssertEqual(model["zeroInitResidual"] as? Bool, true)
        let weights = run.appendingPathComponent("model.safetensors")
        let file = try Safetensors.read(contentsOf: weights)
        XCTAssertEqual(file.tensors["layer4.2.conv3.weight"]?.shape, [128, 32, 1, 1])
        XCTAssertEqual(file.tensors["fc.0.weight"]?.shape, [32, 128], "the head takes the 4 x 32 Bottleneck features")

        let out = dir.appendingPathComponent("x.npy")
        let embed = try runSimclr(["embed", "--weights", weights.path, "--data", dir.path, "--width", "0.0625",
                                   "--out", out.path, "--threads", "1"], in: dir)
        XCTAssertEqual(embed.status, 0, embed.stderr)
        XCTAssertEqual(try NumpyFile.read(from: out).shape, [8, 128])

        // Naming a different architecture than the file's fails before any work, naming the flag.
        let wrong = try runSimclr(["embed", "--weights", weights.path, "--data", dir.path, "--width", "0.0625",
                                   "--arch", "resnet34", "--out", out.path], in: dir)
        XCTAssertNotEqual(wrong.status, 0)
        XCTAssertTrue(wrong.stderr.contains("--arch resnet34"), wrong.stderr)
    }
}
