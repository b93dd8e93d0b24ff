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

    /// Writes what it measured into `report`, whose compute is the overlapped steps' mean.
    func fill(_ report: inout BenchReport) {
        func r(_ x: Double) -> Double { (x * 1000).rounded() / 1000 }
        report.overlap = reducer.overlap
        report.gradPayloadMB = r(payloadBytes / 1e6)
        report.chunkKB = r(Double(reducer.chunkBytes ?? 0) / 1024)
        report.msCommThreadCPU = r(communicationCPU * 1000)
        report.commThreadCPUs = reducer.communicationThreadCPUs
        guard enabled, !times.isEmpty else { return }
        let overlapped = report.msCompute / 1000
        report.msPerStepNoOverlap = r(baselineStep * 1000)
        report.msComputeNoOverlap = r(baselineCompute * 1000)
        report.msCommWaitNoOverlap = r(baselineWait * 1000)
        report.msComputeSlowdown = r((overlapped - baselineCompute) * 1000)
        report.computeSlowdownRatio = r(baselineCompute > 0 ? overlapped / baselineCompute : 0)
    }
}
