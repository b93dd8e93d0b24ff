import Foundation
import TestSupport
import XCTest

/// `simclr pretrain --trace FILE --trace-steps N` under mpirun: one Chrome trace with a process per rank; on each
/// rank's compute row N steps with their parts, each layer group once forward and once backward inside them, and
/// SyncBN's all-reduces inside the layers; on the communication rows the gradient buckets as non-blocking chunks.
final class PretrainTraceTests: XCTestCase {
    func testTwoRanksRecordTheRequestedStepsWithLayerSpans() throws {
        let dir = try makeTemporaryDirectory(self)
        let file = dir.appendingPathComponent("trace.json")
        let run = try ProcessHarness.mpirun(np: 2, [try simclrExecutable().path, "pretrain", "--out", dir.appendingPathComponent("run").path,
                                                    "--width", "0.0625", "--batch-size", "8", "--steps", "4", "--threads", "1",
                                                    "--synthetic-train-count", "32", "--synthetic-test-count", "8",
                                                    "--trace", file.path, "--trace-steps", "2"])
        XCTAssertEqual(run.status, 0, run.output)
        // The run's first step is left out: steps 2 and 3 are recorded.
        XCTAssertTrue(run.output.contains("trace: steps 2-3 of 2 rank(s) written to \(file.path)"), run.output)
        let trace = try TraceDocument(contentsOf: file)
        let (name, args, interval) = (TraceDocument.name, TraceDocument.args, TraceDocument.interval)
        XCTAssertEqual(trace.ranks, [0, 1])
        let layers = ["stem"] + (1...4).flatMap { s in (0...1).map { "layer\(s).\($0)" } } + ["pool", "head"]

        for rank in 0..<2 {
            let (rows, spans) = trace.rank(rank)
            let compute = try XCTUnwrap(rows["compute"], "rank \(rank): rows \(rows.keys.sorted())")
            let communication = try XCTUnwrap(rows["communication"], "rank \(rank): rows \(rows.keys.sorted())")
            let inFlight = rows.filter { $0.key.hasPrefix("communication in flight ") }.map(\.value)
            XCTAssertFalse(inFlight.isEmpty, "rank \(rank): rows \(rows.keys.sorted())")
            func inside(_ outer: [String: Any], row: Int, _ keep: (String) -> Bool = { _ in true }) -> [[String: Any]] {
                let (start, end) = interval(outer)
                return spans.filter { $0["tid"] as? Int == row && keep(name($0)) && interval($0).0 >= start && interval($0).1 <= end }
            }
            let steps = spans.filter { $0["tid"] as? Int == compute && name($0) == "step" }
            XCTAssertEqual(steps.count, 2, "rank \(rank)")
            XCTAssertEqual(spans.filter { $0["tid"] as? Int == compute && name($0) == "data" }.count, 2, "rank \(rank): one batch wait per step")
            for step in steps {
                let parts = inside(step, row: compute).map(name)
                for part in ["forward", "gather", "loss", "gather backward", "backward", "wait for gradients", "optimizer", "step totals"] {
                    XCTAssertEqual(parts.filter { $0 == part }.count, 1, "rank \(rank): '\(part)' once in each step: \(parts)")
                }
                for pass in ["forward", "backward"] {
                    let span = try XCTUnwrap(inside(step, row: compute) { $0 == pass }.first)
                    let names = inside(span, row: compute).map(name)
                    for layer in layers {
                        XCTAssertEqual(names.filter { $0 == layer }.count, 1, "rank \(rank): '\(layer)' once in \(pass): \(names)")
                    }
                    // SyncBN: every BatchNorm sums its statistics over the ranks, inside its layer group.
                    let syncBN = inside(span, row: compute) { $0 == "allreduce" }
                    XCTAssertEqual(syncBN.count, 20, "rank \(rank): ResNet-18's 20 BatchNorms in \(pass)")
                }
                let buckets = inside(step, row: communication) { $0.hasPrefix("bucket ") }
                XCTAssertFalse(buckets.isEmpty, "rank \(rank): no gradient bucket inside a step")
                let chunks = inFlight.flatMap { inside(step, row: $0) { $0 == "iallreduce" } }
                func bytes(_ e: [[String: Any]]) -> Int { e.compactMap(args).reduce(0, +) }
                XCTAssertEqual(bytes(chunks), bytes(buckets), "rank \(rank): the chunks do not carry the buckets' bytes")
            }
        }
    }

    func testTraceStepsNeedsATraceFile() throws {
        let dir = try makeTemporaryDirectory(self)
        let run = try runSimclr(["pretrain", "--out", dir.appendingPathComponent("run").path, "--trace-steps", "2"], in: dir)
        XCTAssertNotEqual(run.status, 0)
        XCTAssertTrue(run.stderr.contains("--trace-steps needs --trace FILE"), run.stdout + run.stderr)
    }
}
