import Foundation

/// The fitted model of one study: the step's timeline, each link's collective costs (fitted on sweeps with at
/// most `fitMaxRanks` ranks), and the two costs of sharing a machine with communication, per link
/// (docs/scaling-model.md): `slowdown` (compute runs 1 + slowdown times slower while this rank's communication
/// thread works; measured, or the value the emulation applied) and `queueing` (seconds a compute-thread
/// collective waits when gradient bytes are in flight, fitted on measured steps with at most `fitMaxRanks` ranks),
/// and `computeFactor` (compute beside the link's communication takes this many times its profile; measured).
public struct ScalingModel: Sendable {
    public var timeline: StepTimeline
    public var links: [String: LinkModel]
    public var buckets: [[Int]]
    public var fitMaxRanks: Int
    public var slowdown: [String: Double] = [:]
    public var queueing: [String: Double] = [:]
    public var computeFactor: [String: Double] = [:]
    /// The emulating host's cost, by `hostKey(link, compression, gradientScale:)`: W emulated ranks sharing this
    /// machine's cores take 1 + hostStretch x (W - 1) times their replayed compute (sleeps wake late behind the
    /// other ranks' communication and compression work). Fitted by `fitHostStretch` on emulated rows with at most
    /// `fitMaxRanks` ranks from their measured compute; applied to emulated measurements only, never extrapolated
    /// (a real node does not share its cores with the other ranks).
    public var hostStretch: [String: Double] = [:]

    /// This model with no emulating host: every row predicted as if its ranks had cores of their own.
    public var withoutHostStretch: ScalingModel {
        var copy = self
        copy.hostStretch = [:]
        return copy
    }

    /// "link/compression", with " K=k" for a run with `--emulate-scale` k > 1.
    public static func hostKey(_ link: String, _ compression: GradientCompression, gradientScale: Int = 1) -> String {
        "\(link)/\(compression.name)" + (gradientScale > 1 ? " K=\(gradientScale)" : "")
    }

    public init(timeline: StepTimeline, links: [String: LinkModel], buckets: [[Int]], fitMaxRanks: Int) {
        self.timeline = timeline; self.links = links; self.buckets = buckets; self.fitMaxRanks = fitMaxRanks
    }

    /// Fits every link of `points` (sweeps) on ranks <= `fitMaxRanks`.
    public static func fit(timeline: StepTimeline, points: [SweepPoint], buckets: [[Int]], fitMaxRanks: Int) throws -> ScalingModel {
        ScalingModel(timeline: timeline, links: try LinkModel.fitEach(points, maximumRanks: fitMaxRanks), buckets: buckets,
                     fitMaxRanks: fitMaxRanks)
    }

    /// The simulation of `link`'s step; with `gradientScale` K > 1 (a `bench --emulate-scale K` run on the
    /// link emulated at 1/K of the rate) the collectives are costed on `sweptLink` (the sweep of that slower
    /// link) and the gradients are 1/K of their size.
    public func settings(link: String, ranks: Int, compression: GradientCompression, gradientScale: Int = 1,
                         sweptLink: String? = nil) throws -> SimulationSettings {
        let swept = sweptLink ?? link
        // One rank communicates nothing: any link's model serves (a link swept only at 1/K of its rate).
        guard let model = links[swept] ?? (ranks == 1 ? links.min(by: { $0.key < $1.key })?.value : nil) else {
            throw ScalingModelError.notEnoughData("no sweep of link '\(swept)' (links with sweeps: \(links.keys.sorted().joined(separator: ", ")))")
        }
        var s = SimulationSettings(ranks: ranks, link: model, buckets: buckets)
        s.compression = compression
        s.gradientScale = gradientScale
        s.slowdown = slowdown[link] ?? 0
        s.queueingSeconds = queueing[swept] ?? 0   // a property of the link the bytes travel on
        s.computeFactor = computeFactor[link] ?? 1
        return s
    }

    public func predict(link: String, ranks: Int, compression: GradientCompression, gradientScale: Int = 1,
                        sweptLink: String? = nil) throws -> StepPrediction {
        StepSimulator.predict(timeline, try settings(link: link, ranks: ranks, compression: compression,
                                                     gradientScale: gradientScale, sweptLink: sweptLink))
    }

