import Foundation
import SVG

/// What `simclr scaling-model` reports (docs/scaling-model.md): each link's collective costs fitted on sweeps
/// with at most `fitMaxRanks` ranks and checked on the larger ones; with a step profile, the predicted step at
/// `ranks`, or (given a measured study) every measured row against its prediction; and optionally an
/// extrapolation to node counts and link rates this machine cannot run. The report is markdown lines.
public struct ScalingModelStudy {
    /// The sweeps' points (`SweepPoint.read`); those whose host CPU use reached `cpuBound` are left out.
    public var points: [SweepPoint]
    public var cpuBound = 0.95
    public var fitMaxRanks = 4
    /// The gradient bucket size training used.
    public var bucketMB = 25.0
    /// What to predict without a study, and to extrapolate.
    public var compressions: [GradientCompression] = [.none]
    public var ranks = [1, 2, 4, 8, 16]
    /// Compute slowdown while communication runs, per link; `defaultSlowdown` for the links not named.
    public var slowdown: [String: Double] = [:]
    public var defaultSlowdown = 0.0
    /// How many times its profile compute takes beside each link's communication (measured by
    /// deploy/emulation-check.sh's calibration); `defaultComputeFactor` for the links not named.
    public var computeFactor: [String: Double] = [:]
    public var defaultComputeFactor = 1.0
    /// PowerSGD's rank of the study's powersgd rows (training's default).
    public var powerSGDRank = 8
    /// Largest acceptable relative error on held-out study rows.
    public var tolerance = 0.10
    /// Node counts and link rates (Gbit/s) to extrapolate to, if asked.
    public var extrapolation: (nodes: [Int], gigabits: [Double])?
    /// The measured link the extrapolation starts from (nil: the fastest swept link).
    public var extrapolateFrom: String?

    public init(points: [SweepPoint]) { self.points = points }

    /// A study with no data yet: its fields' defaults, where a front end's flags start.
    public static var defaults: ScalingModelStudy { ScalingModelStudy(points: []) }

    public struct Report {
        public var lines: [String]
        /// Plots by file name (with a study).
        public var charts: [String: LineChart] = [:]
        /// The study table with its predicted_ms_per_step column filled in (with a study).
        public var study: StudyTable?
        /// Whether every held-out study row is within the tolerance.
        public var met = true

        public var text: String { lines.joined(separator: "\n") + "\n" }

        /// model.md and the plots, into `directory` (created if needed).
        public func write(to directory: URL) throws {
            try FileManager.default.createDirectory(at: directory, withIntermediateDirectories: true)
            for (name, chart) in charts {
                try chart.svg().write(to: directory.appendingPathComponent(name), atomically: true, encoding: .utf8)
            }
            try text.write(to: directory.appendingPathComponent("model.md"), atomically: true, encoding: .utf8)
        }
    }

    private var usablePoints: [SweepPoint] { points.filter { ($0.hostCPU ?? 0) < cpuBound } }

    private var cpuNote: [String] {
        let bound = points.filter { ($0.hostCPU ?? 0) >= cpuBound }
        return bound.isEmpty ? [] : ["Left out as CPU-bound (host CPU >= \(cpuBound); not link figures): "
            + Set(bound.map { "\($0.link) W=\($0.ranks)" }).sorted().joined(separator: ", ") + " (\(bound.count) points).", ""]
    }

    /// The collective costs alone (no step profile).
    public func collectives() throws -> Report {
        let points = usablePoints
        let links = try LinkModel.fitEach(points, maximumRanks: fitMaxRanks)
        return Report(lines: ["# Collective costs", "", "Sweeps: \(points.count) points; fitted on W <= \(fitMaxRanks), "
                                + "checked on the larger W (held out).", ""] + cpuNote
                        + ModelReport.fitTable(links: links, fitMaxRanks: fitMaxRanks, points: points)
                        + ["", "## Error by rank count (predicted / measured - 1)", ""]
                        + ModelReport.errorByRanksTable(links: links, fitMaxRanks: fitMaxRanks, points: points))
    }

