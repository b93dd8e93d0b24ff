import Foundation

/// What the model assumes beyond the timeline and the link.
public struct SimulationSettings: Sendable {
    public var ranks: Int
    public var link: LinkModel
    public var compression: GradientCompression = .none
    /// Parameter indices of each gradient bucket, in launch order (bucket 0 first).
    public var buckets: [[Int]]
    public var overlap = true
    public var syncBatchNorm = true
    /// How much slower compute runs while this rank's communication thread works (0.2: 20% slower): the CPU
    /// that communication takes from compute on the same cores, measured (docs/scaling-model.md).
    public var slowdown = 0.0
    /// Compute beside this link's communication takes this many times its profiled time (the same layers run
    /// slower on a core that also runs the communication thread and the kernel's network work: refilled
    /// caches, waits for the core), measured by `deploy/emulation-check.sh`'s calibration. 1: as profiled.
    public var computeFactor = 1.0
    /// Extra seconds a compute-thread collective (SyncBN, the gather) waits when gradient bytes are in flight
    /// on the same link, measured.
    public var queueingSeconds = 0.0
    /// Compression's own compute per bucket on the communication thread (seconds), measured; empty: none.
    public var compressionSeconds: [Double] = []
    /// Emulated with `bench --emulate-scale K`: each parameter's gradient travels as its first ceil(n / K)
    /// elements (the same buckets, in the same order), on a link emulated at 1/K of the rate. 1: unscaled.
    public var gradientScale = 1

    public init(ranks: Int, link: LinkModel, buckets: [[Int]]) {
        self.ranks = ranks; self.link = link; self.buckets = buckets
    }
}

/// The model's account of one step on every rank (all ranks are alike in data parallelism).
public struct StepPrediction: Equatable, Sendable {
    public var stepSeconds = 0.0
    /// The timeline's compute, as measured on one rank alone.
    public var computeSeconds = 0.0
    /// Extra compute time from `slowdown` and `computeFactor`.
    public var slowdownSeconds = 0.0
    /// Blocked in SyncBN statistics reductions.
    public var syncBatchNormSeconds = 0.0
    /// Blocked in the embedding gather and its backward.
    public var gatherSeconds = 0.0
    /// Gradient collectives' time on the communication thread (hidden or not).
    public var gradientSeconds = 0.0
    /// The part of `gradientSeconds` the step waited for after backward.
    public var exposedGradientSeconds = 0.0
    /// The step totals' reduction.
    public var totalsSeconds = 0.0

    /// Everything the step waited for.
    public var communicationWaitSeconds: Double { syncBatchNormSeconds + gatherSeconds + exposedGradientSeconds + totalsSeconds }

    /// What limits the step beyond compute: the largest of the waits.
    public var limit: String {
        let parts = [("gradient all-reduce", exposedGradientSeconds), ("embedding gather", gatherSeconds),
                     ("SyncBN", syncBatchNormSeconds), ("CPU taken by communication", slowdownSeconds)]
        let top = parts.max { $0.1 < $1.1 }!
        return top.1 > 0.02 * stepSeconds ? top.0 : "compute"
    }
}

