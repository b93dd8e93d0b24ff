import Foundation
import SVG

/// The scaling model's tables (markdown) and plots (SVG), for `simclr scaling-model` and the scaling study.
public enum ModelReport {
    /// Per link: fitted alpha and beta, and how well they reproduce the sweep's points of the same algorithm on
    /// the fitted rank counts and on the held-out ones (median and largest relative error over the sizes).
    public static func fitTable(links: [String: LinkModel], fitMaxRanks: Int, points: [SweepPoint]) -> [String] {
        var lines = ["| link | collective | algorithm | alpha (us per step) | rate (Gbit/s) | error, W <= \(fitMaxRanks) (fitted): median, max | error, W > \(fitMaxRanks) (held out): median, max |",
                     "| --- | --- | --- | --- | --- | --- | --- |"]
        for (name, link) in links.sorted(by: { $0.key < $1.key }) {
            for (label, cost, kind) in link.costs {
                let mine = points.filter { $0.link == name && $0.collective == kind && $0.measured(cost.algorithm) }
                let fitted = mine.filter { $0.ranks <= fitMaxRanks }, held = mine.filter { $0.ranks > fitMaxRanks }
                lines.append("| \(name) | \(label) | \(cost.algorithm.rawValue) | \(String(format: "%.1f", cost.alpha * 1e6)) | "
                             + String(format: "%.2f", cost.gigabitsPerSecond) + " | " + errors(cost, fitted) + " | " + errors(cost, held) + " |")
            }
        }
        return lines
    }

    private static func errors(_ cost: AlphaBeta, _ points: [SweepPoint]) -> String {
        points.isEmpty ? "" : String(format: "%.1f%%, %.1f%% (%d points)", 100 * cost.medianRelativeError(points),
                                     100 * cost.largestRelativeError(points), points.count)
    }

    /// The fit's error by rank count, small messages (latency-bound, < 64 KiB) apart from large ones
    /// (bandwidth-bound, >= 1 MiB), with the host's CPU use where recorded.
    public static func errorByRanksTable(links: [String: LinkModel], fitMaxRanks: Int, points: [SweepPoint]) -> [String] {
        var lines = ["| link | collective | ranks | fitted on | median error < 64 KiB | median error >= 1 MiB | host CPU |",
                     "| --- | --- | --- | --- | --- | --- | --- |"]
        for (name, link) in links.sorted(by: { $0.key < $1.key }) {
            for (label, cost, kind) in link.costs {
                let mine = points.filter { $0.link == name && $0.collective == kind && $0.measured(cost.algorithm) && $0.ranks > 1 }
                for w in Set(mine.map(\.ranks)).sorted() {
                    let atW = mine.filter { $0.ranks == w }
                    func median(_ ps: [SweepPoint]) -> String {
                        ps.isEmpty ? "" : String(format: "%+.1f%%", 100 * cost.medianSignedError(ps))
                    }
                    let cpu = atW.compactMap(\.hostCPU).max().map { String(format: "%.2f", $0) } ?? ""
                    lines.append("| \(name) | \(label) | \(w) | \(w <= fitMaxRanks ? "yes" : "no (held out)") | "
                                 + median(atW.filter { $0.bytes < 64 << 10 }) + " | " + median(atW.filter { $0.bytes >= 1 << 20 })
                                 + " | \(cpu) |")
                }
            }
        }
        return lines
    }

    /// One measured row and its prediction.
    public struct Check: Sendable {
        public var link: String
        public var compression: GradientCompression
        public var ranks: Int
        public var emulated: Bool
        public var measuredSeconds: Double
        public var prediction: StepPrediction
        public var heldOut: Bool
        public var error: Double { prediction.stepSeconds / measuredSeconds - 1 }
        /// The predicted step without the emulating host's stretch (nil: the row had none).
        public var withoutHostSeconds: Double?
        /// The row's host CPU use reached the study's bound: this machine, not the link, set its time.
        public var cpuBound = false

        public init(link: String, compression: GradientCompression, ranks: Int, emulated: Bool, measuredSeconds: Double,
                    prediction: StepPrediction, heldOut: Bool) {
            self.link = link; self.compression = compression; self.ranks = ranks; self.emulated = emulated
            self.measuredSeconds = measuredSeconds; self.prediction = prediction; self.heldOut = heldOut
        }
    }