    /// The step of `timeline` predicted on every swept link; checked against `study` (deploy/scaling.sh's
    /// scaling.csv) when given, else at `ranks` and `compressions`.
    public func steps(timeline: StepTimeline, study: StudyTable? = nil) throws -> Report {
        let points = usablePoints
        let buckets = try timeline.buckets(bucketBytes: Int(bucketMB * 1024 * 1024))
        var model = try ScalingModel.fit(timeline: timeline, points: points, buckets: buckets, fitMaxRanks: fitMaxRanks)
        for link in model.links.keys {
            model.slowdown[link] = slowdown[link] ?? defaultSlowdown
            model.computeFactor[link] = computeFactor[link] ?? defaultComputeFactor
        }

        var report = Report(lines: ["# Scaling model", "",
                                    "Profile: \(timeline.identity) on \(timeline.machine), \(timeline.threads) thread(s), median of \(timeline.measuredSteps) steps "
                                        + String(format: "(%.1f ms of compute per step)", timeline.computeSeconds * 1000) + ".",
                                    "Buckets: \(buckets.count) (\(bucketMB) MB). Sweeps: \(points.count) points.", "",
                                    "## Collective costs (fitted on W <= \(fitMaxRanks))", ""] + cpuNote)
        if model.computeFactor.values.contains(where: { $0 != 1 }) {
            report.lines += ["Compute beside communication (W > 1) takes its profile times: "
                                + model.computeFactor.sorted { $0.key < $1.key }.map { String(format: "%@ %.3f", $0.key, $0.value) }.joined(separator: ", ")
                                + " (measured, not fitted).", ""]
        }
        report.lines += ModelReport.fitTable(links: model.links, fitMaxRanks: fitMaxRanks, points: points)
        if let study {
            try check(&model, against: study, timeline: timeline, into: &report)
        } else {
            report.lines += ["", "## Predicted step", "", "| link | compression | ranks | ms/step | efficiency | waiting ms | limit |",
                             "| --- | --- | --- | --- | --- | --- | --- |"]
            for link in model.links.keys.sorted() {
                for c in compressions {
                    let one = try model.predict(link: link, ranks: 1, compression: c).stepSeconds
                    for w in ranks {
                        let p = try model.predict(link: link, ranks: w, compression: c)
                        report.lines.append("| \(link) | \(c.name) | \(w) | " + String(format: "%.1f | %.2f | %.1f", p.stepSeconds * 1000, one / p.stepSeconds,
                                                                                     p.communicationWaitSeconds * 1000) + " | \(p.limit) |")
                    }
                }
            }
        }
        if let (nodes, gigabits) = extrapolation {
            report.lines += try extrapolate(model, nodes: nodes, gigabits: gigabits, buckets: buckets)
        }
        return report
    }

