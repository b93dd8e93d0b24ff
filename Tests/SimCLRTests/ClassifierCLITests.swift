import Foundation
import TestSupport
import XCTest

/// `simclr supervised` and `simclr finetune` end to end (the built binary as a subprocess) on a tiny synthetic
/// dataset: 4 classes, 32 px, width 0.125.
final class ClassifierCLITests: XCTestCase {
    private var root: URL!
    private var simclr: String { get throws { try ProcessHarness.executable("simclr").path } }

    override func setUpWithError() throws {
        root = FileManager.default.temporaryDirectory.appendingPathComponent("classifier-cli-\(UUID().uuidString)")
        try FileManager.default.createDirectory(at: root, withIntermediateDirectories: true)
    }

    override func tearDownWithError() throws { try? FileManager.default.removeItem(at: root) }

    private func run(_ args: [String]) throws -> ProcessHarness.Result {
        try ProcessHarness.run([try simclr] + args, timeout: 120)
    }

    private func path(_ name: String) -> String { root.appendingPathComponent(name).path }

    private func results(_ dir: String) throws -> [String: Any] {
        let data = try Data(contentsOf: root.appendingPathComponent(dir).appendingPathComponent("results.json"))
        return try XCTUnwrap(JSONSerialization.jsonObject(with: data) as? [String: Any])
    }

    private func makeData() throws -> String {
        let data = path("data")
        let synth = try run(["synth", "--out", data, "--classes", "4", "--train-count", "64", "--test-count", "24"])
        XCTAssertEqual(synth.status, 0, synth.output)
        return data
    }

    private func checkRunFiles(_ dir: String, method: String, epochs: Int) throws -> [String: Any] {
        let csv = try String(contentsOf: root.appendingPathComponent(dir).appendingPathComponent("metrics.csv"), encoding: .utf8)
        let lines = csv.split(separator: "\n")
        XCTAssertEqual(String(lines[0]), "epoch,step,train_loss,train_top1,test_loss,test_top1,test_top5,lr,img_per_s")
        XCTAssertEqual(lines.count, epochs + 1, csv)
        for line in lines.dropFirst() {
            let v = line.split(separator: ",").map { Double($0)! }
            XCTAssertEqual(v.count, 9)
            for fraction in [v[3], v[5], v[6]] { XCTAssert((0...1).contains(fraction), csv) }
        }
        let r = try results(dir)
        let top1 = try XCTUnwrap(r["test_top1"] as? Double), top5 = try XCTUnwrap(r["test_top5"] as? Double)
        XCTAssert((0...1).contains(top1) && (0...1).contains(top5) && top5 >= top1, "\(r)")
        XCTAssertEqual(r["method"] as? String, method)
        XCTAssertEqual(r["epochs"] as? Int, epochs)
        XCTAssertEqual(r["test_count"] as? Int, 24)
        XCTAssertEqual(r["ranks"] as? Int, 1)
        XCTAssertEqual(r["width"] as? Double, 0.125)
        XCTAssertEqual(r["stem"] as? String, "cifar")
        for key in ["test_loss", "train_top1", "label_fraction", "encoder", "train_count", "seed"] {
            XCTAssertNotNil(r[key], "results.json lacks \(key)")
        }
        let model = try SafetensorsFloats.read(root.appendingPathComponent(dir).appendingPathComponent("model.safetensors"))
        XCTAssertEqual(model["fc.2.weight"]?.count, 4 * 512, "head Linear(512, 4)")
        XCTAssertEqual(model["fc.0.weight"]?.count, 512 * 64, "head Linear(512 * 0.125, 512)")
        XCTAssertTrue(FileManager.default.fileExists(atPath: path("\(dir)/config.json")))
        return r
    }

    func testSupervisedThenFinetuneEndToEnd() throws {
        let data = try makeData()
        let common = ["--data", data, "--width", "0.125", "--batch-size", "16", "--threads", "1", "--workers", "1"]
        let sup = try run(["supervised", "--out", path("sup"), "--epochs", "2"] + common)
        XCTAssertEqual(sup.status, 0, sup.output)
        XCTAssert(sup.output.contains("supervised: test top-1"), sup.output)
        XCTAssert(sup.output.contains("results.json"), sup.output)
        let r = try checkRunFiles("sup", method: "supervised", epochs: 2)
        XCTAssertEqual(r["encoder"] as? String, "random-init")
        XCTAssertEqual(r["train_count"] as? Int, 64)

        let encoder = path("sup/model.safetensors")
        let ft = try run(["finetune", "--encoder", encoder, "--out", path("ft"), "--epochs", "1",
                          "--label-fraction", "0.5", "--backbone-lr-scale", "0.5"] + common)
        XCTAssertEqual(ft.status, 0, ft.output)
        let f = try checkRunFiles("ft", method: "finetune", epochs: 1)
        XCTAssertEqual(f["encoder"] as? String, encoder)
        XCTAssertEqual(f["label_fraction"] as? Double, 0.5)
        XCTAssertEqual(f["train_count"] as? Int, 32)
        XCTAssertEqual(f["backbone_lr_scale"] as? Double, 0.5)

        // Interrupted after step 3 (mid epoch 1 of 2) and resumed: the same model as a run without a stop.
        let halted = try run(["supervised", "--out", path("resumed"), "--epochs", "2", "--testing-halt-after", "3"] + common)
        XCTAssertEqual(halted.status, 0, halted.output)
        XCTAssertFalse(FileManager.default.fileExists(atPath: path("resumed/model.safetensors")))
        let resumed = try run(["supervised", "--out", path("resumed"), "--epochs", "2", "--resume"] + common)
        XCTAssertEqual(resumed.status, 0, resumed.output)
        XCTAssert(resumed.output.contains("resuming from step 3"), resumed.output)
        XCTAssertEqual(try SafetensorsFloats.read(URL(fileURLWithPath: path("sup/model.safetensors"))),
                       try SafetensorsFloats.read(URL(fileURLWithPath: path("resumed/model.safetensors"))))
    }

    func testBadArgumentsAreRejected() throws {
        let out = path("x")
        for (args, message) in [(["supervised", "--out", out, "--label-fraction", "0"], "--label-fraction"),
                                (["supervised", "--out", out, "--label-fraction", "1.5"], "--label-fraction"),
                                (["supervised", "--out", out, "--epochs", "0"], "--epochs"),
                                (["supervised", "--out", out, "--lr", "-1"], "--lr"),
                                (["finetune", "--out", out], "--encoder"),
                                (["finetune", "--out", out, "--encoder", "/nonexistent.safetensors"], "file not found"),
                                (["supervised"], "--out")] {
            let r = try run(args)
            XCTAssertNotEqual(r.status, 0, args.joined(separator: " "))
            XCTAssert(r.output.contains(message), "\(args): \(r.output)")
            XCTAssertFalse(FileManager.default.fileExists(atPath: out), "\(args) should fail before training")
        }
        // A batch larger than the (label-fraction) training set is explained, not crashed on.
        let data = try makeData()
        let big = try run(["supervised", "--data", data, "--out", out, "--width", "0.125", "--batch-size", "128", "--threads", "1"])
        XCTAssertNotEqual(big.status, 0)
        XCTAssert(big.output.contains("--batch-size 128"), big.output)
        for command in ["supervised", "finetune"] {
            let help = try run([command, "--help"])
            XCTAssertEqual(help.status, 0)
            XCTAssert(help.output.contains("Example:") && help.output.contains("--label-fraction"), help.output)
        }
    }
}