    public static func checkTable(_ checks: [Check], limit: Double) -> [String] {
        var lines = ["| link | compression | ranks | emulated | measured ms | predicted ms | error | without host term | held out | within \(Int(limit * 100))% |",
                     "| --- | --- | --- | --- | --- | --- | --- | --- | --- | --- |"]
        for c in checks {
            let without = c.withoutHostSeconds.map { String(format: "%+.1f%%", 100 * ($0 / c.measuredSeconds - 1)) } ?? ""
            let within = c.cpuBound ? "CPU-bound (not a link figure)" : abs(c.error) <= limit ? "yes" : "**no**"
            lines.append("| \(c.link) | \(c.compression.name) | \(c.ranks) | \(c.emulated ? "yes" : "no") | "
                         + String(format: "%.1f | %.1f | %+.1f%%", c.measuredSeconds * 1000, c.prediction.stepSeconds * 1000, 100 * c.error)
                         + " | \(without) | \(c.heldOut ? "yes" : "no") | \(within) |")
        }
        return lines
    }

    public static func extrapolationTable(_ rows: [Extrapolation.Row]) -> [String] {
        var lines = ["| nodes | link | compression | ms/step | efficiency | compute ms | gradient wait ms | gather ms | SyncBN ms | limit |",
                     "| --- | --- | --- | --- | --- | --- | --- | --- | --- | --- |"]
        for r in rows {
            let p = r.prediction
            lines.append("| \(r.nodes) | \(gigabitLabel(r.gigabits)) Gbit/s | \(r.compression.name) | "
                         + String(format: "%.1f | %.2f | %.1f | %.1f | %.1f | %.1f", p.stepSeconds * 1000, r.efficiency,
                                  (p.computeSeconds + p.slowdownSeconds) * 1000, p.exposedGradientSeconds * 1000,
                                  p.gatherSeconds * 1000, p.syncBatchNormSeconds * 1000)
                         + " | \(p.limit) |")
        }
        return lines
    }

    /// Efficiency against ranks, one line per (link, compression) measured (solid) and predicted (dashed).
    public static func efficiencyChart(_ checks: [Check], baseline: (String, GradientCompression) -> Double?) -> LineChart {
        var series: [LineChart.Series] = []
        let keys = Array(Set(checks.map { "\($0.link)|\($0.compression.name)" })).sorted()
        for (i, key) in keys.enumerated() {
            let mine = checks.filter { "\($0.link)|\($0.compression.name)" == key }.sorted { $0.ranks < $1.ranks }
            guard let first = mine.first, let one = baseline(first.link, first.compression) else { continue }
            let color = Palette.color(i)
            let label = "\(first.link) \(first.compression.name)"
            series.append(.init(name: label + " measured", x: mine.map { Double($0.ranks) },
                                y: mine.map { one / $0.measuredSeconds }, color: color, markers: true))
            series.append(.init(name: label + " predicted", x: mine.map { Double($0.ranks) },
                                y: mine.map { one / $0.prediction.stepSeconds }, color: color, dash: "6,4"))
        }
        return LineChart(title: "Weak-scaling efficiency", xLabel: "ranks", yLabel: "efficiency (1-rank step / step)",
                         series: series, yDomain: 0...1.05)
    }

    /// Predicted against measured step time, with the line of perfect prediction.
    public static func accuracyChart(_ checks: [Check]) -> LineChart {
        let top = (checks.flatMap { [$0.measuredSeconds, $0.prediction.stepSeconds] }.max() ?? 1) * 1000 * 1.05
        var series: [LineChart.Series] = [.init(name: "predicted = measured", x: [0, top], y: [0, top], color: "#888", lineWidth: 1, dash: "4,4")]
        let keys = Array(Set(checks.map(\.link))).sorted()
        for (i, link) in keys.enumerated() {
            for held in [false, true] {
                let mine = checks.filter { $0.link == link && $0.heldOut == held }
                guard !mine.isEmpty else { continue }
                // Markers only: NaN between points breaks the line.
                var x: [Double] = [], y: [Double] = []
                for c in mine { x += [c.measuredSeconds * 1000, .nan]; y += [c.prediction.stepSeconds * 1000, .nan] }
                series.append(.init(name: "\(link)" + (held ? " (held out)" : " (fitted ranks)"), x: x, y: y,
                                    color: Palette.color(i), opacity: held ? 1 : 0.5, markers: true))
            }
        }
        return LineChart(title: "Scaling model: predicted vs measured step time", xLabel: "measured ms per step",
                         yLabel: "predicted ms per step", series: series, yDomain: 0...top, xDomain: 0...top)
    }
}
