import Foundation

/// Records where a process's time goes, span by span, for a step timeline (`ChromeTrace` writes it).
///
/// One tracer per process. Each thread that records gets its own `TraceTrack` (a row in the viewer):
/// `Tracer.compute` for the training step, `track(named: "communication")` for the gradient reducer's
/// thread. Labels are interned once (`name(_:)`), outside the step, so recording a span costs two clock
/// reads and two stores. With no tracer active (`Tracer.active == nil`, the default) instrumented code pays
/// one nil check.
public final class Tracer: @unchecked Sendable {
    /// The process's tracer while tracing; nil (the default) turns every instrumented span off.
    public nonisolated(unsafe) static var active: Tracer? {
        didSet { activeCompute = active?.compute }
    }
    /// The active tracer's compute track (kept apart so the layers' check is one load).
    public nonisolated(unsafe) private(set) static var activeCompute: TraceTrack?

    /// The training step's thread.
    public let compute: TraceTrack
    /// Events each new track can hold.
    public let capacity: Int
    /// Time zero of the written trace (set by `alignOrigin`, e.g. right after a barrier so ranks line up).
    public private(set) var origin: UInt64

    private let lock = NSLock()
    private var names: [String] = []
    private var ids: [String: Int32] = [:]
    private var trackList: [TraceTrack] = []

    /// `capacity`: events per track; a full track drops further events and says how many.
    public init(capacity: Int = 1 << 16) {
        self.capacity = capacity
        origin = traceClock()
        compute = TraceTrack(name: "compute", order: 0, capacity: capacity)
        trackList = [compute]
    }

    /// The label `text`, interned (call it outside the step: it may allocate).
    public func name(_ text: String) -> SpanName {
        lock.lock(); defer { lock.unlock() }
        if let id = ids[text] { return SpanName(id: id) }
        let id = Int32(names.count)
        names.append(text)
        ids[text] = id
        return SpanName(id: id)
    }

    /// The text of an interned label.
    public func text(of name: SpanName) -> String {
        lock.lock(); defer { lock.unlock() }
        return names.indices.contains(Int(name.id)) ? names[Int(name.id)] : "?"
    }

    /// The track called `name`, made on first use (rows appear in the order they were made).
    public func track(named name: String) -> TraceTrack {
        lock.lock(); defer { lock.unlock() }
        if let existing = trackList.first(where: { $0.name == name }) { return existing }
        let track = TraceTrack(name: name, order: trackList.count, capacity: capacity)
        trackList.append(track)
        return track
    }

    public var tracks: [TraceTrack] {
        lock.lock(); defer { lock.unlock() }
        return trackList
    }

    /// Events dropped because a track was full, over all tracks.
    public var droppedEvents: Int { tracks.map(\.dropped).reduce(0, +) }

    /// Makes `time` (default: now) time zero of the trace.
    public func alignOrigin(at time: UInt64 = traceClock()) { origin = time }

    /// Forgets every recorded event; call between steps, when no thread records.
    public func clear() { for t in tracks { t.clear() } }

    /// Every label, indexed by `SpanName.id`.
    public var nameTable: [String] {
        lock.lock(); defer { lock.unlock() }
        return names
    }
}
