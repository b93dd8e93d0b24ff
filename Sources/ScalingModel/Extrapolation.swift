import Foundation

/// Step time and efficiency past what this machine can run (64, 256 nodes) on links it cannot emulate
/// (25, 100 Gbit/s). The assumptions are explicit and printed with the table (docs/scaling-model.md):
/// one rank per node computing as the timeline measured; every node has one link of the given rate to a
/// non-blocking switch; all-reduce by Rabenseifner's algorithm and all-gather by recursive doubling (the
/// algorithms the measured fit used, libnbc's way on rank counts that are not powers of two), each with the
/// per-message latency fitted on the base link and the fraction of the nominal rate it delivered there;
/// communication takes no CPU from compute (a node has cores to spare) and small collectives do not queue.
/// At the base link's own rate and a rank count it measured, a row is the model's prediction for that link.
public struct Extrapolation: Sendable {
    public struct Row: Sendable {
        public var nodes: Int
        public var gigabits: Double
        public var compression: GradientCompression
        public var prediction: StepPrediction
        public var efficiency: Double
    }

    public var timeline: StepTimeline
    /// The measured link whose latencies and fractions of the nominal rate carry over.
    public var baseLink: LinkModel
    /// The base link's nominal rate (Gbit/s; the `tc` rate it was emulated at).
    public var baseGigabits: Double
    public var buckets: [[Int]]

    public init(timeline: StepTimeline, baseLink: LinkModel, baseGigabits: Double, buckets: [[Int]]) {
        self.timeline = timeline; self.baseLink = baseLink; self.baseGigabits = baseGigabits; self.buckets = buckets
    }

    /// The base link's model at `gigabits` Gbit/s.
    public func link(gigabits: Double) -> LinkModel {
        baseLink.scaled(fromNominal: baseGigabits, toGigabits: gigabits, name: "\(gigabitLabel(gigabits)) Gbit/s")
    }

    public func rows(nodes: [Int], gigabits: [Double], compressions: [GradientCompression]) -> [Row] {
        var rows: [Row] = []
        for rate in gigabits {
            let rateLink = link(gigabits: rate)
            for compression in compressions {
                var one = SimulationSettings(ranks: 1, link: rateLink, buckets: buckets)
                one.compression = compression
                let single = StepSimulator.predict(timeline, one).stepSeconds
                for n in nodes {
                    var settings = SimulationSettings(ranks: n, link: rateLink, buckets: buckets)
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
        let rateLink = link(gigabits: gigabits)
        var n = 2
        while n <= 65536 {
            var settings = SimulationSettings(ranks: n, link: rateLink, buckets: buckets)
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
