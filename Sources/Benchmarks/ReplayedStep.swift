import Cluster
import Datasets
import Dispatch
import Foundation
import Kernels
import NeuralNet
import Optimizers
import Runs
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
/// A rank of the real step has one core, shared by its compute, its communication thread and the kernel's
/// network work: compute runs slower by the CPU time they take. Sleeping compute does not feel that, so each
/// replayed stretch of compute ends later by the time the core ran other work while it slept
/// (`EmulatedCPUSharing`). The layers themselves also run slower beside communication than alone (their caches
/// refilled after every switch to the communication thread or the kernel's network work): `slowdown`, a
/// measured factor, lengthens every replayed stretch.
///
/// With `payloadScale` k > 1 the gradients travel at 1/k of their size: each parameter's gradient as its first
/// ceil(n/k) elements, in buckets of 1/k the size (the same buckets, in the same readiness order), through a
/// reducer of the replay's own. Run on links of 1/k the rate, every gradient collective keeps its bandwidth
/// term and its latency term, while the machine carries 1/k of the bytes: how many emulated hosts on few cores
/// stay bound by their links (docs/scaling-model.md). The other messages (SyncBN, the gather) keep their size.
final class ReplayedStep: StepMath {
    let tail: DataParallelStep
    /// With a payload scale above 1: the reducer of the scaled gradients, and each parameter's range in them.
    private let scaled: (reducer: GradientBucketReducer, ranges: [Range<Int>])?
    private var scaledTiming = StepTiming()
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
    init(timeline: StepTimeline, identity: StepTimeline.Identity, model: ResNet, dataParallel: DataParallel,
         sharing: EmulatedCPUSharing, payloadScale: Int = 1, slowdown: Double = 1) throws {
        try ReplayedStep.check(timeline, identity: identity)
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
        if payloadScale > 1 {
            var ranges: [Range<Int>] = [], offset = 0
            for p in model.parameters {
                let n = (p.count + payloadScale - 1) / payloadScale
                ranges.append(offset..<(offset + n)); offset += n
            }
            let settings = dataParallel.settings
            let reducer = try GradientBucketReducer(
                communicator: dataParallel.communicator, gradients: Tensor(shape: [offset]), parameterRanges: ranges,
                bucketBytes: max(4, settings.bucketBytes / payloadScale),
                firstBucketBytes: max(4, GradientBucketPlan.defaultFirstBucketBytes / payloadScale),
                average: false, overlap: settings.overlap && dataParallel.size > 1, compression: dataParallel.reducer.compression,
                communicationCPU: dataParallel.reducer.communicationCPU)
            scaled = (reducer, ranges)
        } else {
            scaled = nil
        }
        pacer = ComputePacer(sharing: sharing, reducer: scaled?.reducer ?? dataParallel.reducer, slowdown: slowdown)
        let optimizerSeconds = events.first(where: { $0.kind == .totals })?.computeSeconds ?? 0
        tail = DataParallelStep(model: model, optimizer: ReplayedOptimizer(seconds: optimizerSeconds, pacer: pacer),
                                dataParallel: dataParallel)
        // Gradients with values, so compression (PowerSGD's orthogonalization) works on a generic matrix.
        let g = model.flatGradients
        for i in 0..<g.count { g[i] = Float((i * 7919) % 1000) * 1e-6 - 5e-4 }
    }

    /// Refuses a timeline measured for another model, precision or batch than `identity` (the real rank of a
    /// mixed run checks it too, so every rank refuses alike).
    static func check(_ timeline: StepTimeline, identity: StepTimeline.Identity) throws {
        if let why = timeline.identity.mismatch(with: identity) {
            throw SettingsError("`emulatePath`: the profile was measured for \(timeline.identity), not for this bench's \(identity) (\(why)): measure one with `profilePath` and the same settings on one rank")
        }
    }

    /// The reducer the replayed gradients go through.
    var reducer: GradientBucketReducer { scaled?.reducer ?? tail.dataParallel.reducer }

    /// The last step's timing.
    var lastTiming: StepTiming { scaled == nil ? tail.lastTiming : scaledTiming }

    /// One step: the profile replayed, then the shared tail (with scaled gradients, the tail's parts through the
    /// scaled reducer: its wait, the replayed optimizer, the totals).
    func run(_ batch: Batch) throws {
        guard let scaled else {
            try tail.run(self, batch, learningRate: 0.01)
            return
        }
        try StepTrace.measure(StepSpans.step) {
            var clock = StepClock()
            scaled.reducer.beginStep()
            var totals = try forwardBackward(batch, clock: &clock)
            let gradients = try StepTrace.measure(StepSpans.waitForGradients) { try scaled.reducer.finishStep() }
            StepTrace.measure(StepSpans.optimizer) {
                tail.optimizer.step(parameters: tail.model.flatParameters, gradients: tail.model.flatGradients, learningRate: 0.01)
            }
            try StepTrace.measure(StepSpans.totals) { try clock.waiting { try tail.dataParallel.sum(&totals) } }
            scaledTiming = clock.timing(gradients: gradients)
        }
    }

