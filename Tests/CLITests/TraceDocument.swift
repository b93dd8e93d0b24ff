import Foundation
import XCTest

/// A Chrome trace written by `--trace` (bench or pretrain), read the way the trace tests look at it: one
/// process per rank, its rows (thread names to ids) and its complete ("X") spans.
struct TraceDocument {
    let events: [[String: Any]]

    init(contentsOf file: URL) throws {
        let object = try JSONSerialization.jsonObject(with: Data(contentsOf: file)) as? [String: Any]
        events = try XCTUnwrap(object?["traceEvents"] as? [[String: Any]])
    }

    static func name(_ e: [String: Any]) -> String { e["name"] as? String ?? "" }
    static func args(_ e: [String: Any]) -> Int? { (e["args"] as? [String: Any])?["value"] as? Int }
    /// A span's start and end (microseconds).
    static func interval(_ e: [String: Any]) -> (Double, Double) {
        let ts = e["ts"] as? Double ?? 0
        return (ts, ts + (e["dur"] as? Double ?? 0))
    }

    /// The ranks that wrote a process.
    var ranks: Set<Int> { Set(events.filter { Self.name($0) == "process_name" }.compactMap { $0["pid"] as? Int }) }

    /// Rank `rank`'s rows by name, and its spans.
    func rank(_ rank: Int) -> (rows: [String: Int], spans: [[String: Any]]) {
        let mine = events.filter { $0["pid"] as? Int == rank }
        let rows = Dictionary(mine.filter { Self.name($0) == "thread_name" }
            .map { ((($0["args"] as? [String: Any])?["name"] as? String) ?? "", $0["tid"] as? Int ?? -1) }) { a, _ in a }
        return (rows, mine.filter { $0["ph"] as? String == "X" })
    }
}
