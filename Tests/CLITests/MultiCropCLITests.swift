import Foundation
import XCTest

/// `simclr bench --small-crops N` (docs/multi-crop.md, note 'Cost'): the step with small crops runs and its
/// FLOPs count the second forward, and bad small-crop flags are refused.
final class MultiCropCLITests: XCTestCase {
    private func benchJSON(_ extra: [String], in dir: URL) throws -> [String: Any] {
        let run = try runSimclr(["bench", "--json", "--steps", "1", "--warmup", "0", "--no-roofline", "--width", "0.125",
                                 "--proj-dims", "32,16", "--batch-size", "4", "--threads", "1"] + extra, in: dir)
        XCTAssertEqual(run.status, 0, run.stderr)
        let line = try XCTUnwrap(run.stdout.split(separator: "\n").last)
        return try XCTUnwrap(JSONSerialization.jsonObject(with: Data(line.utf8)) as? [String: Any])
    }

    func testBenchWithSmallCropsReportsTheirCost() throws {
        let dir = try makeTemporaryDirectory(self)
        let plain = try benchJSON([], in: dir)
        let multi = try benchJSON(["--small-crops", "2", "--small-crop-size", "16"], in: dir)
        XCTAssertEqual(multi["small_crops"] as? Int, 2)
        XCTAssertGreaterThan(try XCTUnwrap(multi["ms_per_step"] as? Double), 0)
        // 4 images x 2 small crops of 16 px are 2 views' worth of 32 px convolutions next to the 8 global views.
        let ratio = try XCTUnwrap(multi["gflop_per_step"] as? Double) / XCTUnwrap(plain["gflop_per_step"] as? Double)
        XCTAssertEqual(ratio, 1.25, accuracy: 0.03)
    }

    func testBadSmallCropFlagsAreRefused() throws {
        let dir = try makeTemporaryDirectory(self)
        for flags in [["--small-crops", "-1"], ["--small-crops", "2", "--small-crop-size", "2"],
                      ["--small-crops", "2", "--small-crop-scale", "0.2,0.1"]] {
            let run = try runSimclr(["bench", "--steps", "1", "--no-roofline"] + flags, in: dir)
            XCTAssertNotEqual(run.status, 0, "\(flags) should be refused")
        }
    }
}