    /// The prediction for a measured row (its gradient scale and the sweep it is costed on; an emulated row
    /// with the emulating host's stretch of its link and compression).
    public func predict(_ m: Measurement) throws -> StepPrediction {
        var s = try settings(link: m.link, ranks: m.ranks, compression: m.compression, gradientScale: m.gradientScale, sweptLink: m.sweptLink)
        if m.emulated, m.ranks > 1 {
            s.computeFactor *= 1 + (hostStretch[Self.hostKey(m.link, m.compression, gradientScale: m.gradientScale)] ?? 0) * Double(m.ranks - 1)
        }
        return StepSimulator.predict(timeline, s)
    }

    /// One measured step time the model is checked against.
    public struct Measurement: Sendable {
        public var link: String
        public var compression: GradientCompression
        public var ranks: Int
        public var seconds: Double
        /// `bench --emulate-scale K` of the run (1: unscaled) and the swept link its collectives ran on (nil: `link`).
        public var gradientScale = 1
        public var sweptLink: String?
        /// Whether the row replayed its compute (`bench --emulate`), and the compute it measured per step
        /// (bench's ms_compute: the step less its waits for the gather and the gradients; SyncBN included).
        public var emulated = false
        public var computeSeconds: Double?
        public init(link: String, compression: GradientCompression, ranks: Int, seconds: Double) {
            self.link = link; self.compression = compression; self.ranks = ranks; self.seconds = seconds
        }
    }

    /// Sets `hostStretch` of each link and compression to the least-squares slope h of (measured compute less
    /// the predicted SyncBN) / predicted compute - 1 = h (W - 1) over the emulated measurements with 2 ...
    /// `fitMaxRanks` ranks (at least 0); the held-out measurements are not looked at.
    public mutating func fitHostStretch(to measurements: [Measurement]) throws {
        let usable = measurements.filter { $0.emulated && $0.ranks > 1 && $0.ranks <= fitMaxRanks && ($0.computeSeconds ?? 0) > 0 }
        var sums: [String: (xy: Double, xx: Double)] = [:]
        let plain = withoutHostStretch
        for m in usable {
            let p = try plain.predict(m)
            // bench's compute holds the SyncBN reductions (they block inside it); the stretch is of the rest.
            let x = Double(m.ranks - 1), y = (m.computeSeconds! - p.syncBatchNormSeconds) / (p.computeSeconds + p.slowdownSeconds) - 1
            let key = Self.hostKey(m.link, m.compression, gradientScale: m.gradientScale)
            sums[key, default: (0, 0)].xy += x * y
            sums[key, default: (0, 0)].xx += x * x
        }
        for (key, s) in sums { hostStretch[key] = max(0, s.xy / s.xx) }
    }

    /// Sets the `queueing` of each link measurements ran on (a scaled row's: its swept link) to the value in
    /// [0, 50 ms] that best predicts (least squares of relative error) the measurements with 2 ... `fitMaxRanks`
    /// ranks on that link; links without such measurements keep 0. The held-out measurements are not looked at.
    public mutating func fitQueueing(to measurements: [Measurement]) {
        for name in Set(measurements.map { $0.sweptLink ?? $0.link }).sorted() {
            let usable = measurements.filter { ($0.sweptLink ?? $0.link) == name && $0.ranks > 1 && $0.ranks <= fitMaxRanks && $0.seconds > 0 }
            guard !usable.isEmpty else { continue }
            func loss(_ q: Double) -> Double {
                var copy = self
                copy.queueing[name] = q
                return usable.map { m in
                    let p = (try? copy.predict(m).stepSeconds) ?? 0
                    return (p / m.seconds - 1) * (p / m.seconds - 1)
                }.reduce(0, +)
            }
            // Golden-section search (the loss is unimodal in q: each collective's time grows with it).
            var a = 0.0, b = 0.05
            let g = (sqrt(5.0) - 1) / 2
            var c = b - g * (b - a), d = a + g * (b - a)
            for _ in 0..<60 {
                if loss(c) < loss(d) { b = d } else { a = c }
                c = b - g * (b - a); d = a + g * (b - a)
            }
            queueing[name] = (a + b) / 2
        }
    }
}
