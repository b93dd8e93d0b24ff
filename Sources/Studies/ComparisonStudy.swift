import Foundation
import NeuralNet
import Pretraining
import Reports
import RunFiles

/// The evaluations `compare` can run.
public enum ComparisonEvaluation: String, CaseIterable {
    case linear, knn, finetune, supervised

    /// "linear,knn" -> [.linear, .knn]; an unknown or empty list is a `StudySettingsError` naming `setting`.
    public static func list(parsing text: String, setting: String = "evaluations") throws -> [ComparisonEvaluation] {
        let chosen = try text.split(separator: ",").map { $0.trimmingCharacters(in: .whitespaces) }.map { name in
            guard let e = ComparisonEvaluation(rawValue: name) else {
                throw StudySettingsError("`\(setting)`: unknown '\(name)' (linear, knn, finetune, supervised)")
            }
            return e
        }
        guard !chosen.isEmpty else { throw StudySettingsError("`\(setting)` is empty") }
        return chosen
    }
}

/// Study settings that cannot run; the message names the settings in backquotes (`labelFractions`).
public struct StudySettingsError: Error, CustomStringConvertible, Equatable {
    public let description: String
    public init(_ description: String) { self.description = description }
}

/// "0.01,0.1,1" -> label fractions, each in (0, 1]; anything else is a `StudySettingsError` naming `setting`.
public func parseFractionList(_ text: String, setting: String) throws -> [Double] {
    let values = try text.split(separator: ",").map { part -> Double in
        guard let f = Double(part.trimmingCharacters(in: .whitespaces)), f > 0, f <= 1 else {
            throw StudySettingsError("`\(setting)`: '\(part)' is not a fraction in (0, 1]")
        }
        return f
    }
    guard !values.isEmpty else { throw StudySettingsError("`\(setting)` is empty") }
    return values
}

/// `simclr compare` as a plan: the runs (pretraining, then every evaluation at every label fraction), each
/// with the row of the table it fills, and the table built from the runs' results.json.
public struct ComparisonStudy {
    /// Data and encoder arguments every run gets (the commands' own flags).
    public var dataArguments: [String]
    public var modelArguments: [String]
    public var labelFractions: [Double]
    public var evaluations: [ComparisonEvaluation]
    /// A pretrained encoder to evaluate (absolute path); nil = the study pretrains one.
    public var encoder: String?
    public var studyDirectory: URL
    public var pretrainEpochs = 100, probeEpochs = 100, finetuneEpochs = 30, supervisedEpochs = 30
    /// How the study pretrains (`--method`): the pretrained rows and runs are named after it.
    public var method = PretrainMethod.simclr
    /// Extra arguments of each kind of run; they come last, so they win over the study's.
    public var pretrainArguments: [String] = [], probeArguments: [String] = []
    public var finetuneArguments: [String] = [], supervisedArguments: [String] = []

    public init(dataArguments: [String], modelArguments: [String], labelFractions: [Double],
                evaluations: [ComparisonEvaluation], encoder: String?, studyDirectory: URL) {
        self.dataArguments = dataArguments; self.modelArguments = modelArguments
        self.labelFractions = labelFractions; self.evaluations = evaluations
        self.encoder = encoder; self.studyDirectory = studyDirectory
    }

    /// A study with nothing chosen yet: its fields' defaults, where a front end's flags start.
    public static var defaults: ComparisonStudy {
        ComparisonStudy(dataArguments: [], modelArguments: [], labelFractions: [], evaluations: [], encoder: nil,
                        studyDirectory: URL(fileURLWithPath: "."))
    }

    /// Every kind of run trains at least one epoch.
    public func validate() throws {
        for (name, value) in [("pretrainEpochs", pretrainEpochs), ("probeEpochs", probeEpochs),
                              ("finetuneEpochs", finetuneEpochs), ("supervisedEpochs", supervisedEpochs)] where value < 1 {
            throw StudySettingsError("`\(name)` must be at least 1")
        }
    }

    /// One run of the study and what its results contribute to the table.
    public struct PlannedRun: Equatable {
        public var run: ChildRun
        /// "simclr" or "moco" (the study's method), "random-init" or "supervised".
        public var source: String
        /// "pretrain" (no table entry), "linear", "knn", "finetune" or "supervised".
        public var evaluation: String
        public var fraction: Double
    }

    /// The encoder the evaluations read: the given one, or the study's pretraining product.
    public var pretrainedEncoder: String {
        encoder ?? studyDirectory.appendingPathComponent("pretrain/model.safetensors").path
    }

