#if canImport(Glibc)
import Glibc
#endif

/// Nanoseconds on the monotonic clock: the time base of every recorded span.
@inline(__always)
public func traceClock() -> UInt64 {
    var ts = timespec()
    clock_gettime(CLOCK_MONOTONIC, &ts)
    return UInt64(ts.tv_sec) &* 1_000_000_000 &+ UInt64(ts.tv_nsec)
}

/// A span's or mark's label: an index into its `Tracer`'s name table (names are interned outside the step,
/// so recording stores four bytes and allocates nothing).
public struct SpanName: Hashable, Sendable {
    public let id: Int32
    public init(id: Int32) { self.id = id }
}

/// One recorded event: a span (start and duration) or an instant mark (duration `instantMark`).
public struct TraceEvent: Equatable, Sendable {
    public var start: UInt64
    public var duration: UInt64
    public var name: SpanName
    /// A number shown with the event (bytes of a bucket, elements of a message, a step index); `noArgument` when none.
    public var argument: Int64

    public static let instantMark = UInt64.max
    static let stillOpen = UInt64.max - 1
    public static let noArgument = Int64.min

    public var isInstant: Bool { duration == TraceEvent.instantMark }
    public var end: UInt64 { isInstant ? start : start &+ duration }
}

/// The events of one thread: one row ("thread") of a rank in the trace viewer.
///
/// Only the thread that owns the track records on it (the compute thread, the gradient reducer's thread),
/// so recording needs no lock. Storage is allocated once; a full track drops further events and counts them
/// (`dropped`), it never grows during a step. Spans nest: `end()` closes the most recent open `begin`.
public final class TraceTrack: @unchecked Sendable {
    public let name: String
    /// The row's position among its rank's rows.
    public let order: Int
    public let capacity: Int
    private let storage: UnsafeMutablePointer<TraceEvent>
    public private(set) var count = 0
    public private(set) var dropped = 0
    /// Indices of the open spans, innermost last; -1 for a span that was dropped.
    private let openSpans: UnsafeMutablePointer<Int>
    private static let maximumDepth = 64
    public private(set) var depth = 0

    init(name: String, order: Int, capacity: Int) {
        precondition(capacity > 0, "a trace track needs room for at least one event")
        self.name = name
        self.order = order
        self.capacity = capacity
        storage = .allocate(capacity: capacity)
        openSpans = .allocate(capacity: TraceTrack.maximumDepth)
    }

    deinit {
        storage.deallocate()
        openSpans.deallocate()
    }

    /// Opens a span now; close it with `end()` on the same thread.
    @inline(__always)
    public func begin(_ name: SpanName, argument: Int64 = TraceEvent.noArgument) {
        begin(name, at: traceClock(), argument: argument)
    }

    public func begin(_ name: SpanName, at start: UInt64, argument: Int64 = TraceEvent.noArgument) {
        precondition(depth < TraceTrack.maximumDepth, "trace spans nested deeper than \(TraceTrack.maximumDepth) on track '\(self.name)'")
        if count < capacity {
            storage[count] = TraceEvent(start: start, duration: TraceEvent.stillOpen, name: name, argument: argument)
            openSpans[depth] = count
            count += 1
        } else {
            openSpans[depth] = -1
            dropped += 1
        }
        depth += 1
    }

    /// Closes the innermost open span.
    @inline(__always)
    public func end() { end(at: traceClock()) }

    public func end(at time: UInt64) {
        precondition(depth > 0, "TraceTrack.end() without an open span on track '\(name)'")
        depth -= 1
        let index = openSpans[depth]
        if index >= 0 { storage[index].duration = time &- storage[index].start }
    }

    /// Records a span that is already over (e.g. measured elsewhere), without nesting bookkeeping.
    public func span(_ name: SpanName, from start: UInt64, to end: UInt64, argument: Int64 = TraceEvent.noArgument) {
        guard count < capacity else { dropped += 1; return }
        storage[count] = TraceEvent(start: start, duration: end &- start, name: name, argument: argument)
        count += 1
    }

    /// A mark with no duration (a gradient reported ready, a step boundary).
    @inline(__always)
    public func instant(_ name: SpanName, argument: Int64 = TraceEvent.noArgument) {
        instant(name, at: traceClock(), argument: argument)
    }

    public func instant(_ name: SpanName, at time: UInt64, argument: Int64 = TraceEvent.noArgument) {
        guard count < capacity else { dropped += 1; return }
        storage[count] = TraceEvent(start: time, duration: TraceEvent.instantMark, name: name, argument: argument)
        count += 1
    }

    /// Runs `body` inside a span.
    @inline(__always)
    public func measure<T>(_ name: SpanName, argument: Int64 = TraceEvent.noArgument, _ body: () throws -> T) rethrows -> T {
        begin(name, argument: argument)
        defer { end() }
        return try body()
    }

    /// The recorded events, in the order their spans began. Spans still open have no duration yet and are left out.
    public var events: [TraceEvent] {
        (0..<count).map { storage[$0] }.filter { $0.duration != TraceEvent.stillOpen }
    }

    /// Forgets every event (between steps, while the owning thread records nothing).
    public func clear() {
        precondition(depth == 0, "TraceTrack.clear() with \(depth) span(s) open on track '\(name)'")
        count = 0
        dropped = 0
    }
}
