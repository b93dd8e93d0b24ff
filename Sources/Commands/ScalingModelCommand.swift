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
        --sweep` on the namespace cluster, one link per run) and fits each link's alpha (seconds per message \
        step) and beta (seconds per byte) on the points with at most --fit-max-ranks ranks that ran the \
        algorithms training uses, reporting the error on the larger rank counts it held out. With a step profile \
        (--profile, from bench --profile-out) it walks the step as docs/scaling-model.md describes; with --study \
        (deploy/scaling.sh's scaling.csv) it predicts every measured row and reports the error on the rows with \
        more than --fit-max-ranks ranks (--write fills the table's predicted_ms_per_step column). --extrapolate \
        prints step time, efficiency and the limiting part at --nodes on --rates links, with the assumptions.

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
    var cpuBound = ScalingModelStudy.defaults.cpuBound
    @Option(help: "Fit on sweeps and steps with at most this many ranks; larger ones are held out.")
    var fitMaxRanks = ScalingModelStudy.defaults.fitMaxRanks
    @Option(help: "Gradient bucket size in MB, as training used it.") var bucketMb = ScalingModelStudy.defaults.bucketMB
    @Option(help: ArgumentHelp("Compression modes to predict: none, bf16, powersgd (comma-separated).", valueName: "list"))
    var compression = "none"
    @Option(help: "PowerSGD's rank (training's default).") var powersgdRank = ScalingModelStudy.defaults.powerSGDRank
    @Option(help: ArgumentHelp("Rank counts to predict without --study (comma-separated).", valueName: "list"))
    var ranks = ScalingModelStudy.defaults.ranks.map(String.init).joined(separator: ",")
    @Option(help: ArgumentHelp("Compute slowdown while communication runs, per link: 'LINK=X,...' or one X for all (0.2 = 20% slower).",
                               valueName: "list"))
    var slowdown = "0"
    @Option(help: ArgumentHelp("Compute beside communication takes X times its profile, per link: 'LINK=X,...' or one X for all (1: as profiled); deploy/emulation-check.sh measures it (its 'compute factor').",
                               valueName: "list"))
    var computeFactor = "1"
    @Option(help: ArgumentHelp("Measured steps to check (deploy/scaling.sh's scaling.csv).", valueName: "file"))
    var study: String?
    @Flag(help: "Write the predictions into the --study table (column predicted_ms_per_step).") var write = false
    @Option(help: "Largest acceptable relative error on held-out rows (reported; the exit status says whether every row met it).")
    var tolerance = ScalingModelStudy.defaults.tolerance
    @Flag(help: "Also predict at --nodes on --rates links (links not measured: their rate, the fitted latency).")
    var extrapolate = false
    @Option(help: ArgumentHelp("Node counts to extrapolate to.", valueName: "list")) var nodes = "64,256"
    @Option(help: ArgumentHelp("Link rates in Gbit/s to extrapolate to.", valueName: "list")) var rates = "1,10,25,100"
    @Option(help: ArgumentHelp("The swept link whose latency and fraction of its rate the extrapolation keeps (default: the fastest swept link).",
                               valueName: "link"))
    var extrapolateFrom: String?
    @Option(help: ArgumentHelp("Write model.md and the plots (SVG) into this directory.", valueName: "dir")) var out: String?

    func validate() throws {
        guard !sweep.isEmpty else { throw ValidationError("give at least one --sweep file (deploy/collectives.sh or cluster-check bandwidth --sweep --csv)") }
        guard !write || study != nil else { throw ValidationError("--write fills the --study table: give --study") }
        guard profile != nil || (study == nil && !extrapolate) else {
            throw ValidationError("--study and --extrapolate predict steps: give the step's --profile")
        }
        try SettingFlags.validate { try settings(points: []).validate() }
    }

    /// The flags as the library's study (`points`: the sweeps read).
    private func settings(points: [SweepPoint]) throws -> ScalingModelStudy {
        var s = ScalingModelStudy(points: points)
        (s.cpuBound, s.fitMaxRanks, s.bucketMB, s.powerSGDRank, s.tolerance) = (cpuBound, fitMaxRanks, bucketMb, powersgdRank, tolerance)
        s.compressions = try ScalingModelStudy.compressions(parsing: compression, rank: powersgdRank)
        s.ranks = try ScalingModelStudy.counts(parsing: ranks, setting: "ranks")
        (s.slowdown, s.defaultSlowdown) = try ScalingModelStudy.perLink(parsing: slowdown, setting: "slowdown", fallback: s.defaultSlowdown,
                                                                        allowed: 0...Double.infinity, rule: ">= 0")
        (s.computeFactor, s.defaultComputeFactor) = try ScalingModelStudy.perLink(parsing: computeFactor, setting: "computeFactor",
                                                                                  fallback: s.defaultComputeFactor, allowed: 0.5...4, rule: "in 0.5...4")
        let nodeCounts = try ScalingModelStudy.counts(parsing: nodes, setting: "nodes")
        if extrapolate { s.extrapolation = (nodeCounts, try ScalingModelStudy.rates(parsing: rates, setting: "rates")) }
        s.extrapolateFrom = extrapolateFrom
        return s
    }

    func run() throws {
        var points: [SweepPoint] = []
        for file in sweep {
            guard let text = try? String(contentsOfFile: DataSelection.expand(file), encoding: .utf8) else {
                throw ValidationError("cannot read the sweep \(file) (give deploy/collectives.sh's CSV or cluster-check bandwidth --sweep --csv)")
            }
            points += try SweepPoint.read(csv: text)
        }
        let study = try settings(points: points)
        let report: ScalingModelStudy.Report
        if let profile {
            let timeline = try StepTimeline.read(contentsOf: URL(fileURLWithPath: DataSelection.expand(profile)))
            let table = try self.study.map { try StudyTable(csv: String(contentsOfFile: DataSelection.expand($0), encoding: .utf8)) }
            report = try study.steps(timeline: timeline, study: table)
            if write, let path = self.study, let table = report.study {
                try table.csv.write(toFile: DataSelection.expand(path), atomically: true, encoding: .utf8)
            }
        } else {
            report = try study.collectives()
        }
        print(report.text, terminator: "")
        if let out { try report.write(to: URL(fileURLWithPath: DataSelection.expand(out))) }
        if !report.met { throw ExitCode(1) }
    }
}
