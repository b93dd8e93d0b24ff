import Cluster
import Datasets
import Dispatch
import Foundation
import Kernels
import NeuralNet
import Optimizers
import ScalingModel
import Tracing
import Training

/// Emulated compute (`simclr bench --emulate PROFILE`): a SimCLR step whose compute is a measured one-rank
/// step replayed by sleeping, while everything that crosses ranks is the real step's: every BatchNorm's SyncBN
/// reduction (the layer's own reducer, the same message), the embedding gather and its backward, each gradient
/// reported final in the measured order (the real reducer: buckets, chunks, compression, its thread), the wait
/// for the buckets, the step totals. So many ranks on a machine with few cores run the communication
/// schedule of ranks that compute at full speed (note 'Emulated compute' in docs/scaling-model.md).
///
/// A rank of the real step has one core, shared by its compute and its communication thread: compute runs
/// slower by the CPU time that thread takes. Sleeping compute does not feel that, so unless the ranks have a
/// spare core (`spareCore`), each replayed stretch of compute ends later by the CPU time the communication
/// thread used while it slept (read from that thread's CPU clock).
final class ReplayedStep: StepMath {
    let tail: DataParallelStep
    private let timeline: StepTimeline
    private let events: [StepTimeline.Event]
    private let parameters: [Parameter]
    /// Each SyncBN event's layer and the statistics buffer it reduces (nil: no such layer).
    private let batchNorms: [(layer: BatchNorm, statistics: BatchStatistics)?]
    private var statistics: [BatchStatistics]
    private let embeddings: Tensor, gathered: Tensor, globalGradient: Tensor, embeddingGradient: Tensor
    private let pacer: ComputePacer

    /// Refuses a timeline of another model, precision or batch (`identity`), or one whose events name layers
    /// or parameters this model does not have.
    init(timeline: StepTimeline, identity: StepTimeline.Identity, model: ResNet, dataParallel: DataParallel, spareCore: Bool) throws {
        if let why = timeline.identity.mismatch(with: identity) {
            throw SettingsError("`emulatePath`: the profile was measured for \(timeline.identity), not for this bench's \(identity) (\(why)): measure one with `profilePath` and the same settings on one rank")
        }
        let names = model.parameters.map(\.name)
        guard timeline.parameters.map(\.name) == names else {
            throw SettingsError("`emulatePath`: the profile's parameters are not this model's (\(timeline.parameters.count) vs \(names.count))")
        }
        let byName = Dictionary(uniqueKeysWithValues: model.batchNorms.map { ($0.name, $0) })
        var norms: [(layer: BatchNorm, statistics: BatchStatistics)?] = []
        for e in timeline.events {
            switch e.kind {
            case .syncBatchNorm:
                guard let bn = byName[e.label], bn.channels == e.count else {
                    throw SettingsError("`emulatePath`: the profile reduces BatchNorm '\(e.label)' (\(e.count) channels), which this model does not have")
                }
                norms.append((bn, BatchStatistics(channels: bn.channels)))
            case .ready:
                guard names.indices.contains(e.count), names[e.count] == e.label else {
                    throw SettingsError("`emulatePath`: the profile reports parameter \(e.count) '\(e.label)', which this model does not have")
                }
                norms.append(nil)
            default:
                norms.append(nil)
            }
        }
        guard let gather = timeline.events.first(where: { $0.kind == .gather }) else {
            throw SettingsError("`emulatePath`: the profile has no embedding gather")
        }
        self.timeline = timeline
        events = timeline.events(world: dataParallel.size)
        parameters = model.parameters
        batchNorms = norms
        statistics = norms.map { $0?.statistics ?? BatchStatistics(channels: 0) }
        let rows = gather.count, dim = timeline.embeddingDim
        embeddings = Tensor(shape: [rows, dim])
        for i in 0..<embeddings.count { embeddings[i] = Float(i % 7) * 0.1 }  // finite values for the codecs
        gathered = Tensor(shape: [dataParallel.size * rows, dim])
        globalGradient = Tensor(shape: [dataParallel.size * rows, dim])
        embeddingGradient = Tensor(shape: [rows, dim])
        pacer = ComputePacer(reducer: spareCore ? nil : dataParallel.reducer)
        let optimizerSeconds = events.first(where: { $0.kind == .totals })?.computeSeconds ?? 0
        tail = DataParallelStep(model: model, optimizer: ReplayedOptimizer(seconds: optimizerSeconds, pacer: pacer),
                                dataParallel: dataParallel)
        // Gradients with values, so compression (PowerSGD's orthogonalization) works on a generic matrix.
        let g = model.flatGradients
        for i in 0..<g.count { g[i] = Float((i * 7919) % 1000) * 1e-6 - 5e-4 }
    }

