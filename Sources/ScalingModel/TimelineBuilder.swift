import Foundation
import Tracing

extension StepTimeline {
    /// Builds a timeline from a single-process trace of several steps (`Tracing`'s compute row with the
    /// `StepSpans` labels): in each `step` span, the communication events in order (SyncBN reductions, the
    /// gather, its backward, gradients reported ready, the wait for gradients, the totals), with the compute
    /// between them. Each gap is the median over the steps; every step must show the same events.
    public static func build(events: [TraceEvent], names: [String], identity: Identity, machine: String, threads: Int,
                             measuredAt: String, embeddingDim: Int, parameters: [Parameter],
                             lossTimes: [LossTime]) throws -> StepTimeline {
        func name(_ e: TraceEvent) -> String { names.indices.contains(Int(e.name.id)) ? names[Int(e.name.id)] : "" }
        let ordered = events.sorted { $0.start != $1.start ? $0.start < $1.start : $0.duration > $1.duration }
        let steps = ordered.filter { !$0.isInstant && name($0) == StepSpans.step }
        guard !steps.isEmpty else { throw ScalingModelError.badInput("the trace has no '\(StepSpans.step)' span") }

        /// (kind, label, count, start, end) of the events inside one step.
        func stepEvents(_ step: TraceEvent) throws -> [(Kind, String, Int, UInt64, UInt64)] {
            try ordered.filter { $0.start >= step.start && $0.end <= step.end }.compactMap { e in
                let n = name(e)
                let kind: Kind
                var label = n, count = Int(e.argument == TraceEvent.noArgument ? 0 : e.argument)
                if n.hasPrefix(StepSpans.syncBatchNormPrefix) { kind = .syncBatchNorm; label = String(n.dropFirst(StepSpans.syncBatchNormPrefix.count)) }
                else if n.hasPrefix(StepSpans.readyPrefix) { kind = .ready; label = String(n.dropFirst(StepSpans.readyPrefix.count)) }
                else if n == StepSpans.gather { kind = .gather }
                else if n == StepSpans.gatherBackward { kind = .gatherBackward }
                else if n == StepSpans.waitForGradients { kind = .finishGradients }
                else if n == StepSpans.totals { kind = .totals }
                else { return nil }
                if kind != .ready && e.isInstant { throw ScalingModelError.badInput("'\(n)' must be a span, not a mark") }
                if (kind == .gather || kind == .gatherBackward), count <= 0 {
                    throw ScalingModelError.badInput("'\(n)' needs its rows per rank as the span's argument")
                }
                if kind == .totals && count <= 0 { count = 6 }
                return (kind, label, count, e.start, e.end)
            }
        }

        let perStep = try steps.map(stepEvents)
        let shape = perStep[0].map { "\($0.0.rawValue) \($0.1) \($0.2)" }
        for (i, s) in perStep.enumerated() where s.map({ "\($0.0.rawValue) \($0.1) \($0.2)" }) != shape {
            throw ScalingModelError.badInput("step \(i + 1) of the trace has other events than step 1 (\(s.count) vs \(shape.count)): profile steps of one shape")
        }
        guard shape.contains(where: { $0.hasPrefix(Kind.finishGradients.rawValue) }) else {
            throw ScalingModelError.badInput("the trace's steps have no '\(StepSpans.waitForGradients)' span")
        }
        func median(_ xs: [Double]) -> Double { let s = xs.sorted(); return s.isEmpty ? 0 : s[s.count / 2] }
        var out: [Event] = []
        for k in perStep[0].indices {
            let gaps = zip(steps, perStep).map { step, evs -> Double in
                let previousEnd = k == 0 ? step.start : evs[k - 1].4
                return Double(Int64(bitPattern: evs[k].3 &- previousEnd)) * 1e-9
            }
            let e = perStep[0][k]
            out.append(Event(kind: e.0, computeSeconds: max(0, median(gaps)), label: e.1, count: e.2))
        }
        let trailing = median(zip(steps, perStep).map { step, evs in Double(Int64(bitPattern: step.end &- (evs.last?.4 ?? step.start))) * 1e-9 })
        return StepTimeline(identity: identity, machine: machine, threads: threads, measuredSteps: steps.count, measuredAt: measuredAt,
                            embeddingDim: embeddingDim, parameters: parameters, events: out, trailingSeconds: max(0, trailing),
                            lossTimes: lossTimes)
    }
}
