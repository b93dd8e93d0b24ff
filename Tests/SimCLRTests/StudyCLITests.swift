import Foundation
import TestSupport
import XCTest

/// `simclr compare` and `simclr sweep` end to end on a tiny synthetic dataset: the built binary as a
/// subprocess, its training runs under `mpirun -np 2`.
final class StudyCLITests: XCTestCase {
    private var root: URL!
    private var simclr: String { get throws { try ProcessHarness.executable("simclr").path } }

    override func setUpWithError() throws {
        root = FileManager.default.temporaryDirectory.appendingPathComponent("study-cli-\(UUID().uuidString)")
        try FileManager.default.createDirectory(at: root, withIntermediateDirectories: true)
    }

    override func tearDownWithError() throws { try? FileManager.default.removeItem(at: root) }

    private func run(_ args: [String], timeout: Int = 300) throws -> ProcessHarness.Result {
        try ProcessHarness.run([try simclr] + args, timeout: timeout)
    }

    private var tinyData: [String] {
        ["--synthetic-dir", root.appendingPathComponent("data").path,
         "--synthetic-train-count", "64", "--synthetic-test-count", "32"]
    }

    private func text(_ path: String) throws -> String {
        try String(contentsOf: root.appendingPathComponent(path), encoding: .utf8)
    }

    /// pretrain on 2 ranks -> linear probe and kNN on SimCLR and random-init features -> table; a rerun
    /// skips every finished run.
    func testCompareRunsPretrainUnderMPIThenEvaluations() throws {
        try XCTSkipIf(ProcessHarness.which("mpirun") == nil, "mpirun not installed (deploy/setup.sh)")
        let study = root.appendingPathComponent("study").path
        let args = ["compare", "--out", study, "--ranks", "2", "--width", "0.125", "--label-fractions", "0.5,1",
                    "--evaluations", "linear,knn,finetune,supervised", "--pretrain-epochs", "1", "--probe-epochs", "3",
                    "--finetune-epochs", "1", "--supervised-epochs", "1", "--pretrain-arg=--batch-size=16",
                    "--finetune-arg=--batch-size=16", "--supervised-arg=--batch-size=16"] + tinyData
        let first = try run(args)
        XCTAssertEqual(first.status, 0, first.output)

        // Progress came as lines, not a redrawn bar, though mpirun gives its ranks a terminal.
        let log = try text("study/pretrain/log.txt")
        XCTAssert(log.contains("step ") && !log.contains("\r"), log)

        // The training runs really ran on 2 ranks: each held half of the global batch.
        let supervised = try JSONSerialization.jsonObject(with: Data(try text("study/supervised-50pct/results.json").utf8)) as? [String: Any]
        XCTAssertEqual(supervised?["ranks"] as? Int, 2)
        let probe = try JSONSerialization.jsonObject(with: Data(try text("study/linear-simclr-50pct/results.json").utf8)) as? [String: Any]
        let labelled = try XCTUnwrap(supervised?["train_count"] as? Int)
        XCTAssertEqual(labelled, probe?["train_count"] as? Int, "supervised and probe train on the same 50% subset")
        XCTAssert((28...36).contains(labelled), "about half of the 64 labels, rounded per class: \(labelled)")
        let config = try JSONSerialization.jsonObject(with: Data(try text("study/pretrain/config.json").utf8)) as? [String: Any]
        XCTAssertEqual(config?["per_rank_batch"] as? Int, 8, "global batch 16 over 2 ranks")
        XCTAssert(FileManager.default.fileExists(atPath: root.appendingPathComponent("study/pretrain/model.safetensors").path))

        let csv = try text("study/comparison.csv").split(separator: "\n")
        XCTAssertEqual(csv.first, "encoder,evaluation,label_fraction,test_top1,test_top5,run_dir")
        XCTAssertEqual(csv.count, 1 + (2 * 2 + 2) * 2, "(2 sources x (linear, kNN) + finetune + supervised) x 2 fractions")
        for line in csv.dropFirst() {
            let cells = line.split(separator: ",")
            let top1 = try XCTUnwrap(Double(cells[3])), top5 = try XCTUnwrap(Double(cells[4]))
            XCTAssert((0...1).contains(top1) && top5 >= top1 && top5 <= 1, String(line))
        }
        let markdown = try text("study/comparison.md").replacingOccurrences(of: " +", with: " ", options: .regularExpression)
        XCTAssert(markdown.contains("| encoder | evaluation | 50% labels | 100% labels |"), markdown)
        for row in ["| SimCLR | linear probe |", "| random init | linear probe |", "| SimCLR | kNN (k=200) |",
                    "| random init | kNN (k=200) |", "| SimCLR | fine-tune |", "| supervised from scratch | end to end |"] {
            XCTAssert(markdown.contains(row), "\(row) missing in\n\(markdown)")
        }

        // The report covers every run, with the pretraining curves among its plots.
        let report = try text("study/report/report.md")
        for name in ["pretrain", "linear-simclr-50pct", "knn-random-100pct", "finetune-simclr-50pct", "supervised-100pct"] {
            XCTAssert(report.contains(name), "\(name) missing in the report")
        }
        let plots = try FileManager.default.subpathsOfDirectory(atPath: root.appendingPathComponent("study/report/plots").path)
        XCTAssert(plots.contains { $0.hasPrefix("pretrain/") && $0.hasSuffix(".svg") }, "\(plots)")

        let again = try run(args)
        XCTAssertEqual(again.status, 0, again.output)
        XCTAssertEqual(again.output.components(separatedBy: "already done, skipped").count - 1, 13, again.output)
        XCTAssertEqual(try text("study/comparison.csv").split(separator: "\n"), csv)
    }

