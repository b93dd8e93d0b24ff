import Foundation
import NeuralNet
import Reports
import RunFiles

/// `simclr sweep` as a plan: for every setting of a `SweepPlan`, a short pretraining (the base arguments,
/// then the setting's own, which win), a linear probe and optionally kNN on its frozen features; and the
/// table built from their results.
public struct SweepStudy {
    public var plan: SweepPlan
    /// Data and encoder arguments every run gets.
    public var dataArguments: [String]
    public var modelArguments: [String]
    public var studyDirectory: URL
    public var pretrainEpochs = 20, probeEpochs = 50
    public var labelFraction = 1.0
    public var knn = true
    /// The base setting's extra pretrain arguments, and the probe's.
    public var pretrainArguments: [String] = [], probeArguments: [String] = []

    public init(plan: SweepPlan, dataArguments: [String], modelArguments: [String], studyDirectory: URL) {
        self.plan = plan; self.dataArguments = dataArguments; self.modelArguments = modelArguments
        self.studyDirectory = studyDirectory
    }

    /// A study with nothing chosen yet: its fields' defaults, where a front end's flags start.
    public static var defaults: SweepStudy {
        SweepStudy(plan: SweepPlan(studies: [], temperatures: [], batchSizes: [], ablations: [], heads: []), dataArguments: [],
                   modelArguments: [], studyDirectory: URL(fileURLWithPath: "."))
    }

    /// The plan's values, at least one epoch of pretraining and of the probe, a label fraction in (0, 1].
    public func validate() throws {
        try plan.validate()
        guard pretrainEpochs >= 1, probeEpochs >= 1 else {
            throw StudySettingsError("`pretrainEpochs` and `probeEpochs` must be at least 1")
        }
        _ = try parseFractionList(String(labelFraction), setting: "labelFraction")
    }

    /// The runs of one setting: pretraining, linear probe, kNN (nil with `knn` off).
    public struct SettingRuns: Equatable {
        public var setting: SweepPlan.Setting
        public var pretrain: ChildRun
        public var linear: ChildRun
        public var knn: ChildRun?
    }

    public var runsPerSetting: Int { knn ? 3 : 2 }

    /// Every setting's runs, in study order.
    public var runs: [SettingRuns] {
        plan.settings.map { setting in
            // The setting in a directory name: "512,128" -> "512-128", "l2 T=0.5" -> "l2-T-0.5".
            let name = String(setting.setting.map { $0.isLetter || $0.isNumber || ".-_".contains($0) ? $0 : "-" })
            let prefix = "\(setting.study)-\(name)"
            let pretrain = ChildRun(name: "\(prefix)/pretrain", subcommand: "pretrain",
                                    arguments: dataArguments + modelArguments + ["--epochs", String(pretrainEpochs)]
                                        + pretrainArguments + setting.arguments,
                                    product: "model.safetensors")
            let encoder = studyDirectory.appendingPathComponent(pretrain.name).appendingPathComponent("model.safetensors").path
            let evalArgs = dataArguments + modelArguments + ["--encoder", encoder, "--label-fraction", String(labelFraction)]
            let linear = ChildRun(name: "\(prefix)/linear", subcommand: "linear-eval",
                                  arguments: evalArgs + ["--epochs", String(probeEpochs)] + probeArguments)
            let knnRun = knn ? ChildRun(name: "\(prefix)/knn", subcommand: "knn", arguments: evalArgs) : nil
            return SettingRuns(setting: setting, pretrain: pretrain, linear: linear, knn: knnRun)
        }
    }

    /// One setting's table row from its pretraining's metrics.csv and the evaluations' results.
    public func row(_ runs: SettingRuns, linear: RunResults, knn: RunResults?) throws -> SweepRow {
        let metrics = studyDirectory.appendingPathComponent(runs.pretrain.name).appendingPathComponent("metrics.csv")
        let contrastive = try PretrainMetricsSummary(csv: metrics)
        return SweepRow(study: runs.setting.study, setting: runs.setting.setting, contrastive: contrastive,
                        probeTop1: linear.testTop1 ?? .nan, probeTop5: linear.testTop5 ?? .nan,
                        knnTop1: knn.map { $0.testTop1 ?? .nan })
    }

    /// Runs every setting in order (finished runs are skipped by the runner) and returns the table's rows.
    /// A setting whose pretraining diverged gets a row saying so (`SweepRow.diverged`) and the sweep goes on;
    /// `say` tells the user.
    public func run(with runner: inout ChildRunner, say: (String) -> Void = { _ in }) throws -> [SweepRow] {
        let all = runs
        let total = all.count * runsPerSetting
        var rows: [SweepRow] = []
        for setting in all {
            do {
                try runner.run(setting.pretrain, of: total)
            } catch let failure {
                // A diverged setting is a result of the study, not the end of it; any other failure is.
                guard let diverged = RunDivergence.read(from: runner.directory(of: setting.pretrain)) else { throw failure }
                say("\(setting.pretrain.name): diverged at step \(diverged.step) (\(diverged.summary)); "
                    + "its evaluations are skipped and the sweep goes on")
                runner.pass(over: runsPerSetting)
                rows.append(SweepRow(study: setting.setting.study, setting: setting.setting.setting, diverged: diverged))
                continue
            }
            guard let linear = try runner.run(setting.linear, of: total) else {
                throw StudyError("\(setting.linear.name) wrote no results.json")
            }
            let knn = try setting.knn.flatMap { try runner.run($0, of: total) }
            rows.append(try row(setting, linear: linear, knn: knn))
        }
        return rows
    }

    /// The summary line of the diverged settings, nil when none diverged.
    public static func divergenceSummary(_ rows: [SweepRow]) -> String? {
        let diverged = rows.filter { $0.diverged != nil }
        guard !diverged.isEmpty else { return nil }
        let names = diverged.map { "\($0.study) \($0.setting) (step \($0.diverged!.step), \($0.diverged!.summary))" }
        return "\(diverged.count) of \(rows.count) settings diverged: \(names.joined(separator: ", ")). "
            + "A larger temperature steadies an unnormalized similarity (--l2-temperature for l2); a lower --lr also helps."
    }

    /// sweep.csv's text.
    public static func csv(_ rows: [SweepRow]) -> String { SweepRow.csvHeader + rows.map(\.csvLine).joined() }

    /// sweep.md's text: what was run, then the table.
    public func markdown(_ rows: [SweepRow], data: String, model: String) -> String {
        var text = "# Pretraining sweep\n\n"
        text += "\(pretrainEpochs) pretraining epochs per setting on \(data); "
        text += "\(model); linear probe \(probeEpochs) epochs, label fraction \(labelFraction). "
        text += "Base pretrain arguments: \(pretrainArguments.isEmpty ? "the pretrain defaults" : pretrainArguments.joined(separator: " ")).\n\n"
        text += MarkdownTable(headers: SweepRow.markdownHeader, rows: rows.map(\.markdownCells)).markdown()
        if let diverged = Self.divergenceSummary(rows) { text += "\n" + diverged + "\n" }
        return text
    }

    /// Writes sweep.csv and sweep.md; returns sweep.md's text.
    public func write(_ rows: [SweepRow], data: String, model: String) throws -> String {
        let markdown = markdown(rows, data: data, model: model)
        try AtomicFile.write(Data(Self.csv(rows).utf8), to: studyDirectory.appendingPathComponent("sweep.csv"))
        try AtomicFile.write(Data(markdown.utf8), to: studyDirectory.appendingPathComponent("sweep.md"))
        return markdown
    }
}
