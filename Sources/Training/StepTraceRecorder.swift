import Cluster
import Foundation
import Tracing

/// `--trace FILE --trace-steps N`: a run records N of its steps on every rank (the step's spans, each layer
/// group forward and backward, the collectives, the gradient buckets on the communication thread) and writes
/// them as one Chrome trace (Perfetto, chrome://tracing; README, "A step timeline").
public struct StepTraceRequest: Sendable {
    public var path: String
    public var steps: Int

    public init(path: String, steps: Int = 3) {
        self.path = path
        self.steps = steps
    }

    /// The steps recorded by a run that goes on from step `start` (0: a fresh run) to `total`: N steps after
    /// the run's first one (which allocates buffers and sends its gradients in the smallest chunks, before the
    /// ranks agreed on a size), or from the first one when the run is too short for that.
    public func recordedSteps(after start: Int, total: Int) -> ClosedRange<Int> {
        let first = total - start > steps ? start + 2 : start + 1
        return first...max(first, min(total, first + steps - 1))
    }
}

/// Records the requested steps of a run and writes the trace: every call is made by every rank at the same
/// step (the first one aligns the ranks' clocks, the last one gathers the ranks' spans), so they are collective.
final class StepTraceRecorder {
    let request: StepTraceRequest
    let steps: ClosedRange<Int>
    private let group: any ProcessGroup
    private let tracer = Tracer()
    private var recordedUpTo: Int?

    init(request: StepTraceRequest, steps: ClosedRange<Int>, group: any ProcessGroup) {
        self.request = request
        self.steps = steps
        self.group = group
    }

    private var recording: Bool { Tracer.active === tracer }

    /// Before step `n` fetches its batch: the first recorded step turns the tracer on.
    func beforeStep(_ n: Int) throws {
        guard n == steps.lowerBound, !recording, recordedUpTo == nil else { return }
        try group.alignTraceOrigin(tracer)
        Tracer.active = tracer
    }

    /// After step `n`: after the last recorded step, writes the trace. Returns the line to log then.
    func afterStep(_ n: Int) throws -> String? {
        guard recording else { return nil }
        recordedUpTo = n
        return n >= steps.upperBound ? try write() : nil
    }

    /// At the end of a run that stopped before the last recorded step: writes what was recorded.
    func finish() throws -> String? { recording ? try write() : nil }

    /// Stops recording without writing (a run that failed).
    func abandon() { if recording { Tracer.active = nil } }

    private func write() throws -> String {
        Tracer.active = nil
        let dropped = try group.writeTrace(tracer, to: request.path)
        let first = steps.lowerBound, last = recordedUpTo ?? first
        let which = first == last ? "step \(first)" : "steps \(first)-\(last)"
        return "trace: \(which) of \(group.size) rank(s) written to \(request.path) (open it in https://ui.perfetto.dev or chrome://tracing)"
            + (dropped > 0 ? "; \(dropped) events dropped (trace buffer full)" : "")
    }
}
