import Foundation
import Tracing

/// A process group that records each of its collectives as a span while a tracer is active: the call
/// ("allreduce", "allgather", ...) with the bytes this rank contributes. Its duplicate (what the gradient
/// reducer's thread uses) records on the track `duplicateTrack`, so the communication thread gets its own row.
///
/// With no tracer active it adds one nil check per collective.
public final class TracedGroup: ProcessGroup, @unchecked Sendable {
    public let inner: any ProcessGroup
    /// The track this group's collectives are recorded on (the compute thread's by default).
    public let trackName: String
    public let duplicateTrack: String
    private var cache: (tracer: Tracer, track: TraceTrack, names: [SpanName])?
    private let cacheLock = NSLock()

    public init(_ inner: any ProcessGroup, track: String = "compute", duplicateTrack: String = "communication") {
        self.inner = inner
        self.trackName = track
        self.duplicateTrack = duplicateTrack
    }

    public var rank: Int { inner.rank }
    public var size: Int { inner.size }
    public var worldRank: Int { inner.worldRank }

    private enum Call: Int { case allReduce, broadcast, allGather, allGatherV }
    private static let callNames = ["allreduce", "broadcast", "allgather", "allgatherv"]

    /// The active tracer's track and labels, looked up once per tracer.
    private func recording() -> (TraceTrack, [SpanName])? {
        guard let tracer = Tracer.active else { return nil }
        cacheLock.lock(); defer { cacheLock.unlock() }
        if let cache, cache.tracer === tracer { return (cache.track, cache.names) }
        let track = trackName == "compute" ? tracer.compute : tracer.track(named: trackName)
        let names = TracedGroup.callNames.map { tracer.name($0) }
        cache = (tracer, track, names)
        return (track, names)
    }

    @inline(__always)
    private func traced(_ call: Call, bytes: Int, _ body: () throws -> Void) rethrows {
        guard let (track, names) = recording() else { return try body() }
        track.begin(names[call.rawValue], argument: Int64(bytes))
        defer { track.end() }
        try body()
    }

    public func allReduce(_ values: UnsafeMutableRawPointer, count: Int, kind: MPIElementKind, op: ReductionOp) throws {
        try traced(.allReduce, bytes: count * kind.byteCount) { try inner.allReduce(values, count: count, kind: kind, op: op) }
    }

    public func broadcast(_ values: UnsafeMutableRawPointer, count: Int, kind: MPIElementKind, root: Int) throws {
        try traced(.broadcast, bytes: count * kind.byteCount) { try inner.broadcast(values, count: count, kind: kind, root: root) }
    }

    public func allGather(_ send: UnsafeRawPointer?, count: Int, kind: MPIElementKind, into receive: UnsafeMutableRawPointer?) throws {
        try traced(.allGather, bytes: count * kind.byteCount) { try inner.allGather(send, count: count, kind: kind, into: receive) }
    }

    public func allGatherV(_ send: UnsafeRawPointer?, counts: [Int], kind: MPIElementKind, into receive: UnsafeMutableRawPointer?) throws {
        try traced(.allGatherV, bytes: counts[inner.rank] * kind.byteCount) {
            try inner.allGatherV(send, counts: counts, kind: kind, into: receive)
        }
    }

    public func duplicateGroup() throws -> any ProcessGroup {
        TracedGroup(try inner.duplicateGroup(), track: duplicateTrack, duplicateTrack: duplicateTrack + " 2")
    }

    public func free() throws { try inner.free() }

    public func abort(message: String, code: Int32) -> Never { inner.abort(message: message, code: code) }
}
