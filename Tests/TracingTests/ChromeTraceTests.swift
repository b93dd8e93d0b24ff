import Foundation
import XCTest
import Tracing

final class ChromeTraceTests: XCTestCase {
    /// The file as the viewers read it: every event object of `traceEvents`.
    private func parse(_ document: String, file: StaticString = #filePath, line: UInt = #line) throws -> [[String: Any]] {
        let object = try JSONSerialization.jsonObject(with: Data(document.utf8)) as? [String: Any]
        let events = try XCTUnwrap(object?["traceEvents"] as? [[String: Any]], "no traceEvents array", file: file, line: line)
        return events
    }

    func testSpansNestAndMarksAreInstants() throws {
        let tracer = Tracer(capacity: 64)
        let step = tracer.name("step"), forward = tracer.name("forward"), conv = tracer.name("conv \"1\"")
        let ready = tracer.name("ready")
        tracer.alignOrigin()
        tracer.compute.begin(step, argument: 7)
        tracer.compute.begin(forward)
        tracer.compute.measure(conv) { _ = usleep(1000) }
        tracer.compute.instant(ready, argument: 3)
        tracer.compute.end()
        tracer.compute.end()
        let comm = tracer.track(named: "communication")
        XCTAssertTrue(comm === tracer.track(named: "communication"), "a track name must give the same track")
        comm.measure(tracer.name("bucket 0"), argument: 4096) { _ = usleep(500) }

        let events = try parse(ChromeTrace.document(joining: [ChromeTrace.events(of: tracer, rank: 3, processName: "rank 3 (a)")]))
        let spans = events.filter { $0["ph"] as? String == "X" }
        XCTAssertEqual(spans.compactMap { $0["name"] as? String }, ["step", "forward", "conv \"1\"", "bucket 0"])
        XCTAssertTrue(events.allSatisfy { $0["pid"] as? Int == 3 })
        func interval(_ name: String) throws -> (Double, Double) {
            let e = try XCTUnwrap(spans.first { $0["name"] as? String == name })
            let ts = try XCTUnwrap(e["ts"] as? Double), dur = try XCTUnwrap(e["dur"] as? Double)
            return (ts, ts + dur)
        }
        let (s0, s1) = try interval("step"), (f0, f1) = try interval("forward"), (c0, c1) = try interval("conv \"1\"")
        XCTAssertTrue(s0 <= f0 && f1 <= s1 && f0 <= c0 && c1 <= f1, "spans do not nest: step \(s0)-\(s1) forward \(f0)-\(f1) conv \(c0)-\(c1)")
        XCTAssertGreaterThanOrEqual(c1 - c0, 900, "a 1 ms sleep must last about 1000 us")
        XCTAssertGreaterThanOrEqual(s0, 0)
        let mark = try XCTUnwrap(events.first { $0["ph"] as? String == "i" })
        XCTAssertEqual(mark["name"] as? String, "ready")
        XCTAssertEqual((mark["args"] as? [String: Any])?["value"] as? Int, 3)
        XCTAssertTrue((mark["ts"] as! Double) >= c1 && (mark["ts"] as! Double) <= f1)
        let threads = events.filter { $0["name"] as? String == "thread_name" }
        XCTAssertEqual(threads.compactMap { ($0["args"] as? [String: Any])?["name"] as? String }, ["compute", "communication"])
        XCTAssertEqual(Set(spans.compactMap { $0["tid"] as? Int }).count, 2, "compute and communication share a row")
        let process = events.first { $0["name"] as? String == "process_name" }
        XCTAssertEqual((process?["args"] as? [String: Any])?["name"] as? String, "rank 3 (a)")
    }

    func testAFullTrackDropsAndCountsInsteadOfGrowing() throws {
        let tracer = Tracer(capacity: 3)
        let a = tracer.name("a")
        tracer.compute.begin(a)            // kept
        for _ in 0..<4 { tracer.compute.measure(a) {} }   // 2 kept, 2 dropped
        tracer.compute.end()
        XCTAssertEqual(tracer.compute.count, 3)
        XCTAssertEqual(tracer.compute.dropped, 2)
        XCTAssertEqual(tracer.compute.depth, 0)
        let events = try parse(ChromeTrace.document(joining: [ChromeTrace.events(of: tracer, rank: 0, processName: "p")]))
        let label = events.first { $0["name"] as? String == "thread_name" }.flatMap { ($0["args"] as? [String: Any])?["name"] as? String }
        XCTAssertEqual(label, "compute (2 events dropped: trace buffer full)")
        tracer.clear()
        XCTAssertEqual(tracer.compute.count, 0)
        XCTAssertEqual(tracer.compute.dropped, 0)
    }

    func testOpenSpansAreLeftOutAndPiecesJoin() throws {
        let tracer = Tracer(capacity: 8)
        tracer.compute.begin(tracer.name("open"))
        tracer.compute.measure(tracer.name("closed")) {}
        let other = Tracer(capacity: 8)
        other.compute.measure(other.name("x")) {}
        let events = try parse(ChromeTrace.document(joining: [
            ChromeTrace.events(of: tracer, rank: 0, processName: "r0"), ChromeTrace.events(of: other, rank: 1, processName: "r1")]))
        let names = events.filter { $0["ph"] as? String == "X" }.compactMap { $0["name"] as? String }
        XCTAssertEqual(names, ["closed", "x"])
        XCTAssertEqual(Set(events.compactMap { $0["pid"] as? Int }), [0, 1])
        tracer.compute.end()
    }

    func testMicrosecondsAndQuoting() {
        XCTAssertEqual(ChromeTrace.microseconds(1_234_567), "1234.567")
        XCTAssertEqual(ChromeTrace.microseconds(5), "0.005")
        XCTAssertEqual(ChromeTrace.microseconds(-2_000), "-2.000")
        let text = "a\"b\\c\nd\u{1}é/"
        let back = try? JSONSerialization.jsonObject(with: Data(ChromeTrace.quoted(text).utf8), options: .fragmentsAllowed) as? String
        XCTAssertEqual(back, text)
    }
}
