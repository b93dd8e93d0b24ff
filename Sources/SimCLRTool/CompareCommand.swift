import ArgumentParser
import Foundation
import Reports
import RunFiles
import SimCLR

/// The evaluations `compare` can run.
enum ComparisonEvaluation: String, CaseIterable {
    case linear, knn, finetune, supervised
}

/// `simclr compare`: random init vs SimCLR vs supervised from scratch, at several label fractions.
struct CompareCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "compare",
        abstract: "Random-init vs SimCLR-pretrained vs supervised-from-scratch at several label fractions: one table.",
        discussion: """
        Runs, as separate processes of this tool, each in its own directory under --out:
          pretrain                      SimCLR pretraining (skipped with --encoder)
          linear-{simclr,random}-F      linear probe on frozen SimCLR / random-init features
          knn-{simclr,random}-F         kNN (k=200) on the same features
          finetune-simclr-F             SimCLR encoder + new head trained end to end
          supervised-F                  ResNet-18 trained from scratch on the labels
        for every label fraction F (class-balanced subsets of the training labels). Then writes \
        comparison.md and comparison.csv (test top-1 and top-5 of every run) and a report with plots \
        (report/). Every run's output goes to its log.txt and, indented, to the terminal.

        Interrupted? Run the same command again: finished runs are skipped (their command is recorded in \
        command.txt) and an interrupted pretraining resumes from its checkpoint. --force redoes everything.

        Start compare itself without mpirun: with --ranks N > 1 it starts every run as `mpirun -np N` \
        (training data-parallel; evaluation computes features in shards, rank 0 trains the probe).

        Examples:
          simclr compare --out runs/compare --ranks 2 --width 0.25 --pretrain-epochs 20 --label-fractions 0.1
          simclr compare --out runs/cifar --data data/cifar10 --ranks 8 --mpirun-arg=--hostfile=hosts \\
            --pretrain-epochs 500 --pretrain-arg=--batch-size=512
        """)

    @OptionGroup(title: "Data") var dataOptions: DataOptions
    @OptionGroup(title: "Launching") var launch: LaunchOptions
    @OptionGroup(title: "Encoder") var model: StudyModelOptions

    @Option(help: ArgumentHelp("Study directory (one subdirectory per run).", valueName: "dir"))
    var out: String

    @Option(help: ArgumentHelp("Label fractions to evaluate at, comma-separated, each in (0, 1].", valueName: "f,..."))
    var labelFractions = "0.01,0.1,1"

    @Option(help: ArgumentHelp("Which evaluations to run, comma-separated: linear, knn, finetune, supervised.",
                               valueName: "list"))
    var evaluations = "linear,knn,finetune,supervised"

    @Option(help: ArgumentHelp("Evaluate this pretrained encoder instead of pretraining one.", valueName: "file"))
    var encoder: String?

    @Option(help: "SimCLR pretraining epochs.")
    var pretrainEpochs = 100

    @Option(help: "Linear-probe epochs.")
    var probeEpochs = 100

    @Option(help: "Fine-tuning epochs.")
    var finetuneEpochs = 30

    @Option(help: "Supervised-from-scratch epochs.")
    var supervisedEpochs = 30

    @Option(help: ArgumentHelp("Extra argument for pretrain, e.g. --pretrain-arg=--temperature=0.5 (repeatable).",
                               valueName: "arg"))
    var pretrainArg: [String] = []

    @Option(help: ArgumentHelp("Extra argument for linear-eval (repeatable).", valueName: "arg"))
    var probeArg: [String] = []

    @Option(help: ArgumentHelp("Extra argument for finetune (repeatable).", valueName: "arg"))
    var finetuneArg: [String] = []

    @Option(help: ArgumentHelp("Extra argument for supervised (repeatable).", valueName: "arg"))
    var supervisedArg: [String] = []

    func validate() throws {
        _ = try parsedFractions()
        _ = try parsedEvaluations()
        for (name, value) in [("--pretrain-epochs", pretrainEpochs), ("--probe-epochs", probeEpochs),
                              ("--finetune-epochs", finetuneEpochs), ("--supervised-epochs", supervisedEpochs)]
            where value < 1 {
            throw ValidationError("\(name) must be at least 1")
        }
        if let encoder, !FileManager.default.fileExists(atPath: expandPath(encoder)) {
            throw ValidationError("--encoder \(encoder): file not found")
        }
    }

    func parsedFractions() throws -> [Double] {
        try parseFractionList(labelFractions, option: "--label-fractions")
    }

    func parsedEvaluations() throws -> [ComparisonEvaluation] {
        let names = evaluations.split(separator: ",").map { $0.trimmingCharacters(in: .whitespaces) }
        let chosen = try names.map { name -> ComparisonEvaluation in
            guard let e = ComparisonEvaluation(rawValue: name) else {
                throw ValidationError("--evaluations: unknown '\(name)' (linear, knn, finetune, supervised)")
            }
            return e
        }
        guard !chosen.isEmpty else { throw ValidationError("--evaluations is empty") }
        return chosen
    }

    /// The runs of the study, in order, with the source and evaluation each contributes to the table.
    func plan() throws -> [(run: ChildRun, source: String, evaluation: String, fraction: Double)] {
                let data = dataOptions.arguments
        let chosen = try parsedEvaluations()
        var runs: [(run: ChildRun, source: String, evaluation: String, fraction: Double)] = []
        let needsEncoder = chosen.contains { $0 != .supervised }
        let pretrained: String
        if let encoder {
            pretrained = URL(fileURLWithPath: expandPath(encoder)).path
        } else {
            pretrained = URL(fileURLWithPath: expandPath(out)).appendingPathComponent("pretrain/model.safetensors").path
            if needsEncoder {
                let args = data + model.arguments + ["--epochs", String(pretrainEpochs)] + pretrainArg
                runs.append((ChildRun(name: "pretrain", subcommand: "pretrain", arguments: args,
                                      product: "model.safetensors"), "simclr", "pretrain", 1))
            }
        }
        for f in try parsedFractions() {
            let tag = fractionTag(f)
            let fraction = ["--label-fraction", String(f)]
            for evaluation in chosen {
                switch evaluation {
                case .linear, .knn:
                    let command = evaluation == .linear ? "linear-eval" : "knn"
                    let extra = evaluation == .linear ? ["--epochs", String(probeEpochs)] + probeArg : []
                    for (source, encoderArgs) in [("simclr", ["--encoder", pretrained]), ("random-init", ["--random-init"])] {
                        let name = "\(evaluation.rawValue)-\(source == "simclr" ? "simclr" : "random")-\(tag)"
                        let run = ChildRun(name: name, subcommand: command,
                                           arguments: data + model.arguments + encoderArgs + fraction + extra)
                        runs.append((run, source, evaluation.rawValue, f))
                    }
                case .finetune:
                    let args = data + model.arguments + ["--encoder", pretrained, "--epochs", String(finetuneEpochs)] + fraction
                        + finetuneArg
                    runs.append((ChildRun(name: "finetune-simclr-\(tag)", subcommand: "finetune", arguments: args), "simclr", "finetune", f))
                case .supervised:
                    let args = data + model.arguments + ["--epochs", String(supervisedEpochs)] + fraction + supervisedArg
                    runs.append((ChildRun(name: "supervised-\(tag)", subcommand: "supervised", arguments: args), "supervised", "supervised", f))
                }
            }
        }
        return runs
    }

    func run() throws {
        let study = URL(fileURLWithPath: expandPath(out))
        try FileManager.default.createDirectory(at: study, withIntermediateDirectories: true)
        let runs = try plan()
        say("compare: \(runs.count) runs in \(study.path) (each on \(launch.ranks) rank(s))")
        var runner = ChildRunner(options: launch, studyDirectory: study)
        var entries: [ComparisonEntry] = []
        for planned in runs {
            let results = try runner.run(planned.run, of: runs.count)
            if let results {
                entries.append(try ComparisonEntry(source: planned.source, evaluation: planned.evaluation,
                                                   labelFraction: planned.fraction, results: results,
                                                   runDirectory: runner.directory(of: planned.run).path))
            }
        }
        let table = ComparisonTable(entries: entries)
        let markdown = comparisonMarkdown(table)
        try AtomicText.write(markdown, to: study.appendingPathComponent("comparison.md"))
        try AtomicText.write(table.csv, to: study.appendingPathComponent("comparison.csv"))
        say("\n" + markdown)
        say("wrote \(study.appendingPathComponent("comparison.md").path) and comparison.csv")
        let reportDirectory = study.appendingPathComponent("report")
        let records = try runs.map { try RunRecord.load(runner.directory(of: $0.run)) }
        let written = try ReportWriter.write(runs: records, to: reportDirectory)
        say("wrote the report with \(written.count - 2) plots: \(written[0].path) and \(written[1].path)")
    }

    private func comparisonMarkdown(_ table: ComparisonTable) -> String {
        let (header, rows) = table.cells
        var text = "# Random init vs SimCLR vs supervised\n\n"
        text += "Test top-1 (top-5) on \(dataOptions.describe()); \(model.describe).\n\n"
        text += MarkdownTable(headers: header, rows: rows).markdown()
        return text
    }
}

/// "10pct", "1pct", "0.5pct": a label fraction in a directory name.
func fractionTag(_ f: Double) -> String { String(format: "%gpct", f * 100) }

/// Parses "0.01,0.1,1" into fractions in (0, 1].
func parseFractionList(_ text: String, option: String) throws -> [Double] {
    let values = try text.split(separator: ",").map { part -> Double in
        guard let f = Double(part.trimmingCharacters(in: .whitespaces)), f > 0, f <= 1 else {
            throw ValidationError("\(option): '\(part)' is not a fraction in (0, 1]")
        }
        return f
    }
    guard !values.isEmpty else { throw ValidationError("\(option) is empty") }
    return values
}

/// Writes text atomically.
enum AtomicText {
    static func write(_ text: String, to url: URL) throws { try Data(text.utf8).write(to: url, options: .atomic) }
}
