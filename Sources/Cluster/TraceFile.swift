import Foundation
import Tracing

extension ProcessGroup {
    /// Makes the ranks' trace clocks agree: every rank takes its origin as it leaves the same collective, so
    /// spans of different ranks line up to within that collective's exit skew (tens of microseconds on a
    /// fast link). Collective; call it right before the traced steps.
    public func alignTraceOrigin(_ tracer: Tracer) throws {
        var token: [Int64] = [1]
        try allReduceSum(&token)
        tracer.alignOrigin()
    }

    /// Writes every rank's recorded spans into one Chrome trace file at `path` (rank 0 writes it): process
    /// `rank r (host)` per rank, a thread row per track. Collective. Returns the events dropped on all ranks
    /// because a track was full (0 normally).
    @discardableResult
    public func writeTrace(_ tracer: Tracer, to path: String) throws -> Int {
        let piece = ChromeTrace.events(of: tracer, rank: rank, processName: "rank \(rank) (\(traceHostName()))")
        let pieces = try allGatherV(Array(piece.utf8))
        let dropped = try allReduceSum(Int64(tracer.droppedEvents))
        guard rank == 0 else { return Int(dropped) }
        let document = ChromeTrace.document(joining: pieces.map { String(decoding: $0, as: UTF8.self) })
        let url = URL(fileURLWithPath: path)
        try FileManager.default.createDirectory(at: url.deletingLastPathComponent(), withIntermediateDirectories: true)
        try Data(document.utf8).write(to: url, options: .atomic)
        return Int(dropped)
    }
}

/// This host's name (the namespace test cluster gives each node its own).
func traceHostName() -> String {
    var buffer = [CChar](repeating: 0, count: 256)
    guard gethostname(&buffer, buffer.count - 1) == 0 else { return "?" }
    return String(decoding: buffer.prefix { $0 != 0 }.map { UInt8(bitPattern: $0) }, as: UTF8.self)
}
