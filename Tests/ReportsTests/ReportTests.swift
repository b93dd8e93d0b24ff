import Foundation
import Reports
import RunFiles
import SVG
import XCTest

/// Small run directories in the layouts the tools write, in a temporary directory.
enum RunFixtures {
    static func temporaryDirectory(_ test: XCTestCase) throws -> URL {
        let url = FileManager.default.temporaryDirectory.appendingPathComponent("ReportsTests-\(UUID().uuidString)")
        try FileManager.default.createDirectory(at: url, withIntermediateDirectories: true)
        test.addTeardownBlock { try? FileManager.default.removeItem(at: url) }
        return url
    }

    static func write(_ text: String, _ url: URL) throws {
        try FileManager.default.createDirectory(at: url.deletingLastPathComponent(), withIntermediateDirectories: true)
        try Data(text.utf8).write(to: url)
    }

    /// A pretraining run: 3 epochs of 10 steps (epoch column 0-based as MetricsLog writes it), kNN top-1
    /// at steps 10, 20, 30, and a config.json with steps_per_epoch.
    static func pretrain(in dir: URL) throws -> URL {
        var csv = "step,epoch,loss,acc_top1,acc_top5,mean_pos,lr,img_per_s,data_wait_s,knn_top1\n"
        for step in 1...30 {
            let knn = step % 10 == 0 ? String(format: "%.5f", 0.3 + Double(step) / 100) : ""
            csv += "\(step),\((step - 1) / 10),\(5 - Double(step) * 0.1),\(Double(step) / 100),\(Double(step) / 50),"
                + "4.0,0.3,\(step == 1 ? 5.0 : 20.0),0.01,\(knn)\n"
        }
        let run = dir.appendingPathComponent("pretrain")
        try write(csv, run.appendingPathComponent("metrics.csv"))
        try write("""
            {"settings": {"batchSize": 128, "epochs": 3, "lr": 0.3, "optimizer": "sgd", "temperature": 0.07,
              "model": {"stem": "cifar", "width": 0.25, "headDims": [512, 256]}},
             "steps_per_epoch": 10, "world_size": 2, "git_commit": "0123456789abcdef"}
            """, run.appendingPathComponent("config.json"))
        return run
    }

    /// A supervised-style run: the column set of `simclr supervised` / fine-tuning, plus a column the
    /// report does not know, and its results.json.
    static func supervised(in dir: URL, name: String = "supervised") throws -> URL {
        var csv = "epoch,step,train_loss,train_top1,test_loss,test_top1,test_top5,lr,img_per_s,extra_column\n"
        for epoch in 1...5 {
            csv += "\(epoch),\(epoch * 20),\(2.0 / Double(epoch)),\(0.2 + 0.1 * Double(epoch)),\(2.2 / Double(epoch)),"
                + "\(0.15 + 0.1 * Double(epoch)),\(0.5 + 0.05 * Double(epoch)),0.1,\(30 + epoch),zzz\n"
        }
        let run = dir.appendingPathComponent(name)
        try write(csv, run.appendingPathComponent("metrics.csv"))
        try write("""
            {"method": "supervised", "label_fraction": 0.1, "test_top1": 0.65, "test_top5": 0.75,
             "train_loss": 0.4, "epochs": 5, "width": 0.25, "stem": "cifar", "random_init": true, "note": "a | b"}
            """, run.appendingPathComponent("results.json"))
        return run
    }
}

final class ReportTests: XCTestCase {
    func testMetricsTableReadsByHeader() {
        let t = MetricsTable(csv: "a,b,c\n1,,x\n2,3\n\n4,5,6,7\n")
        XCTAssertEqual(t.columns, ["a", "b", "c"])
        XCTAssertEqual(t.rows.count, 3)
        XCTAssertEqual(t.column("a"), [1, 2, 4])
        XCTAssert(t.column("b")![0].isNaN && t.column("c")![1].isNaN, "empty, missing and text fields are NaN")
        XCTAssertEqual(t.last("b"), 5)
        XCTAssertNil(t.column("nope"))
        XCTAssertEqual(RunKind(metrics: t), .unknown)
        XCTAssertEqual(RunKind(metrics: nil), .resultsOnly)
    }

    func testMarkdownTableEscapesAndAligns() {
        let table = MarkdownTable(headers: ["name", "value"], rows: [["a|b", "1.5"], ["two\nlines", "10"], ["short"]],
                                  alignments: [.left, .right])
        XCTAssertEqual(table.markdown(), """
            | name      | value |
            | --------- | ----: |
            | a\\|b      |   1.5 |
            | two lines |    10 |
            | short     |       |

            """)
        let html = table.html()
        XCTAssert(html.contains("<td>a|b</td><td class=\"num\">1.5</td>"), html)
        XCTAssertEqual(MarkdownTable(headers: ["x"], rows: [["<&>"]]).html().contains("&lt;&amp;&gt;"), true)
    }

