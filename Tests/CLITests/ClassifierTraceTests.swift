import Foundation
import TestSupport
import XCTest

/// `simclr supervised --trace FILE --trace-steps N` (and finetune, through the same options) under mpirun: the
/// classifier's steps with their parts on each rank's compute row, the gradient buckets on the communication row.
final class ClassifierTraceTests: XCTestCase {
    func testSupervisedRunsRecordTheirStepsOnBothRanks() throws {
        let dir = try makeTemporaryDirectory(self)
        let file = dir.appendingPathComponent("trace.json")
        let run = try ProcessHarness.mpirun(np: 2, [try simclrExecutable().path, "supervised", "--out", dir.appendingPathComponent("run").path,
                                                    "--width", "0.0625", "--batch-size", "8", "--epochs", "1", "--threads", "1",
                                                    "--synthetic-train-count", "32", "--synthetic-test-count", "8",
                                                    "--trace", file.path, "--trace-steps", "2"])
        XCTAssertEqual(run.status, 0, run.output)
        XCTAssertTrue(run.output.contains("trace: steps 2-3 of 2 rank(s) written to \(file.path)"), run.output)
        let trace = try TraceDocument(contentsOf: file)
        let (name, interval) = (TraceDocument.name, TraceDocument.interval)
        XCTAssertEqual(trace.ranks, [0, 1])
        for rank in 0..<2 {
            let (rows, spans) = trace.rank(rank)
            let compute = try XCTUnwrap(rows["compute"], "rank \(rank): rows \(rows.keys.sorted())")
            let communication = try XCTUnwrap(rows["communication"], "rank \(rank): rows \(rows.keys.sorted())")
            let steps = spans.filter { $0["tid"] as? Int == compute && name($0) == "step" }
            XCTAssertEqual(steps.count, 2, "rank \(rank)")
            for step in steps {
                let (start, end) = interval(step)
                func inside(_ row: Int) -> [String] {
                    spans.filter { $0["tid"] as? Int == row && interval($0).0 >= start && interval($0).1 <= end }.map(name)
                }
                let parts = inside(compute)
                for part in ["forward", "loss", "backward", "wait for gradients", "optimizer", "step totals", "stem", "head"] {
                    XCTAssertEqual(parts.filter { $0 == part }.count, part == "stem" || part == "head" ? 2 : 1,
                                   "rank \(rank): '\(part)' in each step (layer groups forward and backward): \(parts)")
                }
                XCTAssertFalse(inside(communication).filter { $0.hasPrefix("bucket ") }.isEmpty, "rank \(rank): no gradient bucket inside a step")
            }
        }
    }
}