    /// Stops the scaled gradients' reducer (collective); the data-parallel machinery is the bench's.
    func close() throws { try scaled?.reducer.close() }

    /// What the replayed compute is stretched by (`sharing` asked for, or its fallback).
    var sharing: EmulatedCPUSharing { pacer.sharing }

    /// Seconds the replayed compute was lengthened by what else took the core, over every step so far.
    var stretchSeconds: Double { pacer.stretchSeconds }

    /// For the bench's header.
    static func describe(_ sharing: EmulatedCPUSharing) -> String {
        switch sharing {
        case .core: return "compute stretched by what else ran on the rank's core"
        case .communicationThread: return "compute stretched by the communication thread's CPU time"
        case .none: return "communication on spare cores (compute not stretched)"
        }
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
                if let scaled {
                    scaled.reducer.gradientsReady(scaled.ranges[e.count])
                } else {
                    parameters[e.count].gradientIsReady()  // the real reducer's hook: its bucket may start
                }
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

/// What replayed compute is stretched by: the CPU time real compute on the rank's core would have lost
/// (docs/scaling-model.md, note 'Emulated compute').
public enum EmulatedCPUSharing: String, CaseIterable, Sendable {
    /// Everything else the rank's core ran while compute slept (the communication thread, the kernel's network
    /// work in softirq, other processes): the rank must be bound to one core; otherwise `communicationThread`.
    case core
    /// The rank's communication thread's CPU time (its CPU clock).
    case communicationThread = "thread"
    /// Nothing: ranks with a spare core for their communication.
    case none
}

/// Sleeps through replayed compute (`ReplayedStep`). Stretches follow each other on an absolute clock, so a
/// sleep that wakes late shortens the next one instead of adding up; a collective restarts the clock from now.
/// Each stretch lasts `slowdown` times its profiled compute, and ends later by the CPU time `taken` says was
/// taken from compute while it ran (the rank's one core ran that work meanwhile).
final class ComputePacer {
    private let taken: (() -> Double?)?
    private let slowdown: Double
    private var target = 0.0
    private var takenBefore = 0.0, readBefore = 0.0
    /// Seconds the stretches were lengthened by what was taken from compute, since the pacer began.
    private(set) var stretchSeconds = 0.0
    /// What `taken` measures (the sharing asked for, or the fallback used).
    let sharing: EmulatedCPUSharing

    init(sharing: EmulatedCPUSharing, reducer: GradientBucketReducer, slowdown: Double = 1) {
        self.slowdown = slowdown
        if sharing == .core, let clock = CoreShareClock() {
            taken = { clock.othersSeconds() }
            self.sharing = .core
        } else if sharing != .none, reducer.communicationThreadCPUSeconds != nil {
            taken = { reducer.communicationThreadCPUSeconds }
            self.sharing = .communicationThread
        } else {
            taken = nil
            self.sharing = .none
        }
    }

    private static func now() -> Double { Double(DispatchTime.now().uptimeNanoseconds) * 1e-9 }

    /// At the start of a step.
    func start() { communicated() }

    /// `seconds` of profiled compute (times `slowdown`, plus what was taken from it meanwhile).
    func compute(_ seconds: Double) {
        target += seconds * slowdown
        while true {
            readTaken(stretch: true)
            let left = target - ComputePacer.now()
            if left <= 20e-6 { return }
            // Short naps, so what is taken from compute is read while it accrues.
            var request = timespec(tv_sec: 0, tv_nsec: Int(min(left, 0.002) * 1e9))
            nanosleep(&request, nil)
        }
    }

    /// After a collective of the compute thread: compute resumes now (what ran meanwhile took nothing from
    /// compute, which was waiting).
    func communicated() {
        target = max(target, ComputePacer.now())
        readTaken(stretch: false)
    }

    /// Reads `taken`; with `stretch`, moves the target by what was taken since the last reading, at most half
    /// the time between the readings: a thread that wants the core all the time gets half of it beside compute
    /// (the scheduler's fair share), not all of it.
    private func readTaken(stretch: Bool) {
        guard let t = taken?() else { return }
        let now = ComputePacer.now()
        if stretch {
            let added = min(max(0, t - takenBefore), 0.5 * (now - readBefore))
            target += added
            stretchSeconds += added
        }
        (takenBefore, readBefore) = (t, now)
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