    /// The table `simclr compare` renders from results.json dictionaries.
    func testResultsTableFromDictionaries() throws {
        let dictionaries: [[String: Any]] = [
            ["method": "linear-eval", "encoder": "/x/runs/cifar/model.safetensors", "label_fraction": 0.01,
             "test_top1": 0.5, "test_top5": 0.9, "train_loss": 1.25, "epochs": 100, "width": 1.0],
            ["method": "knn", "encoder": "random-init", "random_init": true, "test_top1": 0.1234],
        ]
        let results = try dictionaries.map {
            try JSONDecoder().decode(RunResults.self, from: JSONSerialization.data(withJSONObject: $0))
        }
        let table = ReportWriter.resultsTable(results, names: ["simclr-1pct", "random-knn"])
        XCTAssertEqual(table.headers, ReportWriter.summaryHeaders)
        XCTAssertEqual(table.rows[0], ["simclr-1pct", "linear-eval", "cifar/model.safetensors (ResNet-18)", "1%", "50.00%",
                                       "90.00%", "1.2500", "100", "-"])
        XCTAssertEqual(table.rows[1], ["random-knn", "knn", "random init", "-", "12.34%", "-", "-", "-", "-"])
    }

    func testPretrainSummaryAndCurves() throws {
        let dir = try RunFixtures.temporaryDirectory(self)
        let run = try RunRecord.load(try RunFixtures.pretrain(in: dir))
        XCTAssertEqual(run.kind, .pretrain)
        XCTAssertEqual(run.stepsPerEpoch, 10)
        let s = run.summary
        XCTAssertEqual(s.method, "simclr")
        XCTAssertEqual(s.encoder, "ResNet-18 x0.25")
        XCTAssertEqual(s.testTop1!, 0.6, accuracy: 1e-9, "the last kNN value")
        XCTAssert(s.top1IsKNN)
        XCTAssertEqual(s.epochs, 3)
        XCTAssertEqual(s.imagesPerSecond, 20, "median, not hurt by the slow first step")
        // Last epoch: steps 21...30, loss 5 - 0.1 step -> mean 2.45.
        XCTAssertEqual(s.finalLoss!, 2.45, accuracy: 1e-9)
        let means = PretrainCurves(metrics: run.metrics!, stepsPerEpoch: run.stepsPerEpoch).epochMeans("loss")
        XCTAssertEqual(means.map(\.x), [1, 2, 3])
        XCTAssertEqual(means[0].value, 4.45, accuracy: 1e-9)
        let charts = RunCharts.charts(for: run)
        XCTAssertEqual(charts.map(\.stem), ["loss", "contrastive_accuracy", "knn_top1"])
        XCTAssertEqual(charts[1].chart.series.count, 4, "top-1 and top-5, per step and per epoch")
        XCTAssertEqual(charts[2].chart.series[0].y.count, 3, "kNN only where it ran")
    }

    func testBucketingLongRuns() {
        var csv = "step,epoch,loss,acc_top1\n"
        for step in 1...5000 { csv += "\(step),\((step - 1) / 1000),\(Double(step % 2)),0.5\n" }
        let curves = PretrainCurves(metrics: MetricsTable(csv: csv), stepsPerEpoch: nil)
        XCTAssertEqual(curves.stepsPerEpoch, 1000)
        let s = curves.perStep("loss")
        XCTAssertEqual(s.x.count, 1667)
        XCTAssertEqual(s.y[0], 2.0 / 3, accuracy: 1e-12)
    }

    /// One run: report.md holds the table row, the SVGs exist and parse, the HTML embeds them.
    func testReportOfOneSupervisedRun() throws {
        let dir = try RunFixtures.temporaryDirectory(self)
        let run = try RunRecord.load(try RunFixtures.supervised(in: dir))
        XCTAssertEqual(run.kind, .epochs)
        let written = try ReportWriter.write(runs: [run], to: run.directory)
        XCTAssertEqual(written.map(\.lastPathComponent), ["report.md", "report.html", "loss.svg", "accuracy.svg"])
        let md = try String(contentsOf: written[0], encoding: .utf8)
        XCTAssert(md.contains("| supervised | supervised | random init (ResNet-18 x0.25) |    10% |     65.00% |     75.00% |"
                              + "     0.4000 |      5 |  33.0 |"), md)
        XCTAssert(md.contains("![supervised: accuracy](plots/accuracy.svg)"), md)
        XCTAssert(md.contains("| note           | a \\| b"), "results.json values are escaped in the table:\n\(md)")
        let accuracy = parseXML(try String(contentsOf: written[3], encoding: .utf8))
        XCTAssertEqual(accuracy.counts["polyline"], 3, "train top-1, test top-1, test top-5")
        XCTAssertEqual(accuracy.counts["circle"], 15, "markers: 5 epochs x 3 series")
        let html = try String(contentsOf: written[1], encoding: .utf8)
        XCTAssertEqual(html.components(separatedBy: "<svg ").count - 1, 2, "both SVGs inline")
        XCTAssert(html.contains("<td>a | b</td>"))
    }