/// Walks one step's timeline on the compute thread and the gradient buckets on the communication thread,
/// with each collective costed by the alpha-beta model (docs/scaling-model.md):
/// - compute segments take their measured time times `computeFactor` (with more than one rank), stretched by
///   `slowdown` while the communication thread works;
/// - SyncBN, the gather, its backward and the totals block the compute thread for their collective's time
///   (plus `queueingSeconds` when issued while gradient bytes are in flight);
/// - a bucket starts when its last parameter is reported ready and the previous bucket is done, in launch
///   order, and takes its compression's all-reduces (plus compression compute);
/// - the step waits for the last bucket after backward.
public enum StepSimulator {
    public static func predict(_ timeline: StepTimeline, _ settings: SimulationSettings) -> StepPrediction {
        let w = settings.ranks
        var out = StepPrediction()
        let events = timeline.events(world: w)
        out.computeSeconds = events.map(\.computeSeconds).reduce(timeline.trailingSeconds, +)

        // Buckets: which bucket each parameter is in, and what each costs.
        var bucketOf = [Int](repeating: -1, count: timeline.parameters.count)
        for (k, members) in settings.buckets.enumerated() { for p in members where p < bucketOf.count { bucketOf[p] = k } }
        var missing = settings.buckets.map(\.count)
        let bucketCost: [Double] = settings.buckets.enumerated().map { k, members in
            guard w > 1 else { return 0 }
            let traffic = settings.compression.allReduces(of: members.map { timeline.parameters[$0].scaled(by: settings.gradientScale) })
            let comm = traffic.map { settings.link.allReduce.seconds(bytes: $0, ranks: w) }.reduce(0, +)
            return comm + (k < settings.compressionSeconds.count ? settings.compressionSeconds[k] : 0)
        }
        var readyAt = [Double?](repeating: nil, count: settings.buckets.count)
        var launched = 0
        var busy: [(start: Double, end: Double)] = []
        var commFree = 0.0

        func launchReady(force now: Double? = nil) {
            while launched < settings.buckets.count {
                if let now, readyAt[launched] == nil { readyAt[launched] = now }
                guard let ready = readyAt[launched] else { return }
                let start = max(ready, commFree)
                let end = start + bucketCost[launched]
                if end > start { busy.append((start, end)) }
                commFree = end
                out.gradientSeconds += bucketCost[launched]
                launched += 1
            }
        }

        /// Time after doing `work` seconds of compute from `t`, slowed while the communication thread works.
        func computeEnd(from t: Double, work: Double) -> Double {
            guard settings.slowdown > 0 else { return t + work }
            var t = t, remaining = work
            for interval in busy where interval.end > t {
                if interval.start > t {
                    if remaining <= interval.start - t { return t + remaining }
                    remaining -= interval.start - t
                    t = interval.start
                }
                let capacity = (interval.end - t) / (1 + settings.slowdown)
                if remaining <= capacity { return t + remaining * (1 + settings.slowdown) }
                remaining -= capacity
                t = interval.end
            }
            return t + remaining
        }

        func inFlight(at t: Double) -> Bool { busy.contains { $0.start <= t && t < $0.end } }

        func blocking(_ seconds: Double, at t: Double) -> Double {
            guard w > 1, seconds > 0 else { return 0 }
            return seconds + (inFlight(at: t) ? settings.queueingSeconds : 0)
        }

        let factor = w > 1 ? settings.computeFactor : 1
        var t = 0.0
        for e in events {
            let end = computeEnd(from: t, work: e.computeSeconds * factor)
            out.slowdownSeconds += (end - t) - e.computeSeconds
            t = end
            let bytes = e.bytes(embeddingDim: timeline.embeddingDim)
            switch e.kind {
            case .syncBatchNorm:
                guard settings.syncBatchNorm else { break }
                let s = blocking(settings.link.allReduce.seconds(bytes: bytes, ranks: w), at: t)
                out.syncBatchNormSeconds += s; t += s
            case .gather:
                let s = blocking(settings.link.allGather.seconds(bytes: bytes * w, ranks: w), at: t)
                out.gatherSeconds += s; t += s
            case .gatherBackward:
                let s = blocking(settings.link.allReduce.seconds(bytes: bytes * w, ranks: w), at: t)
                out.gatherSeconds += s; t += s
            case .ready:
                guard settings.overlap, e.count < bucketOf.count, bucketOf[e.count] >= 0 else { break }
                let k = bucketOf[e.count]
                missing[k] -= 1
                if missing[k] == 0 { readyAt[k] = t; launchReady() }
            case .finishGradients:
                launchReady(force: t)
                let wait = max(0, commFree - t)
                out.exposedGradientSeconds += wait
                t += wait
            case .totals:
                let s = blocking(settings.link.allReduce.seconds(bytes: bytes, ranks: w), at: t)
                out.totalsSeconds += s; t += s
            }
        }
        let end = computeEnd(from: t, work: timeline.trailingSeconds * factor)
        out.slowdownSeconds += (end - t) - timeline.trailingSeconds
        out.stepSeconds = end
        return out
    }
}