    /// Fits the queueing on the study's rows with at most `fitMaxRanks` ranks, then predicts every row.
    private func check(_ model: inout ScalingModel, against study: StudyTable, timeline: StepTimeline, into report: inout Report) throws {
        var table = study
        let rows = try measuredRows(study, perRankBatch: timeline.identity.perRankBatch, links: Array(model.links.keys))
            .filter { model.links[$0.1.sweptLink ?? $0.1.link] != nil || $0.1.ranks == 1 }
        try model.fitHostStretch(to: rows.map { $0.1 })
        model.fitQueueing(to: rows.map { $0.1 })
        let plain = model.withoutHostStretch
        var checks: [ModelReport.Check] = []
        for (index, m, cpuBound) in rows {
            let p = try model.predict(m)
            var check = ModelReport.Check(link: m.link, compression: m.compression, ranks: m.ranks, emulated: m.emulated,
                                          measuredSeconds: m.seconds, prediction: p, heldOut: m.ranks > fitMaxRanks)
            if m.emulated, m.ranks > 1, (model.hostStretch[ScalingModel.hostKey(m.link, m.compression, gradientScale: m.gradientScale)] ?? 0) > 0 {
                check.withoutHostSeconds = try plain.predict(m).stepSeconds
            }
            check.cpuBound = cpuBound
            checks.append(check)
            table.set(index, "predicted_ms_per_step", String(format: "%.1f", p.stepSeconds * 1000))
        }
        report.lines += ["", "## Measured vs predicted", "",
                         "Queueing of a compute-thread collective behind gradient bytes, fitted on W <= \(fitMaxRanks): "
                            + model.queueing.sorted { $0.key < $1.key }.map { String(format: "%@ %.2f ms", $0.key, $0.value * 1000) }.joined(separator: ", ")
                            + ". Slowdown: " + model.slowdown.sorted { $0.key < $1.key }.map { String(format: "%@ %.3f", $0.key, $0.value) }.joined(separator: ", ") + ".", ""]
        if !model.hostStretch.isEmpty {
            report.lines += ["The emulating host (emulated rows only, not extrapolated): W ranks' replayed compute takes 1 + h (W - 1) times "
                                + "its profile, h fitted on the emulated rows with W <= \(fitMaxRanks) from their measured compute: "
                                + model.hostStretch.sorted { $0.key < $1.key }.map { String(format: "%@ %.4f", $0.key, $0.value) }.joined(separator: ", ") + ".", ""]
        }
        report.lines += ModelReport.checkTable(checks, limit: tolerance)
        let held = checks.filter { $0.heldOut && !$0.cpuBound }
        let bound = checks.filter { $0.heldOut && $0.cpuBound }.count
        let worst = held.map { abs($0.error) }.max() ?? 0
        report.met = worst <= tolerance
        report.lines += ["", (held.isEmpty ? "No held-out rows (W > \(fitMaxRanks)) in the study that were not CPU-bound."
                         : String(format: "Held out: %d rows, largest error %.1f%% (target %.0f%%): %@.", held.count, worst * 100, tolerance * 100,
                                  report.met ? "met" : "NOT met"))
                            + (bound > 0 ? " \(bound) CPU-bound held-out row(s) left out of the verdict (marked above)." : "")]
        report.study = table
        let one = { (link: String, c: GradientCompression) in checks.first { $0.link == link && $0.compression == c && $0.ranks == 1 }?.measuredSeconds }
        report.charts = ["efficiency.svg": ModelReport.efficiencyChart(checks, baseline: one),
                         "predicted-vs-measured.svg": ModelReport.accuracyChart(checks)]
    }

    /// Weak-scaling rows of the study with the profile's per-rank batch: (row, measurement, CPU-bound). A row run
    /// with `--emulate-scale K` is costed on the sweep of its link's rate / K (one of `links`, by the rate in its
    /// name), with 1/K of the gradients.
    private func measuredRows(_ table: StudyTable, perRankBatch: Int, links: [String]) throws -> [(Int, ScalingModel.Measurement, Bool)] {
        for column in ["link", "ranks", "ms_per_step"] where table.column(column) == nil {
            throw ScalingModelError.badInput("the study table has no column '\(column)'")
        }
        return try table.rows.indices.compactMap { i in
            guard table.value(i, "mode").map({ $0 == "weak" }) ?? true,
                  table.number(i, "per_rank_batch").map({ Int($0) == perRankBatch }) ?? true,
                  let link = table.value(i, "link"), let w = table.number(i, "ranks"), let ms = table.number(i, "ms_per_step"),
                  let c = GradientCompression(name: table.value(i, "compression") ?? "none", rank: powerSGDRank) else { return nil }
            var m = ScalingModel.Measurement(link: link, compression: c, ranks: Int(w), seconds: ms / 1000)
            m.emulated = table.value(i, "emulated") == "yes"
            m.computeSeconds = table.number(i, "ms_compute").map { $0 / 1000 }
            let k = table.number(i, "emulate_scale").map { Int($0) } ?? 1
            if k > 1, Int(w) > 1 {
                guard let rate = Self.nominalGigabits(link),
                      let swept = links.first(where: { Self.nominalGigabits($0).map { abs($0 - rate / Double(k)) < 1e-9 } ?? false }) else {
                    throw ScalingModelError.badInput("row \(i + 1) ran \(link) with --emulate-scale \(k): give a sweep of the link at 1/\(k) of its rate (its nominal rate in its name, like 1250mbit)")
                }
                m.gradientScale = k
                m.sweptLink = swept
            }
            return (i, m, table.value(i, "cpu_bound") == "yes")
        }
    }