    /// A t-SNE map drawn into the report's directory, with its summary beside it, is shown with its agreement.
    func testReportShowsFeatureMapsWithTheirAgreement() throws {
        let dir = try RunFixtures.temporaryDirectory(self)
        let run = try RunRecord.load(try RunFixtures.supervised(in: dir))
        let out = dir.appendingPathComponent("report")
        try FileManager.default.createDirectory(at: out, withIntermediateDirectories: true)
        let map = out.appendingPathComponent("tsne-simclr.svg")
        try Data(ScatterPlot(title: "t-SNE: simclr", x: [0, 1], y: [1, 0], labels: [0, 1], classNames: []).svg().utf8).write(to: map)
        try FeatureMapSummary(title: "t-SNE: simclr", points: 2, mapAgreement: 0.25, inputAgreement: 0.5).write(besides: map)
        let written = try ReportWriter.write(runs: [run], to: out)
        let md = try String(contentsOf: written[0], encoding: .utf8)
        XCTAssert(md.contains("## Feature maps (t-SNE)") && md.contains("![t-SNE: simclr](tsne-simclr.svg)"), md)
        XCTAssert(md.contains("shares its class 25.0% of the time (in the features the map was made from: 50.0%)"), md)
        let html = try String(contentsOf: written[1], encoding: .utf8)
        XCTAssertEqual(html.components(separatedBy: "<svg ").count - 1, 3, "the run's two plots and the map inline")
    }

    /// Several runs into one directory: combined table, comparison chart, per-run plot folders; run names made unique.
    func testCombinedReport() throws {
        let dir = try RunFixtures.temporaryDirectory(self)
        let a = try RunFixtures.supervised(in: dir.appendingPathComponent("a"))
        let b = try RunFixtures.supervised(in: dir.appendingPathComponent("b"))
        let p = try RunFixtures.pretrain(in: dir)
        let out = dir.appendingPathComponent("report")
        let written = try ReportWriter.write(runs: try [a, b, p].map(RunRecord.load), to: out)
        let names = Set(written.map { $0.path.replacingOccurrences(of: out.path + "/", with: "") })
        XCTAssertEqual(names, ["report.md", "report.html", "plots/compare_test_top1.svg",
                               "plots/a_supervised/loss.svg", "plots/a_supervised/accuracy.svg",
                               "plots/b_supervised/loss.svg", "plots/b_supervised/accuracy.svg",
                               "plots/pretrain/loss.svg", "plots/pretrain/contrastive_accuracy.svg",
                               "plots/pretrain/knn_top1.svg"])
        let md = try String(contentsOf: out.appendingPathComponent("report.md"), encoding: .utf8)
        for row in ["| a/supervised |", "| b/supervised |", "| pretrain     | simclr     | ResNet-18 x0.25"] {
            XCTAssert(md.contains(row), "\(row) missing:\n\(md)")
        }
        XCTAssert(md.contains("## a/supervised") && md.contains("## pretrain"))
        for url in written where url.pathExtension == "svg" {
            _ = parseXML(try String(contentsOf: url, encoding: .utf8))
        }
        let compare = parseXML(try String(contentsOf: out.appendingPathComponent("plots/compare_test_top1.svg"), encoding: .utf8))
        XCTAssertEqual(compare.counts["polyline"], 2)
    }

    func testDirectoriesWithoutRunFilesAreErrors() throws {
        let dir = try RunFixtures.temporaryDirectory(self)
        XCTAssertThrowsError(try RunRecord.load(dir)) { error in
            XCTAssertEqual(error as? ReportError, .noRunFiles(dir.path))
            XCTAssert("\(error)".contains(dir.path))
        }
        let missing = dir.appendingPathComponent("missing")
        XCTAssertThrowsError(try RunRecord.load(missing)) { XCTAssertEqual($0 as? ReportError, .notADirectory(missing.path)) }
        try RunFixtures.write("[1, 2]", dir.appendingPathComponent("results.json"))
        XCTAssertThrowsError(try RunRecord.load(dir)) { XCTAssert("\($0)".contains("not a JSON object")) }
    }

    func testAReportOfSeveralDirectoriesSkipsTheUnusableOnesUnlessNoneIsUsable() throws {
        let dir = try RunFixtures.temporaryDirectory(self)
        let missing = dir.appendingPathComponent("missing")
        XCTAssertThrowsError(try ReportWriter.write(runDirectories: [dir, missing], combined: nil) { _ in }) {
            XCTAssertEqual($0 as? ReportError, .noUsableRun(["\(ReportError.noRunFiles(dir.path))",
                                                            "\(ReportError.notADirectory(missing.path))"]))
        }
        try RunFixtures.write(#"{"test_top1": 0.5, "test_top5": 0.9, "method": "knn"}"#, dir.appendingPathComponent("results.json"))
        var warnings: [String] = []
        let (written, table) = try ReportWriter.write(runDirectories: [dir, missing], combined: nil) { warnings.append($0) }
        XCTAssertEqual(warnings, ["warning: skipping \(ReportError.notADirectory(missing.path))"])
        XCTAssertNil(table)  // one usable run: no combined table
        XCTAssert(written.contains(dir.appendingPathComponent("report.md")), "\(written)")
    }
}
