import Datasets
import Foundation
import NeuralNet
import TestSupport
import XCTest

/// `simclr linear-eval` and `simclr knn` end to end on a tiny synthetic dataset (the built binary as a subprocess).
final class EvaluationCLITests: XCTestCase {
    private var root: URL!
    private var simclr: String { get throws { try ProcessHarness.executable("simclr").path } }

    override func setUpWithError() throws {
        root = FileManager.default.temporaryDirectory.appendingPathComponent("eval-cli-\(UUID().uuidString)")
        try FileManager.default.createDirectory(at: root, withIntermediateDirectories: true)
    }

    override func tearDownWithError() throws { try? FileManager.default.removeItem(at: root) }

    private func run(_ args: [String]) throws -> ProcessHarness.Result {
        try ProcessHarness.run([try simclr] + args, timeout: 120)
    }

    private func results(_ dir: String) throws -> [String: Any] {
        let data = try Data(contentsOf: root.appendingPathComponent(dir).appendingPathComponent("results.json"))
        return try XCTUnwrap(JSONSerialization.jsonObject(with: data) as? [String: Any])
    }

    func testLinearEvalAndKNNEndToEnd() throws {
        let data = root.appendingPathComponent("data").path
        let synth = try run(["synth", "--out", data, "--train-count", "60", "--test-count", "20"])
        XCTAssertEqual(synth.status, 0, synth.output)
        let common = ["--width", "0.125", "--data", data, "--threads", "1"]

        let le = try run(["linear-eval", "--random-init", "--out", root.appendingPathComponent("le").path,
                          "--epochs", "3"] + common)
        XCTAssertEqual(le.status, 0, le.output)
        let r = try results("le")
        let top1 = try XCTUnwrap(r["test_top1"] as? Double), top5 = try XCTUnwrap(r["test_top5"] as? Double)
        XCTAssert((0...1).contains(top1) && (0...1).contains(top5) && top5 >= top1, "\(r)")
        XCTAssertEqual(r["method"] as? String, "linear-eval")
        XCTAssertEqual(r["encoder"] as? String, "random-init")
        XCTAssertEqual(r["label_fraction"] as? Double, 1)
        XCTAssertEqual(r["train_count"] as? Int, 60)
        let csv = try String(contentsOf: root.appendingPathComponent("le/metrics.csv"), encoding: .utf8)
        let lines = csv.split(separator: "\n")
        XCTAssertEqual(lines.count, 4, csv)
        XCTAssert(lines[0].hasPrefix("epoch,train_loss,train_top1,test_top1,test_top5"), csv)
        for name in ["features_train.npy", "labels_train.npy", "features_test.npy", "labels_test.npy"] {
            XCTAssert(FileManager.default.fileExists(atPath: root.appendingPathComponent("le/\(name)").path), name)
        }

        let knn = try run(["knn", "--random-init", "--out", root.appendingPathComponent("knn").path] + common)
        XCTAssertEqual(knn.status, 0, knn.output)
        let k = try results("knn")
        let kTop1 = try XCTUnwrap(k["test_top1"] as? Double)
        XCTAssert((0...1).contains(kTop1), "\(k)")
        XCTAssertEqual(k["k"] as? Int, 60, "k = 200 capped at the 60 training images")
        XCTAssertEqual(k["temperature"] as? Double, 0.1)
    }

    /// A pretrain-style model file (backbone + projection head) is read through its backbone keys;
    /// the label fraction subsets the training set class-balanced.
    func testLinearEvalReadsEncoderFileWithHead() throws {
        let data = root.appendingPathComponent("data").path
        XCTAssertEqual(try run(["synth", "--out", data, "--train-count", "60", "--test-count", "20"]).status, 0)
        let weights = root.appendingPathComponent("model.safetensors")
        try ResNet(config: ResNetConfig(stem: .cifar, width: 0.125, headDims: [32, 16]), seed: 3).save(to: weights)
        let le = try run(["linear-eval", "--encoder", weights.path, "--width", "0.125", "--data", data, "--threads", "1",
                          "--out", root.appendingPathComponent("enc").path, "--epochs", "2", "--label-fraction", "0.5"])
        XCTAssertEqual(le.status, 0, le.output)
        let r = try results("enc")
        XCTAssertEqual(r["train_count"] as? Int, 30)
        XCTAssertEqual(r["encoder"] as? String, weights.path)

        // Wrong width for the file: a clear error, no results.
        let bad = try run(["knn", "--encoder", weights.path, "--width", "0.25", "--data", data, "--threads", "1",
                           "--out", root.appendingPathComponent("bad").path])
        XCTAssertNotEqual(bad.status, 0)
        XCTAssert(bad.output.contains("--width"), bad.output)
    }

