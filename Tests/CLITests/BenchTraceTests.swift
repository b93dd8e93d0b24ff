import Foundation
import TestSupport
import XCTest

/// `simclr bench --distributed --trace FILE` writes one Chrome trace for all ranks that the viewers open: a process
/// per rank, the compute row with the step's spans nested inside each step, and the communication thread's row
/// with the gradient buckets, sent as non-blocking chunks (its in-flight rows), the same bytes in every step.
final class BenchTraceTests: XCTestCase {
    func testTwoRanksWriteOneTraceWithComputeAndCommunicationRows() throws {
        let dir = try makeTemporaryDirectory(self)
        let file = dir.appendingPathComponent("trace.json")
        let steps = 2
        let run = try ProcessHarness.mpirun(np: 2, [try simclrExecutable().path, "bench", "--distributed", "--trace", file.path,
                                                    "--steps", String(steps), "--warmup", "1", "--no-roofline", "--width", "0.125",
                                                    "--proj-dims", "32,16", "--batch-size", "4", "--image-size", "16",
                                                    "--threads", "1"])
        XCTAssertEqual(run.status, 0, run.output)
        let trace = try TraceDocument(contentsOf: file)
        let (name, args, interval) = (TraceDocument.name, TraceDocument.args, TraceDocument.interval)
        XCTAssertEqual(trace.ranks, [0, 1], "one process per rank")
        var gradientBytesPerStep: [Int] = []

        for rank in 0..<2 {
            let (rows, spans) = trace.rank(rank)
            let compute = try XCTUnwrap(rows["compute"], "rank \(rank): no compute row in \(rows)")
            let communication = try XCTUnwrap(rows["communication"], "rank \(rank): no communication row in \(rows)")
            let inFlight = rows.filter { $0.key.hasPrefix("communication in flight ") }.map(\.value)
            XCTAssertFalse(inFlight.isEmpty, "rank \(rank): no in-flight row in \(rows)")
            let stepSpans = spans.filter { $0["tid"] as? Int == compute && name($0) == "step" }
            XCTAssertEqual(stepSpans.count, steps, "rank \(rank)")
            for step in stepSpans {
                let (start, end) = interval(step)
                let inside = spans.filter { $0["tid"] as? Int == compute && interval($0).0 >= start && interval($0).1 <= end }
                    .map(name)
                for part in ["forward", "gather", "loss", "gather backward", "backward", "wait for gradients", "optimizer", "step totals"] {
                    XCTAssertEqual(inside.filter { $0 == part }.count, 1, "rank \(rank): '\(part)' once inside each step: \(inside)")
                }
                // Each bucket's reduction on the communication row runs between the step's start and its end, as
                // non-blocking chunks (the in-flight rows) that carry its bytes: tracing kept the pipelined path.
                func within(_ e: [String: Any]) -> Bool { interval(e).0 >= start && interval(e).1 <= end }
                let buckets = spans.filter { $0["tid"] as? Int == communication && name($0).hasPrefix("bucket ") && within($0) }
                XCTAssertGreaterThan(buckets.count, 0, "rank \(rank): no bucket inside a step")
                let chunks = spans.filter { inFlight.contains($0["tid"] as? Int ?? -1) && name($0) == "iallreduce" && within($0) }
                XCTAssertEqual(chunks.compactMap(args).reduce(0, +), buckets.compactMap(args).reduce(0, +),
                               "rank \(rank): the chunks in flight do not carry the buckets' bytes")
                let blocking = spans.filter { $0["tid"] as? Int == communication && name($0) == "allreduce" && within($0) }
                XCTAssertTrue(blocking.allSatisfy { args($0) == 8 }, "rank \(rank): only the 8-byte chunk-size agreement blocks: \(blocking)")
                gradientBytesPerStep.append(buckets.compactMap(args).reduce(0, +))
            }
            let gathers = spans.filter { $0["tid"] as? Int == compute && name($0) == "gather" }
            XCTAssertTrue(gathers.allSatisfy { args($0) == 4 }, "rows per rank: 4 images (8 views) over 2 ranks")
        }
        // The same gradient bytes cross in every step on every rank.
        XCTAssertEqual(gradientBytesPerStep.count, 2 * steps)
        XCTAssertEqual(Set(gradientBytesPerStep).count, 1, "\(gradientBytesPerStep)")
        XCTAssertGreaterThan(gradientBytesPerStep.first ?? 0, 100_000)
    }
}
