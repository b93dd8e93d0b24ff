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
        guard let model = links[swept] else {
            throw ScalingModelError.notEnoughData("no sweep of link '\(swept)' (links with sweeps: \(links.keys.sorted().joined(separator: ", ")))")
        }
        var s = SimulationSettings(ranks: ranks, link: model, buckets: buckets)
        s.compression = compression
        s.gradientScale = gradientScale
        s.slowdown = slowdown[link] ?? 0
        s.queueingSeconds = queueing[link] ?? 0
        s.computeFactor = computeFactor[link] ?? 1
        return s
    }

    public func predict(link: String, ranks: Int, compression: GradientCompression, gradientScale: Int = 1,
                        sweptLink: String? = nil) throws -> StepPrediction {
        StepSimulator.predict(timeline, try settings(link: link, ranks: ranks, compression: compression,
                                                     gradientScale: gradientScale, sweptLink: sweptLink))
    }

    /// The prediction for a measured row (its gradient scale and the sweep it is costed on).
    public func predict(_ m: Measurement) throws -> StepPrediction {
        try predict(link: m.link, ranks: m.ranks, compression: m.compression, gradientScale: m.gradientScale, sweptLink: m.sweptLink)
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
        public init(link: String, compression: GradientCompression, ranks: Int, seconds: Double) {
            self.link = link; self.compression = compression; self.ranks = ranks; self.seconds = seconds
        }
    }

    /// Sets each link's `queueing` to the value in [0, 50 ms] that best predicts (least squares of relative
    /// error) the measurements with 2 ... `fitMaxRanks` ranks on that link; links without such measurements
    /// keep 0. The held-out measurements are not looked at.
    public mutating func fitQueueing(to measurements: [Measurement]) {
        for name in links.keys {
            let usable = measurements.filter { $0.link == name && $0.ranks > 1 && $0.ranks <= fitMaxRanks && $0.seconds > 0 }
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