    /// One rank's compute seconds per step the profile replays.
    var computeSeconds: Double { events.map(\.computeSeconds).reduce(timeline.trailingSeconds, +) }

    /// Replays the step up to the wait for the gradient buckets (the tail runs that, the optimizer and the totals).
    func forwardBackward(_ batch: Batch, clock: inout StepClock) throws -> StepTotals {
        let world = tail.dataParallel
        pacer.start()
        for (i, e) in events.enumerated() {
            switch e.kind {
            case .syncBatchNorm:
                pacer.compute(e.computeSeconds)
                if let reduce = batchNorms[i]?.layer.reducer {
                    StepTrace.measure(StepSpans.syncBatchNormPrefix + e.label, argument: Int64(e.count)) { reduce(&statistics[i]) }
                }
                pacer.communicated()
            case .gather:
                pacer.compute(e.computeSeconds)
                try StepTrace.measure(StepSpans.gather, argument: Int64(e.count)) {
                    try clock.waiting { try world.gatherViews(embeddings, into: gathered) }
                }
                pacer.communicated()
            case .gatherBackward:
                pacer.compute(e.computeSeconds)  // the loss, for this many ranks
                try StepTrace.measure(StepSpans.gatherBackward, argument: Int64(e.count)) {
                    try clock.waiting { try world.gatherViewsBackward(globalGradient, into: embeddingGradient) }
                }
                pacer.communicated()
            case .ready:
                pacer.compute(e.computeSeconds)
                parameters[e.count].gradientIsReady()  // the real reducer's hook: its bucket may start
            case .finishGradients:
                pacer.compute(e.computeSeconds)
                return StepTotals(rows: embeddings.shape[0] / 2)
            case .totals:
                break
            }
        }
        return StepTotals(rows: embeddings.shape[0] / 2)
    }
}

/// Sleeps through replayed compute (`ReplayedStep`). Stretches follow each other on an absolute clock, so a
/// sleep that wakes late shortens the next one instead of adding up; a collective restarts the clock from now.
/// With a reducer, each stretch also ends later by the CPU time the reducer's communication thread used while
/// it ran (the rank's one core ran that thread meanwhile).
final class ComputePacer {
    private let reducer: GradientBucketReducer?
    private var target = 0.0
    private var threadCPU = 0.0

    init(reducer: GradientBucketReducer?) { self.reducer = reducer }

    private static func now() -> Double { Double(DispatchTime.now().uptimeNanoseconds) * 1e-9 }
    private var communicationCPU: Double? { reducer?.communicationThreadCPUSeconds }

    /// At the start of a step.
    func start() { communicated() }

    /// `seconds` of compute (plus what the communication thread takes meanwhile).
    func compute(_ seconds: Double) {
        target += seconds
        while true {
            if let cpu = communicationCPU { target += cpu - threadCPU; threadCPU = cpu }
            let left = target - ComputePacer.now()
            if left <= 20e-6 { return }
            // Short naps, so the communication thread's CPU time is read while it accrues.
            var request = timespec(tv_sec: 0, tv_nsec: Int(min(left, 0.002) * 1e9))
            nanosleep(&request, nil)
        }
    }

    /// After a collective of the compute thread: compute resumes now (the communication thread's CPU time
    /// meanwhile took nothing from compute, which was waiting).
    func communicated() {
        target = max(target, ComputePacer.now())
        threadCPU = communicationCPU ?? 0
    }
}

/// The optimizer's update replayed: its measured time, slept (`ComputePacer`); the parameters do not change.
final class ReplayedOptimizer: Optimizer {
    let seconds: Double
    private let pacer: ComputePacer
    var stepCount = 0
    var stateTensors: [(name: String, tensor: Tensor)] { [] }

    init(seconds: Double, pacer: ComputePacer) { self.seconds = seconds; self.pacer = pacer }

    func step(parameters: Tensor, gradients: Tensor, learningRate: Float) {
        pacer.communicated()
        pacer.compute(seconds)
        stepCount += 1
    }
}