    /// The runs of the study, in order.
    public var runs: [PlannedRun] {
        let data = dataArguments, model = modelArguments
        var runs: [PlannedRun] = []
        let pretrained = method.rawValue
        if encoder == nil, evaluations.contains(where: { $0 != .supervised }) {
            let methodArgs = method == .simclr ? [] : ["--method", method.rawValue]
            let args = data + model + ["--epochs", String(pretrainEpochs)] + methodArgs + pretrainArguments
            runs.append(PlannedRun(run: ChildRun(name: "pretrain", subcommand: "pretrain", arguments: args,
                                                 product: "model.safetensors"),
                                   source: pretrained, evaluation: "pretrain", fraction: 1))
        }
        for f in labelFractions {
            let tag = fractionTag(f)
            let fraction = ["--label-fraction", String(f)]
            for evaluation in evaluations {
                switch evaluation {
                case .linear, .knn:
                    let command = evaluation == .linear ? "linear-eval" : "knn"
                    let extra = evaluation == .linear ? ["--epochs", String(probeEpochs)] + probeArguments : []
                    for (source, encoderArgs) in [(pretrained, ["--encoder", pretrainedEncoder]),
                                                  ("random-init", ["--random-init"])] {
                        let name = "\(evaluation.rawValue)-\(source == pretrained ? pretrained : "random")-\(tag)"
                        let run = ChildRun(name: name, subcommand: command,
                                           arguments: data + model + encoderArgs + fraction + extra)
                        runs.append(PlannedRun(run: run, source: source, evaluation: evaluation.rawValue, fraction: f))
                    }
                case .finetune:
                    let args = data + model + ["--encoder", pretrainedEncoder, "--epochs", String(finetuneEpochs)]
                        + fraction + finetuneArguments
                    runs.append(PlannedRun(run: ChildRun(name: "finetune-\(pretrained)-\(tag)", subcommand: "finetune", arguments: args),
                                           source: pretrained, evaluation: "finetune", fraction: f))
                case .supervised:
                    let args = data + model + ["--epochs", String(supervisedEpochs)] + fraction + supervisedArguments
                    runs.append(PlannedRun(run: ChildRun(name: "supervised-\(tag)", subcommand: "supervised", arguments: args),
                                           source: "supervised", evaluation: "supervised", fraction: f))
                }
            }
        }
        return runs
    }

    /// The table from the runs' results (by run name; runs without results.json, the pretraining, are
    /// not in it).
    public func table(results: [String: RunResults]) throws -> ComparisonTable {
        var entries: [ComparisonEntry] = []
        for planned in runs {
            guard let r = results[planned.run.name] else { continue }
            entries.append(try ComparisonEntry(source: planned.source, evaluation: planned.evaluation,
                                               labelFraction: planned.fraction, results: r,
                                               runDirectory: studyDirectory.appendingPathComponent(planned.run.name).path))
        }
        return ComparisonTable(entries: entries)
    }

    /// Runs every run in order (a finished one is skipped by the runner) and builds the table.
    public func run(with runner: inout ChildRunner) throws -> ComparisonTable {
        let planned = runs
        var results: [String: RunResults] = [:]
        for p in planned {
            if let r = try runner.run(p.run, of: planned.count) { results[p.run.name] = r }
        }
        return try table(results: results)
    }

    /// Writes comparison.md, comparison.csv and the report of every run (report/); returns comparison.md's
    /// text and the report's files (report.md and report.html first, then the plots).
    public func write(_ table: ComparisonTable, data: String, model: String) throws -> (markdown: String, report: ReportFiles) {
        let markdown = Self.markdown(table, data: data, model: model, method: method)
        try AtomicFile.write(Data(markdown.utf8), to: studyDirectory.appendingPathComponent("comparison.md"))
        try AtomicFile.write(Data(table.csv.utf8), to: studyDirectory.appendingPathComponent("comparison.csv"))
        let records = try runs.map { try RunRecord.load(studyDirectory.appendingPathComponent($0.run.name)) }
        let report = try ReportWriter.write(runs: records, to: studyDirectory.appendingPathComponent("report"))
        return (markdown, report)
    }

    /// comparison.md: a title, what was compared, the table.
    public static func markdown(_ table: ComparisonTable, data: String, model: String, method: PretrainMethod = .simclr) -> String {
        let (header, rows) = table.cells
        var text = "# Random init vs \(ComparisonTable.sourceTitle(method.rawValue)) vs supervised\n\n"
        text += "Test top-1 (top-5) on \(data); \(model).\n\n"
        text += MarkdownTable(headers: header, rows: rows).markdown()
        return text
    }
}