    /// A sweep over two temperatures writes one row per setting with the pretraining's last-epoch
    /// metrics and the probe's accuracy.
    func testSweepWritesOneRowPerSetting() throws {
        let sweep = root.appendingPathComponent("sweep").path
        let result = try run(["sweep", "--out", sweep, "--studies", "temperature,similarity", "--temperatures", "0.1,0.5",
                              "--width", "0.125", "--pretrain-epochs", "1", "--probe-epochs", "2", "--no-knn",
                              "--pretrain-arg=--batch-size=32"] + tinyData)
        XCTAssertEqual(result.status, 0, result.output)
        let lines = try text("sweep/sweep.csv").split(separator: "\n")
        XCTAssertEqual(lines.first, "study,setting,final_epoch,loss,acc_top1,acc_top5,linear_top1,linear_top5,knn_top1")
        XCTAssertEqual(lines.dropFirst().map { $0.split(separator: ",").prefix(2).joined(separator: ",") },
                       ["temperature,\"0.1\"", "temperature,\"0.5\"", "similarity,\"cosine\"", "similarity,\"l2\""])
        // The setting reached the pretraining: its config records the temperature it ran with.
        let config = try text("sweep/temperature-0.1/pretrain/config.json")
        XCTAssert(config.contains("\"temperature\" : 0.1"), config)
        for line in lines.dropFirst() {
            let cells = line.split(separator: ",", omittingEmptySubsequences: false)
            let loss = try XCTUnwrap(Double(cells[3]))
            XCTAssert(loss.isFinite && loss > 0, String(line))
            XCTAssert((0...1).contains(try XCTUnwrap(Double(cells[6]))), String(line))
            XCTAssertEqual(cells[8], "", "kNN column empty with --no-knn")
        }
        XCTAssert(try text("sweep/sweep.md").replacingOccurrences(of: " +", with: " ", options: .regularExpression)
            .contains("| temperature | 0.5 |"))
    }

    func testStudyCommandsRejectBadArguments() throws {
        let cases: [([String], String)] = [
            (["compare", "--out", "x", "--label-fractions", "0.1,2"], "not a fraction in (0, 1]"),
            (["compare", "--out", "x", "--evaluations", "linear,magic"], "unknown 'magic'"),
            (["compare", "--out", "x", "--encoder", "/nonexistent.safetensors"], "file not found"),
            (["compare", "--out", "x", "--ranks", "0"], "--ranks must be at least 1"),
            (["sweep", "--out", "x", "--studies", "colour"], "unknown 'colour'"),
            (["sweep", "--out", "x", "--ablations", "crop,rotate"], "unknown 'rotate'"),
            (["sweep", "--out", "x", "--heads", "512,0"], "not a list of positive layer sizes"),
        ]
        for (args, message) in cases {
            let result = try run(args, timeout: 30)
            XCTAssertNotEqual(result.status, 0, "\(args)")
            XCTAssert(result.output.contains(message), "\(args): expected '\(message)' in\n\(result.output)")
        }
    }
}
