import ArgumentParser
import Foundation
import Datasets
import ScalingModel

/// `simclr scaling-model`: the latency-bandwidth model of the data-parallel step, fitted and checked.
struct ScalingModelCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "scaling-model",
        abstract: "Fit a latency-bandwidth model to collective size sweeps, predict step time and efficiency, and check it against measured steps.",
        discussion: """
        Reads size sweeps of the collectives as `deploy/collectives.sh` writes them (`cluster-check bandwidth \
        --sweep` on the namespace cluster, one link per run). For each link it fits alpha (seconds per message step) and beta \
        (seconds per byte) on the points with at most --fit-max-ranks ranks that ran the algorithms training uses \
        (Rabenseifner all-reduce, recursive-doubling all-gather), and reports the error on the larger rank counts \
        it held out. With a step profile (--profile: one rank's compute and where the step communicates) it walks \
        the step: compute as profiled, SyncBN and the embedding \
        gather blocking, gradient buckets on the communication thread as backward reports them ready \
        (docs/scaling-model.md). With --study (deploy/scaling.sh's scaling.csv) it fits the queueing of small \
        collectives behind gradient bytes on the rows with at most --fit-max-ranks ranks, predicts every row, \
        reports the error on the held-out rows, and with --write fills the table's predicted_ms_per_step column. \
        --extrapolate prints step time, efficiency and the limiting part at 64 and 256 nodes on 1-100 Gbit/s \
        links, with the assumptions.

        Examples:
          simclr scaling-model --sweep runs/collectives-1gbit/collectives.csv
          simclr scaling-model --profile p.json --sweep s.csv --ranks 1,2,4,8,16
          simclr scaling-model --profile p.json --sweep s.csv \\
            --study scaling.csv --write --out runs/model
          simclr scaling-model --profile p.json --sweep s.csv --extrapolate \\
            --nodes 64,256 --rates 1,10,25,100
        """)

    @Option(help: ArgumentHelp("The step profile (a step timeline JSON); without it only the collectives are fitted and checked.",
                               valueName: "file"))
    var profile: String?
    @Option(help: ArgumentHelp("A sweep CSV of deploy/collectives.sh (repeatable).", valueName: "file"))
    var sweep: [String] = []
    @Option(help: "Sweep runs whose host CPU use (host_cpu) reached this fraction are left out: the machine, not the link, set their time.")
    var cpuBound = 0.95
    @Option(help: "Fit on sweeps and steps with at most this many ranks; larger ones are held out.")
    var fitMaxRanks = 4
    @Option(help: "Gradient bucket size in MB, as training used it.") var bucketMb = 25.0
    @Option(help: ArgumentHelp("Compression modes to predict: none, bf16, powersgd (comma-separated).", valueName: "list"))
    var compression = "none"
    @Option(help: "PowerSGD's rank.") var powersgdRank = 4
    @Option(help: ArgumentHelp("Rank counts to predict without --study (comma-separated).", valueName: "list"))
    var ranks = "1,2,4,8,16"
    @Option(help: ArgumentHelp("Compute slowdown while communication runs, per link: 'LINK=X,...' or one X for all (0.2 = 20% slower).",
                               valueName: "list"))
    var slowdown = "0"
    @Option(help: ArgumentHelp("Measured steps to check (deploy/scaling.sh's scaling.csv).", valueName: "file"))
    var study: String?
    @Flag(help: "Write the predictions into the --study table (column predicted_ms_per_step).") var write = false
    @Option(help: "Largest acceptable relative error on held-out rows (reported; the exit status says whether every row met it).")
    var tolerance = 0.10
    @Flag(help: "Also predict at --nodes on --rates links (links not measured: their rate, the fitted latency).")
    var extrapolate = false
    @Option(help: ArgumentHelp("Node counts to extrapolate to.", valueName: "list")) var nodes = "64,256"
    @Option(help: ArgumentHelp("Link rates in Gbit/s to extrapolate to.", valueName: "list")) var rates = "1,10,25,100"
    @Option(help: ArgumentHelp("Write model.md and the plots (SVG) into this directory.", valueName: "dir")) var out: String?

    func validate() throws {
        guard !sweep.isEmpty else { throw ValidationError("give at least one --sweep file (deploy/collectives.sh or cluster-check bandwidth --sweep --csv)") }
        guard fitMaxRanks >= 2 else { throw ValidationError("--fit-max-ranks must be at least 2 (one rank sends nothing)") }
        guard bucketMb > 0 else { throw ValidationError("--bucket-mb must be positive") }
        guard powersgdRank >= 1 else { throw ValidationError("--powersgd-rank must be at least 1") }
        guard tolerance > 0 else { throw ValidationError("--tolerance must be positive") }
        guard !write || study != nil else { throw ValidationError("--write fills the --study table: give --study") }
        guard profile != nil || (study == nil && !extrapolate) else {
            throw ValidationError("--study and --extrapolate predict steps: give the step's --profile")
        }
        _ = try compressions()
        _ = try integers(ranks, "--ranks"); _ = try integers(nodes, "--nodes")
        _ = try slowdowns()
    }

    func run() throws {
        var points: [SweepPoint] = []
        for file in sweep {
            guard let text = try? String(contentsOfFile: DataSelection.expand(file), encoding: .utf8) else {
                throw ValidationError("cannot read the sweep \(file) (give deploy/collectives.sh's CSV or cluster-check bandwidth --sweep --csv)")
            }
            points += try SweepPoint.read(csv: text)
        }
        let bound = points.filter { ($0.hostCPU ?? 0) >= cpuBound }
        points.removeAll { ($0.hostCPU ?? 0) >= cpuBound }
        let cpuNote = bound.isEmpty ? [] : ["Left out as CPU-bound (host CPU >= \(cpuBound); not link figures): "
            + Set(bound.map { "\($0.link) W=\($0.ranks)" }).sorted().joined(separator: ", ") + " (\(bound.count) points).", ""]
        guard let profile else {
            let links = try LinkModel.fitEach(points, maximumRanks: fitMaxRanks)
            let report = ["# Collective costs", "", "Sweeps: \(points.count) points; fitted on W <= \(fitMaxRanks), "
                            + "checked on the larger W (held out).", ""] + cpuNote
                + ModelReport.fitTable(links: links, fitMaxRanks: fitMaxRanks, points: points)
                + ["", "## Error by rank count (predicted / measured - 1)", ""]
                + ModelReport.errorByRanksTable(links: links, fitMaxRanks: fitMaxRanks, points: points)
            try emit(report)
            return
        }
        let timeline = try StepTimeline.read(contentsOf: URL(fileURLWithPath: DataSelection.expand(profile)))
        let buckets = try timeline.buckets(bucketBytes: Int(bucketMb * 1024 * 1024))
        var model = try ScalingModel.fit(timeline: timeline, points: points, buckets: buckets, fitMaxRanks: fitMaxRanks)
        let (perLink, all) = try slowdowns()
        for link in model.links.keys { model.slowdown[link] = perLink[link] ?? all }

        var report = ["# Scaling model", "",
                      "Profile: \(timeline.identity) on \(timeline.machine), \(timeline.threads) thread(s), median of \(timeline.measuredSteps) steps "
                        + String(format: "(%.1f ms of compute per step)", timeline.computeSeconds * 1000) + ".",
                      "Buckets: \(buckets.count) (\(bucketMb) MB). Sweeps: \(points.count) points.", "",
                      "## Collective costs (fitted on W <= \(fitMaxRanks))", ""] + cpuNote
        report += ModelReport.fitTable(links: model.links, fitMaxRanks: fitMaxRanks, points: points)
        var failed = false

        if let study {
            let url = URL(fileURLWithPath: DataSelection.expand(study))
            var table = try StudyTable(csv: String(contentsOf: url, encoding: .utf8))
            let rows = try measuredRows(table, timeline: timeline)
            model.fitQueueing(to: rows.map { $0.1 })
            var checks: [ModelReport.Check] = []
            for (index, m, emulated) in rows where model.links[m.link] != nil {
                let p = try model.predict(link: m.link, ranks: m.ranks, compression: m.compression)
                checks.append(.init(link: m.link, compression: m.compression, ranks: m.ranks, emulated: emulated,
                                    measuredSeconds: m.seconds, prediction: p, heldOut: m.ranks > fitMaxRanks))
                if write { table.set(index, "predicted_ms_per_step", String(format: "%.1f", p.stepSeconds * 1000)) }
            }
            report += ["", "## Measured vs predicted", "",
                       "Queueing of a compute-thread collective behind gradient bytes, fitted on W <= \(fitMaxRanks): "
                        + model.queueing.sorted { $0.key < $1.key }.map { String(format: "%@ %.2f ms", $0.key, $0.value * 1000) }.joined(separator: ", ")
                        + ". Slowdown: " + model.slowdown.sorted { $0.key < $1.key }.map { String(format: "%@ %.3f", $0.key, $0.value) }.joined(separator: ", ") + ".", ""]
            report += ModelReport.checkTable(checks, limit: tolerance)
            let held = checks.filter(\.heldOut)
            let worst = held.map { abs($0.error) }.max() ?? 0
            failed = worst > tolerance
            report += ["", held.isEmpty ? "No held-out rows (W > \(fitMaxRanks)) in the study."
                       : String(format: "Held out: %d rows, largest error %.1f%% (target %.0f%%): %@.", held.count, worst * 100, tolerance * 100,
                                failed ? "NOT met" : "met")]
            if write { try table.csv.write(to: url, atomically: true, encoding: .utf8) }
            if let out {
                let dir = URL(fileURLWithPath: DataSelection.expand(out))
                try FileManager.default.createDirectory(at: dir, withIntermediateDirectories: true)
                let one = { (link: String, c: GradientCompression) in checks.first { $0.link == link && $0.compression == c && $0.ranks == 1 }?.measuredSeconds }
                try ModelReport.efficiencyChart(checks, baseline: one).svg().write(to: dir.appendingPathComponent("efficiency.svg"), atomically: true, encoding: .utf8)
                try ModelReport.accuracyChart(checks).svg().write(to: dir.appendingPathComponent("predicted-vs-measured.svg"), atomically: true, encoding: .utf8)
            }
        } else {
            report += ["", "## Predicted step", "", "| link | compression | ranks | ms/step | efficiency | waiting ms | limit |", "| --- | --- | --- | --- | --- | --- | --- |"]
            for link in model.links.keys.sorted() {
                for c in try compressions() {
                    let one = try model.predict(link: link, ranks: 1, compression: c).stepSeconds
                    for w in try integers(ranks, "--ranks") {
                        let p = try model.predict(link: link, ranks: w, compression: c)
                        report.append("| \(link) | \(c.name) | \(w) | " + String(format: "%.1f | %.2f | %.1f", p.stepSeconds * 1000, one / p.stepSeconds,
                                                                               p.communicationWaitSeconds * 1000) + " | \(p.limit) |")
                    }
                }
            }
        }

        if extrapolate, let base = model.links.values.max(by: { $0.allReduce.gigabitsPerSecond < $1.allReduce.gigabitsPerSecond }) {
            let nominal = nominalGigabits(base.name)
            let efficiency = nominal.map { min(1, base.allReduce.gigabitsPerSecond / $0) } ?? 0.95
            let e = Extrapolation(timeline: timeline, baseLink: base, rateEfficiency: efficiency, buckets: buckets)
            let rateList = try rates.split(separator: ",").map { s -> Double in
                guard let r = Double(s.trimmingCharacters(in: .whitespaces)), r > 0 else { throw ValidationError("--rates: '\(s)' is not a rate in Gbit/s") }
                return r
            }
            report += ["", "## Extrapolation", "",
                       "Assumptions: one rank per node computing as profiled (\(timeline.identity)); each node one link of the rate shown to a "
                        + "non-blocking switch; all-reduce by \(base.allReduce.algorithm.rawValue), all-gather by \(base.allGather.algorithm.rawValue), with the per-step latency fitted on "
                        + String(format: "%@ (%.1f us) and %.0f%% of the nominal rate as payload (as measured there); no CPU taken from compute by communication, no queueing.",
                                 base.name, base.allReduce.alpha * 1e6, efficiency * 100), ""]
            report += ModelReport.extrapolationTable(e.rows(nodes: try integers(nodes, "--nodes"), gigabits: rateList, compressions: try compressions()))
            report.append("")
            for rate in rateList {
                for c in try compressions() {
                    func first(_ what: String, _ part: @escaping (StepPrediction) -> Double) -> String {
                        e.firstNodes(where: part, exceeds: 0.1, gigabits: rate, compression: c).map { "\(what) from \($0) nodes" } ?? "\(what) never (up to 65536)"
                    }
                    report.append("- \(gigabitLabel(rate)) Gbit/s, \(c.name): more than 10% of the step is " + [
                        first("gradient wait", { $0.exposedGradientSeconds }), first("the gather", { $0.gatherSeconds }),
                        first("SyncBN", { $0.syncBatchNormSeconds })].joined(separator: "; "))
                }
            }
        }

        try emit(report)
        if failed { throw ExitCode(1) }
    }

    /// Prints the report, and writes it as model.md into --out.
    private func emit(_ report: [String]) throws {
        let text = report.joined(separator: "\n") + "\n"
        print(text, terminator: "")
        if let out {
            let dir = URL(fileURLWithPath: DataSelection.expand(out))
            try FileManager.default.createDirectory(at: dir, withIntermediateDirectories: true)
            try text.write(to: dir.appendingPathComponent("model.md"), atomically: true, encoding: .utf8)
        }
    }

    private func compressions() throws -> [GradientCompression] {
        try compression.split(separator: ",").map { name in
            guard let c = GradientCompression(name: name.trimmingCharacters(in: .whitespaces), rank: powersgdRank) else {
                throw ValidationError("unknown compression '\(name)': use none, bf16 or powersgd")
            }
            return c
        }
    }

    private func integers(_ text: String, _ flag: String) throws -> [Int] {
        try text.split(separator: ",").map { s in
            guard let n = Int(s.trimmingCharacters(in: .whitespaces)), n >= 1 else { throw ValidationError("\(flag): '\(s)' is not a positive count") }
            return n
        }
    }

    /// ("LINK=X" pairs, the value for links not named).
    private func slowdowns() throws -> ([String: Double], Double) {
        var perLink: [String: Double] = [:], all = 0.0
        for item in slowdown.split(separator: ",") {
            let parts = item.split(separator: "=").map { $0.trimmingCharacters(in: .whitespaces) }
            guard let value = Double(parts.last ?? ""), value >= 0, parts.count <= 2 else {
                throw ValidationError("--slowdown: '\(item)' is not LINK=X or X with X >= 0")
            }
            if parts.count == 2 { perLink[parts[0]] = value } else { all = value }
        }
        return (perLink, all)
    }

    /// Weak-scaling rows of the study with the profile's per-rank batch: (row, measurement, emulated).
    private func measuredRows(_ table: StudyTable, timeline: StepTimeline) throws -> [(Int, ScalingModel.Measurement, Bool)] {
        for column in ["link", "ranks", "ms_per_step"] where table.column(column) == nil {
            throw ValidationError("--study \(study ?? ""): no column '\(column)'")
        }
        return table.rows.indices.compactMap { i in
            guard table.value(i, "mode").map({ $0 == "weak" }) ?? true,
                  table.number(i, "per_rank_batch").map({ Int($0) == timeline.identity.perRankBatch }) ?? true,
                  let link = table.value(i, "link"), let w = table.number(i, "ranks"), let ms = table.number(i, "ms_per_step"),
                  let c = GradientCompression(name: table.value(i, "compression") ?? "none", rank: powersgdRank) else { return nil }
            return (i, ScalingModel.Measurement(link: link, compression: c, ranks: Int(w), seconds: ms / 1000), table.value(i, "emulated") == "yes")
        }
    }

    /// 1gbit -> 1, 10gbit -> 10, 500mbit -> 0.5; nil for other names.
    private func nominalGigabits(_ link: String) -> Double? {
        if link.hasSuffix("gbit"), let g = Double(link.dropLast(4)) { return g }
        if link.hasSuffix("mbit"), let m = Double(link.dropLast(4)) { return m / 1000 }
        return nil
    }
}
