import Foundation

/// Step time and efficiency past what this machine can run (64, 256 nodes) on links it cannot emulate
/// (25, 100 Gbit/s). The assumptions are explicit and printed with the table (docs/scaling-model.md):
/// one rank per node computing as the timeline measured; every node has one link of the given rate to a
/// non-blocking switch; all-reduce by Rabenseifner's algorithm and all-gather by recursive doubling (the
/// algorithms the measured fit used), with the fitted per-message latency and the fraction of the nominal
/// rate the measured links delivered; communication takes no CPU from compute (a node has cores to spare).
public struct Extrapolation: Sendable {
    public struct Row: Sendable {
        public var nodes: Int
        public var gigabits: Double
        public var compression: GradientCompression
        public var prediction: StepPrediction
        public var efficiency: Double
    }

    public var timeline: StepTimeline
    /// The measured link whose latency and rate efficiency carry over.
    public var baseLink: LinkModel
    /// Payload rate / nominal rate of the measured link (e.g. 0.95).
    public var rateEfficiency: Double
    public var buckets: [[Int]]

    public init(timeline: StepTimeline, baseLink: LinkModel, rateEfficiency: Double, buckets: [[Int]]) {
        self.timeline = timeline; self.baseLink = baseLink; self.rateEfficiency = rateEfficiency; self.buckets = buckets
    }

    public func rows(nodes: [Int], gigabits: [Double], compressions: [GradientCompression]) -> [Row] {
        var rows: [Row] = []
        for rate in gigabits {
            let link = baseLink.scaled(toGigabits: rate, efficiency: rateEfficiency, name: "\(gigabitLabel(rate)) Gbit/s")
            for compression in compressions {
                var one = SimulationSettings(ranks: 1, link: link, buckets: buckets)
                one.compression = compression
                let single = StepSimulator.predict(timeline, one).stepSeconds
                for n in nodes {
                    var settings = SimulationSettings(ranks: n, link: link, buckets: buckets)
                    settings.compression = compression
                    let p = StepSimulator.predict(timeline, settings)
                    rows.append(Row(nodes: n, gigabits: rate, compression: compression, prediction: p,
                                    efficiency: single / p.stepSeconds))
                }
            }
        }
        return rows
    }

    /// The smallest power-of-two node count (2 ... 65536) at which `part` first exceeds `fraction` of the
    /// step, or nil.
    public func firstNodes(where part: (StepPrediction) -> Double, exceeds fraction: Double, gigabits: Double,
                           compression: GradientCompression) -> Int? {
        let link = baseLink.scaled(toGigabits: gigabits, efficiency: rateEfficiency, name: "")
        var n = 2
        while n <= 65536 {
            var settings = SimulationSettings(ranks: n, link: link, buckets: buckets)
            settings.compression = compression
            let p = StepSimulator.predict(timeline, settings)
            if part(p) > fraction * p.stepSeconds { return n }
            n *= 2
        }
        return nil
    }
}

public func gigabitLabel(_ gigabits: Double) -> String {
    gigabits == gigabits.rounded() ? String(Int(gigabits)) : String(format: "%.1f", gigabits)
}
