import Foundation
import Tracing

/// A process group that records each of its collectives as a span while a tracer is active: the call
/// ("allreduce", "allgather", ...) with the bytes this rank contributes. Its duplicate (what the gradient
/// reducer's thread uses) records on the track `duplicateTrack`, so the communication thread gets its own row.
///
/// Non-blocking collectives (`startAllReduce` and its siblings, which the reducer's chunk pipeline keeps
/// several of in flight) go to the inner group's non-blocking calls, so a traced run communicates as an
/// untraced one. Each is recorded from its start to the moment its thread saw it finished ("iallreduce",
/// "iallgather", "ialltoall"). Several are in flight at once and their spans overlap without nesting, which
/// the trace viewers cannot draw on one row: each takes the first free row "<track> in flight n".
///
/// With no tracer active it adds one nil check per collective.
public final class TracedGroup: ProcessGroup, @unchecked Sendable {
    public let inner: any ProcessGroup
    /// The track this group's collectives are recorded on (the compute thread's by default).
    public let trackName: String
    public let duplicateTrack: String
    private var cache: Recording?
    private let cacheLock = NSLock()

    public init(_ inner: any ProcessGroup, track: String = "compute", duplicateTrack: String = "communication") {
        self.inner = inner
        self.trackName = track
        self.duplicateTrack = duplicateTrack
    }

    public var rank: Int { inner.rank }
    public var size: Int { inner.size }
    public var worldRank: Int { inner.worldRank }

    private enum Call: Int { case allReduce, broadcast, allGather, allGatherV, startAllReduce, startAllGather, startAllToAll }
    private static let callNames = ["allreduce", "broadcast", "allgather", "allgatherv", "iallreduce", "iallgather", "ialltoall"]

    /// One tracer's rows and labels for this group. Only the thread that uses the group records, so the
    /// in-flight rows' bookkeeping needs no lock.
    private final class Recording {
        let tracer: Tracer
        let track: TraceTrack
        let names: [SpanName]
        private let rowPrefix: String
        private var inFlightRows: [TraceTrack] = []
        private var busy: [Bool] = []

        init(tracer: Tracer, trackName: String) {
            self.tracer = tracer
            track = trackName == "compute" ? tracer.compute : tracer.track(named: trackName)
            names = TracedGroup.callNames.map { tracer.name($0) }
            rowPrefix = trackName + " in flight "
        }

        /// The first free in-flight row (made on first use), marked busy.
        func claimRow() -> Int {
            if let free = busy.firstIndex(of: false) { busy[free] = true; return free }
            inFlightRows.append(tracer.track(named: rowPrefix + String(inFlightRows.count + 1)))
            busy.append(true)
            return inFlightRows.count - 1
        }

        func finish(row: Int, _ name: SpanName, from start: UInt64, argument: Int64) {
            inFlightRows[row].span(name, from: start, to: traceClock(), argument: argument)
            busy[row] = false
        }
    }

    /// The active tracer's rows and labels, made once per tracer.
    private func recording() -> Recording? {
        guard let tracer = Tracer.active else { return nil }
        cacheLock.lock(); defer { cacheLock.unlock() }
        if let cache, cache.tracer === tracer { return cache }
        let made = Recording(tracer: tracer, trackName: trackName)
        cache = made
        return made
    }

    @inline(__always)
    private func traced(_ call: Call, bytes: Int, _ body: () throws -> Void) rethrows {
        guard let r = recording() else { return try body() }
        r.track.begin(r.names[call.rawValue], argument: Int64(bytes))
        defer { r.track.end() }
        try body()
    }

    /// Starts a non-blocking collective and records it until its thread sees it finished.
    @inline(__always)
    private func tracedStart(_ call: Call, bytes: Int, _ body: () throws -> PendingCollective) rethrows -> PendingCollective {
        guard let r = recording() else { return try body() }
        let start = traceClock()
        let pending = try body()
        let row = r.claimRow(), name = r.names[call.rawValue]
        pending.whenComplete { r.finish(row: row, name, from: start, argument: Int64(bytes)) }
        return pending
    }

    /// Records a span that is over on this group's row (the reducer's `bucket <k>`, with its payload bytes).
    public func recordSpan(_ label: String, from start: UInt64, to end: UInt64, argument: Int64 = TraceEvent.noArgument) {
        guard let r = recording() else { return }
        r.track.span(r.tracer.name(label), from: start, to: end, argument: argument)
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

    public func startAllReduce(_ values: UnsafeMutableRawPointer, count: Int, kind: MPIElementKind,
                               op: ReductionOp) throws -> PendingCollective {
        try tracedStart(.startAllReduce, bytes: count * kind.byteCount) {
            try inner.startAllReduce(values, count: count, kind: kind, op: op)
        }
    }

    public func startAllGather(_ send: UnsafeRawPointer, count: Int, kind: MPIElementKind,
                               into receive: UnsafeMutableRawPointer) throws -> PendingCollective {
        try tracedStart(.startAllGather, bytes: count * kind.byteCount) {
            try inner.startAllGather(send, count: count, kind: kind, into: receive)
        }
    }

    public func startAllToAll(_ send: UnsafeRawPointer, count: Int, kind: MPIElementKind,
                              into receive: UnsafeMutableRawPointer) throws -> PendingCollective {
        try tracedStart(.startAllToAll, bytes: count * size * kind.byteCount) {
            try inner.startAllToAll(send, count: count, kind: kind, into: receive)
        }
    }

    public func duplicateGroup() throws -> any ProcessGroup {
        TracedGroup(try inner.duplicateGroup(), track: duplicateTrack, duplicateTrack: duplicateTrack + " 2")
    }

    public func free() throws { try inner.free() }

    public func abort(message: String, code: Int32) -> Never { inner.abort(message: message, code: code) }
}
