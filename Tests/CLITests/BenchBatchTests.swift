import Foundation
import XCTest

/// `simclr bench --batch-size` counts images as pretrain does: each gives two views, and the report says both.
final class BenchBatchTests: XCTestCase {
    func testBatchCountsImagesAndTheReportCountsBothViews() throws {
        let dir = try makeTemporaryDirectory(self)
        // 3 images: an odd count is fine (6 views); a count of views would have been refused.
        let run = try runSimclr(["bench", "--json", "--steps", "2", "--warmup", "0", "--no-roofline", "--width", "0.0625",
                                 "--proj-dims", "16,8", "--batch-size", "3", "--image-size", "16", "--threads", "1"], in: dir)
        XCTAssertEqual(run.status, 0, run.stderr)
        let line = try XCTUnwrap(run.stdout.split(separator: "\n").last)
        let report = try XCTUnwrap(JSONSerialization.jsonObject(with: Data(line.utf8)) as? [String: Any])
        XCTAssertEqual(report["batch"] as? Int, 3)
        XCTAssertEqual(report["per_rank_batch"] as? Int, 3)
        let images = try XCTUnwrap(report["img_per_s"] as? Double), views = try XCTUnwrap(report["views_per_s"] as? Double)
        let msPerStep = try XCTUnwrap(report["ms_per_step"] as? Double)
        XCTAssertEqual(views / images, 2, accuracy: 0.01)
        XCTAssertEqual(images, 3 / (msPerStep / 1000), accuracy: 0.01 * images, "img/s = images per step / step time")
    }

    func testTableSaysImagesAndViews() throws {
        let dir = try makeTemporaryDirectory(self)
        let run = try runSimclr(["bench", "--steps", "1", "--warmup", "0", "--no-roofline", "--width", "0.0625",
                                 "--proj-dims", "16,8", "--batch-size", "2", "--image-size", "16", "--threads", "1"], in: dir)
        XCTAssertEqual(run.status, 0, run.stderr)
        XCTAssertTrue(run.stdout.contains("batch 2 images = 4 views of 16px"), run.stdout)
        XCTAssertTrue(run.stdout.contains(" views/s), "), run.stdout)
    }

    func testZeroImagesAreRefused() throws {
        let dir = try makeTemporaryDirectory(self)
        let run = try runSimclr(["bench", "--steps", "1", "--no-roofline", "--batch-size", "0"], in: dir)
        XCTAssertNotEqual(run.status, 0)
        XCTAssertTrue(run.stderr.contains("--batch-size"), run.stderr)
    }
}
