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
    @Option(help: "PowerSGD's rank (training's default: 8).") var powersgdRank = 8
    @Option(help: ArgumentHelp("Rank counts to predict without --study (comma-separated).", valueName: "list"))
    var ranks = "1,2,4,8,16"
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
        _ = try settings(points: [])
    }

    /// The flags as the library's study (`points`: the sweeps read).
    private func settings(points: [SweepPoint]) throws -> ScalingModelStudy {
        var s = ScalingModelStudy(points: points)
        (s.cpuBound, s.fitMaxRanks, s.bucketMB, s.powerSGDRank, s.tolerance) = (cpuBound, fitMaxRanks, bucketMb, powersgdRank, tolerance)
        s.compressions = try list(compression, { "unknown compression '\($0)': use none, bf16 or powersgd" }) { GradientCompression(name: $0, rank: powersgdRank) }
        s.ranks = try list(ranks, { "--ranks: '\($0)' is not a positive count" }) { Int($0).flatMap { $0 >= 1 ? $0 : nil } }
        for item in slowdown.split(separator: ",") {
            let parts = item.split(separator: "=").map { $0.trimmingCharacters(in: .whitespaces) }
            guard let value = Double(parts.last ?? ""), value >= 0, parts.count <= 2 else {
                throw ValidationError("--slowdown: '\(item)' is not LINK=X or X with X >= 0")
            }
            if parts.count == 2 { s.slowdown[parts[0]] = value } else { s.defaultSlowdown = value }
        }
        for item in computeFactor.split(separator: ",") {
            let parts = item.split(separator: "=").map { $0.trimmingCharacters(in: .whitespaces) }
            guard let value = Double(parts.last ?? ""), value >= 0.5, value <= 4, parts.count <= 2 else {
                throw ValidationError("--compute-factor: '\(item)' is not LINK=X or X with X in 0.5...4")
            }
            if parts.count == 2 { s.computeFactor[parts[0]] = value } else { s.defaultComputeFactor = value }
        }
        let nodeCounts = try list(nodes, { "--nodes: '\($0)' is not a positive count" }) { Int($0).flatMap { $0 >= 1 ? $0 : nil } }
        if extrapolate {
            s.extrapolation = (nodeCounts, try list(rates, { "--rates: '\($0)' is not a rate in Gbit/s" }) { Double($0).flatMap { $0 > 0 ? $0 : nil } })
        }
        return s
    }

    /// A comma-separated list; an item `parse` refuses is the error `refusal(item)`.
    private func list<T>(_ text: String, _ refusal: (Substring) -> String, _ parse: (String) -> T?) throws -> [T] {
        try text.split(separator: ",").map { item in
            guard let value = parse(item.trimmingCharacters(in: .whitespaces)) else { throw ValidationError(refusal(item)) }
            return value
        }
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