    /// The extrapolation section: the table, its assumptions, and where each part of the step first passes 10%.
    private func extrapolate(_ model: ScalingModel, nodes: [Int], gigabits: [Double], buckets: [[Int]]) throws -> [String] {
        let (base, nominal) = try extrapolationBase(model)
        let e = Extrapolation(timeline: model.timeline, baseLink: base, baseGigabits: nominal, buckets: buckets)
        let fraction = { (cost: AlphaBeta) in String(format: "%.0f%%", 100 * cost.gigabitsPerSecond / nominal) }
        var lines = ["", "## Extrapolation", "",
                     "Assumptions: one rank per node computing as profiled (\(model.timeline.identity)), the same batch per rank at every "
                        + "node count (weak scaling); each node one link of the rate shown to a non-blocking switch; all-reduce by "
                        + "\(base.allReduce.algorithm.rawValue), all-gather by \(base.allGather.algorithm.rawValue) (as the project sets libnbc at MPI init; "
                        + "costed libnbc's way on node counts that are not powers of two); the per-step latency and the fraction of the nominal rate delivered as payload as fitted on \(base.name) "
                        + String(format: "(all-reduce %.1f us, %@; all-gather %.1f us, %@)", base.allReduce.alpha * 1e6, fraction(base.allReduce),
                                 base.allGather.alpha * 1e6, fraction(base.allGather))
                        + "; gradient buckets of \(bucketMB) MB overlapped with backward; no CPU taken from compute by communication, no queueing "
                        + "of small collectives behind buckets; no switch contention, stragglers or congestion control.", ""]
        lines += ModelReport.extrapolationTable(e.rows(nodes: nodes, gigabits: gigabits, compressions: compressions))
        lines.append("")
        for rate in gigabits {
            for c in compressions {
                func first(_ what: String, _ part: @escaping (StepPrediction) -> Double) -> String {
                    e.firstNodes(where: part, exceeds: 0.1, gigabits: rate, compression: c).map { "\(what) from \($0) nodes" } ?? "\(what) never (up to 65536)"
                }
                lines.append("- \(gigabitLabel(rate)) Gbit/s, \(c.name): more than 10% of the step is " + [
                    first("gradient wait", { $0.exposedGradientSeconds }), first("the gather", { $0.gatherSeconds }),
                    first("SyncBN", { $0.syncBatchNormSeconds })].joined(separator: "; "))
            }
        }
        return lines
    }

    /// The measured link the extrapolation starts from and its nominal rate: `extrapolateFrom`, or the fastest
    /// link with a nominal rate in its name (its latency is the least dominated by the link's rate).
    func extrapolationBase(_ model: ScalingModel) throws -> (LinkModel, Double) {
        let named = model.links.values.compactMap { link in Self.nominalGigabits(link.name).map { (link, $0) } }
        if let name = extrapolateFrom {
            guard let link = model.links[name] else {
                throw ScalingModelError.badInput("--extrapolate-from \(name): no sweep of that link (links: \(model.links.keys.sorted().joined(separator: ", ")))")
            }
            guard let nominal = Self.nominalGigabits(name) else {
                throw ScalingModelError.badInput("--extrapolate-from \(name): its nominal rate is not in its name (like 1gbit or 1250mbit)")
            }
            return (link, nominal)
        }
        guard let best = named.max(by: { $0.1 < $1.1 }) else {
            throw ScalingModelError.badInput("extrapolation needs a swept link whose name gives its rate (like 1gbit or 1250mbit)")
        }
        return best
    }

    /// 1gbit -> 1, 10gbit -> 10, 500mbit -> 0.5; nil for other names.
    static func nominalGigabits(_ link: String) -> Double? {
        if link.hasSuffix("gbit"), let g = Double(link.dropLast(4)) { return g }
        if link.hasSuffix("mbit"), let m = Double(link.dropLast(4)) { return m / 1000 }
        return nil
    }
}
