/// The training step's spans on the active tracer's compute row, labelled as `StepSpans` names them. With no
/// tracer active a span costs one nil check; with one, also a label lookup (a lock and a dictionary), which a
/// trace of a few steps affords (a step records a few dozen spans).
public enum StepTrace {
    /// Runs `body` inside the span `label` (argument: e.g. the rows a gather moves).
    @inline(__always)
    public static func measure<T>(_ label: String, argument: Int64 = TraceEvent.noArgument, _ body: () throws -> T) rethrows -> T {
        guard let tracer = Tracer.active else { return try body() }
        let track = tracer.compute
        track.begin(tracer.name(label), argument: argument)
        defer { track.end() }
        return try body()
    }
}
