import Foundation
import TestSupport
import XCTest

/// `simclr report` and `simclr tsne` end to end (the built binary as a subprocess).
final class ReportCLITests: XCTestCase {
    func simclr(_ args: [String], timeout: Int = 120) throws -> ProcessHarness.Result {
        try ProcessHarness.run([try ProcessHarness.executable("simclr").path] + args, timeout: timeout)
    }

    func testReportPerRunAndCombined() throws {
        let dir = try RunFixtures.temporaryDirectory(self)
        let pretrain = try RunFixtures.pretrain(in: dir), supervised = try RunFixtures.supervised(in: dir)

        let perRun = try simclr(["report", pretrain.path, supervised.path])
        XCTAssertEqual(perRun.status, 0, perRun.output)
        for file in ["report.md", "report.html", "plots/loss.svg", "plots/contrastive_accuracy.svg", "plots/knn_top1.svg"] {
            let url = pretrain.appendingPathComponent(file)
            XCTAssert(FileManager.default.fileExists(atPath: url.path), file)
            XCTAssert(perRun.output.contains("wrote \(url.path)"), "the path written is printed: \(perRun.output)")
        }
        XCTAssert(FileManager.default.fileExists(atPath: supervised.appendingPathComponent("plots/accuracy.svg").path))
        XCTAssert(perRun.output.contains("| supervised | supervised |"), "combined table printed:\n\(perRun.output)")

        // --out: one combined report; a directory that is not a run is skipped with a warning.
        let out = dir.appendingPathComponent("combined")
        let combined = try simclr(["report", pretrain.path, supervised.path, dir.appendingPathComponent("empty").path,
                                   "--out", out.path])
        XCTAssertEqual(combined.status, 0, combined.output)
        XCTAssert(combined.output.contains("warning: skipping \(dir.path)/empty: no such directory"), combined.output)
        let md = try String(contentsOf: out.appendingPathComponent("report.md"), encoding: .utf8)
        XCTAssert(md.contains("| pretrain ") && md.contains("| supervised "), md)
        XCTAssert(FileManager.default.fileExists(atPath: out.appendingPathComponent("plots/supervised/loss.svg").path))

        // Nothing usable: an error naming the directory.
        let bad = try simclr(["report", dir.appendingPathComponent("combined/plots").path])
        XCTAssertNotEqual(bad.status, 0)
        XCTAssert(bad.output.contains("combined/plots: neither metrics.csv nor results.json found"), bad.output)
    }
}
