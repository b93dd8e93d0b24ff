import Foundation
import RunFiles
import Studies
import XCTest

/// The tables of `compare` and `sweep`, from results and metrics files.
final class StudyTableTests: XCTestCase {
    func testComparisonTableHasOneRowPerSourceAndEvaluationAndOneColumnPerFraction() throws {
        let entries = [
            ComparisonEntry(source: "simclr", evaluation: "linear", labelFraction: 0.1, top1: 0.5, top5: 0.9, runDirectory: "a"),
            ComparisonEntry(source: "random-init", evaluation: "linear", labelFraction: 0.1, top1: 0.2, top5: 0.6, runDirectory: "b"),
            ComparisonEntry(source: "simclr", evaluation: "linear", labelFraction: 0.01, top1: 0.25, top5: 0.7, runDirectory: "c"),
            ComparisonEntry(source: "supervised", evaluation: "supervised", labelFraction: 0.1, top1: 0.4, top5: 0.8, runDirectory: "d"),
        ]
        let table = ComparisonTable(entries: entries)
        XCTAssertEqual(table.fractions, [0.01, 0.1])
        let (header, rows) = table.cells
        XCTAssertEqual(header, ["encoder", "evaluation", "1% labels", "10% labels"])
        XCTAssertEqual(rows, [["SimCLR", "linear probe", "25.0% (70.0%)", "50.0% (90.0%)"],
                              ["random init", "linear probe", "-", "20.0% (60.0%)"],
                              ["supervised from scratch", "end to end", "-", "40.0% (80.0%)"]])
        XCTAssertEqual(table.csv.split(separator: "\n").count, 5)
        XCTAssertEqual(table.csv.split(separator: "\n")[1], "simclr,linear,0.1,0.5,0.9,a")
    }

    func testComparisonEntryNeedsNumericAccuracies() {
        func results(_ json: [String: Any]) throws -> RunResults {
            try JSONDecoder().decode(RunResults.self, from: JSONSerialization.data(withJSONObject: json))
        }
        XCTAssertThrowsError(try ComparisonEntry(source: "simclr", evaluation: "knn", labelFraction: 1,
                                                 results: results(["test_top1": "high"]), runDirectory: "run"))
        XCTAssertThrowsError(try ComparisonEntry(source: "simclr", evaluation: "knn", labelFraction: 1,
                                                 results: results(["test_top1": 0.5]), runDirectory: "run"))
        XCTAssertEqual(try ComparisonEntry(source: "simclr", evaluation: "knn", labelFraction: 1,
                                           results: results(["test_top1": 0.5, "test_top5": 0.75]), runDirectory: "run").top5, 0.75)
    }

    /// The summary averages the logged steps of the last epoch only.
    func testPretrainMetricsSummaryAveragesTheLastEpoch() throws {
        let url = FileManager.default.temporaryDirectory.appendingPathComponent("metrics-\(UUID().uuidString).csv")
        defer { try? FileManager.default.removeItem(at: url) }
        let csv = """
        step,epoch,loss,acc_top1,acc_top5,mean_pos,lr,img_per_s,data_wait_s,knn_top1
        1,0,5.0,0.0,0.1,10,0.1,100,0,
        2,1,4.0,0.2,0.4,8,0.1,100,0,0.3
        3,1,3.0,0.4,0.6,6,0.1,100,0,

        """
        try Data(csv.utf8).write(to: url)
        let summary = try PretrainMetricsSummary(csv: url)
        XCTAssertEqual(summary.epoch, 1)
        XCTAssertEqual(summary.loss, 3.5, accuracy: 1e-12)
        XCTAssertEqual(summary.top1, 0.3, accuracy: 1e-12)
        XCTAssertEqual(summary.top5, 0.5, accuracy: 1e-12)
        try Data("epoch,train_loss\n1,2\n".utf8).write(to: url)
        XCTAssertThrowsError(try PretrainMetricsSummary(csv: url), "not a pretraining metrics.csv")
    }
}