    /// Under mpirun each rank computes a shard of the features; rank 0 ends with the same features (up to
    /// float rounding: a different batch split changes GEMM blocking) and the same probe result as one process.
    func testFeaturesComputedOnTwoRanksEqualOneProcess() throws {
        try XCTSkipIf(ProcessHarness.which("mpirun") == nil, "mpirun not installed (deploy/setup.sh)")
        let data = root.appendingPathComponent("data").path
        XCTAssertEqual(try run(["synth", "--out", data, "--train-count", "61", "--test-count", "23"]).status, 0)
        let weights = root.appendingPathComponent("model.safetensors")
        try ResNet(config: ResNetConfig(stem: .cifar, width: 0.125, headDims: [16]), seed: 5).save(to: weights)
        let common = ["linear-eval", "--encoder", weights.path, "--width", "0.125", "--data", data, "--threads", "1",
                      "--epochs", "3", "--feature-batch-size", "16"]
        let single = try run(common + ["--out", root.appendingPathComponent("one").path])
        XCTAssertEqual(single.status, 0, single.output)
        let pair = try ProcessHarness.mpirun(np: 2, [try simclr] + common + ["--out", root.appendingPathComponent("two").path])
        XCTAssertEqual(pair.status, 0, pair.output)
        XCTAssert(pair.output.contains("on 2 rank(s)"), pair.output)
        for split in ["train", "test"] {
            let a = try NumpyFile.read(from: root.appendingPathComponent("one/features_\(split).npy"))
            let b = try NumpyFile.read(from: root.appendingPathComponent("two/features_\(split).npy"))
            XCTAssertEqual(a.shape, b.shape)
            let scale = a.values.map(abs).max() ?? 1
            let worst = zip(a.values, b.values).map { abs($0 - $1) }.max() ?? .infinity
            XCTAssertLessThan(worst, 1e-5 * scale, "\(split): features differ by \(worst) (scale \(scale))")
            // Rows differ from one another, so rows put in the wrong place would fail the comparison above.
            XCTAssertGreaterThan(abs(a.values[0] - a.values[a.shape[1] * (a.shape[0] - 1)]), 1e-5 * scale)
        }
        let one = try results("one"), two = try results("two")
        XCTAssertEqual(one["train_count"] as? Int, two["train_count"] as? Int)
        XCTAssertEqual(try XCTUnwrap(one["test_top1"] as? Double), try XCTUnwrap(two["test_top1"] as? Double), accuracy: 1.0 / 23 + 1e-9)
    }

    func testBadArgumentsAreRejected() throws {
        let out = root.appendingPathComponent("x").path
        let neither = try run(["linear-eval", "--out", out])
        XCTAssertNotEqual(neither.status, 0)
        XCTAssert(neither.output.contains("--encoder FILE or --random-init"), neither.output)
        let both = try run(["knn", "--random-init", "--encoder", "/nonexistent.safetensors", "--out", out])
        XCTAssertNotEqual(both.status, 0)
        XCTAssert(both.output.contains("exclude each other"), both.output)
        let fraction = try run(["linear-eval", "--random-init", "--label-fraction", "0", "--out", out])
        XCTAssertNotEqual(fraction.status, 0)
        XCTAssert(fraction.output.contains("--label-fraction"), fraction.output)
        let help = try run(["linear-eval", "--help"])
        XCTAssertEqual(help.status, 0)
        XCTAssert(help.output.contains("Example:"), help.output)
    }
}
