import Foundation
import RunFiles
import XCTest

/// The row types own metrics.csv's header, the formatting of each value and reading rows back.
final class MetricsRowTests: XCTestCase {
    func testPretrainRowWritesTheHeaderAndFormatsOfThePretrainingFile() {
        XCTAssertEqual(PretrainMetricsRow.header,
                       "step,epoch,loss,acc_top1,acc_top5,mean_pos,lr,img_per_s,data_wait_s,knn_top1")
        var row = PretrainMetricsRow()
        (row.step, row.epoch, row.loss, row.top1, row.top5) = (12, 3, 4.1234567, 0.25, 0.5)
        (row.meanRank, row.learningRate, row.imagesPerSecond, row.dataWaitSeconds) = (7.25, 0.0003, 95.456, 0.01234)
        XCTAssertEqual(row.line, "12,3,4.123457,0.25000,0.50000,7.250,0.0003,95.46,0.0123,")
        row.knnTop1 = 0.125
        XCTAssertEqual(row.fields.last, "0.12500")
    }

    func testClassifierAndProbeRowsKeepTheirColumnOrder() {
        XCTAssertEqual(ClassifierMetricsRow.columns,
                       ["epoch", "step", "train_loss", "train_top1", "test_loss", "test_top1", "test_top5", "lr", "img_per_s"])
        XCTAssertEqual(ProbeMetricsRow.columns,
                       ["epoch", "train_loss", "train_top1", "test_top1", "test_top5", "test_loss", "lr"])
        var row = ProbeMetricsRow()
        (row.epoch, row.trainLoss, row.trainTop1, row.testTop1, row.testTop5, row.testLoss, row.learningRate) =
            (2, 1.5, 0.5, 0.25, 0.75, 2, 0.1)
        XCTAssertEqual(row.line, "2,1.500000,0.500000,0.250000,0.750000,2.000000,0.1")
    }

    /// What a second sink (TensorBoard) receives: every value the row holds, by column name, in file order.
    func testScalarsNameEveryKnownValue() {
        var row = PretrainMetricsRow()
        (row.step, row.epoch, row.loss, row.top1, row.top5) = (5, 0, 3, 0.1, 0.2)
        (row.meanRank, row.learningRate, row.imagesPerSecond, row.dataWaitSeconds) = (9, 0.5, 10, 0)
        XCTAssertEqual(row.scalars.map(\.0), Array(PretrainMetricsRow.columns.dropLast()), "knn_top1 unknown: left out")
        XCTAssertEqual(row.scalars.map(\.1), [5, 0, 3, 0.1, 0.2, 9, 0.5, 10, 0])
        row.knnTop1 = 0.3
        XCTAssertEqual(row.scalars.last?.0, "knn_top1")
        XCTAssertEqual(row.scalars.last?.1, 0.3)
    }

    func testRowsReadBackByColumnName() throws {
        var a = ClassifierMetricsRow(), b = ClassifierMetricsRow()
        (a.epoch, a.step, a.trainLoss, a.trainTop1, a.testLoss, a.testTop1, a.testTop5, a.learningRate, a.imagesPerSecond) =
            (1, 10, 2.5, 0.125, 2.25, 0.25, 0.5, 0.1, 50.5)
        (b.epoch, b.step, b.trainLoss, b.trainTop1, b.testLoss, b.testTop1, b.testTop5, b.learningRate, b.imagesPerSecond) =
            (2, 20, 2, 0.375, 2, 0.5, 0.75, 0.05, 60.25)
        let text = ClassifierMetricsRow.header + "\n" + a.line + "\n" + b.line + "\n" + "3,30,1.0\n"
        let rows = try XCTUnwrap(ClassifierMetricsRow.rows(csv: text))
        XCTAssertEqual(rows, [a, b], "the line cut short is skipped")
        XCTAssertNil(ClassifierMetricsRow.rows(csv: "epoch,train_loss\n1,2\n"), "no step column: another file")
        let reordered = try XCTUnwrap(PretrainMetricsRow.rows(csv: "loss,step,extra\n2.5,7,x\n"))
        XCTAssertEqual(reordered.map(\.step), [7])
        XCTAssertEqual(reordered.map(\.loss), [2.5])
        XCTAssert(reordered[0].top1.isNaN && reordered[0].knnTop1 == nil, "absent columns stay unknown")
    }
}
