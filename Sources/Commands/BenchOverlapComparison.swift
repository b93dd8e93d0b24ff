import Cluster
import Foundation
import NeuralNet
import Training

/// `simclr bench --distributed`: what overlapping the gradient all-reduce with backward costs compute.
///
/// On a machine where each rank has one core, the communication thread and MPI's progress share that core with
/// compute, so overlap can slow compute down while it hides the wait. Overlapped steps alternate with steps
/// that reduce after backward (`--no-overlap`'s way), in the same process and sitting, so the report gives
/// both: the wait overlap leaves exposed, and compute with overlap minus compute without.
struct OverlapComparison {
    /// Off: every timed step overlaps (or none does, with --no-overlap).
    let enabled: Bool
    private let reducer: GradientBucketReducer
    let profile = StepProfile()
    private(set) var times: [Double] = []
    private(set) var timings: [StepTiming] = []
    /// The reducer's account of each overlapped step (payload bytes, CPU of the communication thread).
    private(set) var reductions: [GradientReductionTiming] = []

    init(reducer: GradientBucketReducer, enabled: Bool) {
        self.reducer = reducer
        self.enabled = enabled && reducer.overlap
    }

    /// Timed steps in all: `steps` of the configuration asked for, and as many baseline steps between them.
    func totalSteps(_ steps: Int) -> Int { enabled ? 2 * steps : steps }

    /// Sets up timed step `i`; true when it is a baseline step (no overlap). Odd steps are the baseline.
    func beginStep(_ i: Int) -> Bool {
        guard enabled else { return false }
        let baseline = i % 2 == 1
        reducer.overlapping = !baseline
        return baseline
    }

    mutating func recordBaseline(seconds: Double, timing: StepTiming) {
        times.append(seconds)
        timings.append(timing)
    }

    mutating func recordOverlapped() {
        if let t = reducer.lastTiming { reductions.append(t) }
    }

    private func mean(_ values: [Double]) -> Double { values.isEmpty ? 0 : values.reduce(0, +) / Double(values.count) }
    var baselineCompute: Double { mean(timings.map(\.computeSeconds)) }
    var baselineWait: Double { mean(timings.map(\.communicationWaitSeconds)) }
    var baselineStep: Double { times.sorted()[times.count / 2] }
    var communicationCPU: Double { mean(reductions.map(\.communicationCPUSeconds)) }
    var payloadBytes: Double { mean(reductions.map { Double($0.payloadBytes) }) }

    /// JSON fields, given the overlapped steps' mean compute.
    func jsonFields(overlappedCompute: Double) -> [String] {
        var fields = ["\"overlap\": \(reducer.overlap)", "\"grad_payload_mb\": \(fmt3(payloadBytes / 1e6))",
                      "\"chunk_kb\": \(fmt3(Double(reducer.chunkBytes ?? 0) / 1024))",
                      "\"ms_comm_thread_cpu\": \(fmt3(communicationCPU * 1000))"]
        guard enabled, !times.isEmpty else { return fields }
        fields += ["\"ms_per_step_no_overlap\": \(fmt3(baselineStep * 1000))",
                   "\"ms_compute_no_overlap\": \(fmt3(baselineCompute * 1000))",
                   "\"ms_comm_wait_no_overlap\": \(fmt3(baselineWait * 1000))",
                   "\"ms_compute_slowdown\": \(fmt3((overlappedCompute - baselineCompute) * 1000))",
                   "\"compute_slowdown_ratio\": \(fmt3(baselineCompute > 0 ? overlappedCompute / baselineCompute : 0))"]
        return fields
    }

    /// Lines for the table, given the overlapped steps' mean compute and median step.
    func describe(overlappedCompute: Double, overlappedStep: Double) -> [String] {
        var lines = [String(format: "gradients: %.1f MB payload per step per rank; communication thread CPU %.1f ms per step; chunks of %.0f KiB",
                            payloadBytes / 1e6, communicationCPU * 1000, Double(reducer.chunkBytes ?? 0) / 1024)]
        guard enabled, !times.isEmpty else { return lines }
        lines.append(String(format: "without overlap (interleaved steps): %.1f ms/step, compute %.1f ms, waiting %.1f ms",
                            baselineStep * 1000, baselineCompute * 1000, baselineWait * 1000))
        lines.append(String(format: "overlap slows compute by %+.1f ms (x%.2f) and changes the step by %+.1f ms",
                            (overlappedCompute - baselineCompute) * 1000,
                            baselineCompute > 0 ? overlappedCompute / baselineCompute : 0, (overlappedStep - baselineStep) * 1000))
        return lines
    }
}

private func fmt3(_ x: Double) -> String { String(format: "%.3f", x) }
