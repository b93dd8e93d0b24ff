import ArgumentParser
import Datasets
import Foundation
import Pretraining
import Reports
import RunFiles
import Studies

/// `simclr compare`: random init vs SimCLR vs supervised from scratch, at several label fractions.
struct CompareCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "compare",
        abstract: "Random-init vs SimCLR-pretrained vs supervised-from-scratch at several label fractions: one table.",
        discussion: """
        Runs, as separate processes of this tool, each in its own directory under --out:
          pretrain                  SimCLR pretraining, or MoCo v2 with --method moco
                                    (then the runs below say moco, not simclr);
                                    skipped with --encoder
          linear-{simclr,random}-F  linear probe on frozen pretrained / random features
          knn-{simclr,random}-F     kNN (k=200) on the same features
          finetune-simclr-F         the pretrained encoder + a new head, end to end
          supervised-F              ResNet-18 trained from scratch on the labels
        for every label fraction F (class-balanced subsets of the training labels). Then writes comparison.md \
        and comparison.csv (test top-1 and top-5 of every run) and a report with plots (report/). Every run's \
        output goes to its log.txt and, indented, to the terminal.

        Interrupted? Run the same command again: finished runs are skipped (their command is recorded in \
        command.txt) and an interrupted pretraining resumes from its checkpoint. --force redoes everything.

        Start compare itself without mpirun: with --ranks N > 1 it starts every run as `mpirun -np N` (training \
        data-parallel; evaluation computes features in shards, rank 0 trains the probe).

        Examples:
          simclr compare --out runs/compare --ranks 2 --width 0.25 \\
              --pretrain-epochs 20 --label-fractions 0.1 \\
              --pretrain-arg=--recipe=quick
          simclr compare --method moco --out runs/compare-moco --ranks 2 \\
              --width 0.25 --pretrain-epochs 20 --label-fractions 0.1 \\
              --pretrain-arg=--recipe=quick --pretrain-arg=--queue-size=1024
          simclr compare --out runs/cifar --data data/cifar10 --ranks 8 \\
              --mpirun-arg=--hostfile=hosts --pretrain-epochs 500 \\
              --pretrain-arg=--batch-size=512
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

    @Option(help: "How to pretrain: simclr, or moco (MoCo v2; the table's pretrained rows are then MoCo's).")
    var method: PretrainMethod = .simclr

    @Option(help: "Pretraining epochs.")
    var pretrainEpochs = ComparisonStudy.defaults.pretrainEpochs

    @Option(help: "Linear-probe epochs.")
    var probeEpochs = ComparisonStudy.defaults.probeEpochs

    @Option(help: "Fine-tuning epochs.")
    var finetuneEpochs = ComparisonStudy.defaults.finetuneEpochs

    @Option(help: "Supervised-from-scratch epochs.")
    var supervisedEpochs = ComparisonStudy.defaults.supervisedEpochs

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
        try SettingFlags.validate { try study().validate() }
        if let encoder, !FileManager.default.fileExists(atPath: DataSelection.expand(encoder)) {
            throw ValidationError("--encoder \(encoder): file not found")
        }
    }

    /// The study the flags describe.
    func study() throws -> ComparisonStudy {
        var study = ComparisonStudy(dataArguments: dataOptions.arguments, modelArguments: model.arguments,
                                    labelFractions: try parseFractionList(labelFractions, setting: "labelFractions"),
                                    evaluations: try ComparisonEvaluation.list(parsing: evaluations),
                                    encoder: encoder.map { URL(fileURLWithPath: DataSelection.expand($0)).path },
                                    studyDirectory: URL(fileURLWithPath: DataSelection.expand(out)))
        (study.pretrainEpochs, study.probeEpochs) = (pretrainEpochs, probeEpochs)
        study.method = method
        (study.finetuneEpochs, study.supervisedEpochs) = (finetuneEpochs, supervisedEpochs)
        (study.pretrainArguments, study.probeArguments) = (pretrainArg, probeArg)
        (study.finetuneArguments, study.supervisedArguments) = (finetuneArg, supervisedArg)
        return study
    }

    func run() throws {
        let study = try study()
        let lock = try ChildRunner.claimStudyDirectory(study.studyDirectory, say: say)
        defer { lock.release() }
        say("compare: \(study.runs.count) runs in \(study.studyDirectory.path) (each on \(launch.ranks) rank(s))")
        var runner = ChildRunner(launch: launch.studyLaunch, studyDirectory: study.studyDirectory, say: say)
        let table = try study.run(with: &runner)
        let (markdown, report) = try study.write(table, data: dataOptions.describe(), model: model.describe)
        say("\n" + markdown)
        say("wrote \(study.studyDirectory.appendingPathComponent("comparison.md").path) and comparison.csv")
        say("wrote the report with \(report.plots.count) plots: \(report.markdown.path) and \(report.html.path)")
    }
}
