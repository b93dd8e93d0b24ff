import ArgumentParser
import Foundation
import Reports
import Contrastive
import SimCLR

/// `simclr sweep`: the seed's pretraining experiments, each setting a short pretrain + linear probe.
struct SweepCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "sweep",
        abstract: "Pretraining experiments (temperature, batch size, augmentation ablations, projection head, "
            + "similarity): one short pretrain + linear probe per setting, one table row each.",
        discussion: """
        Every setting changes one thing of the base pretraining (the pretrain defaults plus --pretrain-arg) \
        and is evaluated by a linear probe (and kNN unless --no-knn) on frozen features:
          temperature    --temperatures (default 0.01,0.07,0.5)
          batch-size     --batch-sizes (default 64,128,256)
          augmentation   the full pipeline, then each augmentation removed in turn (--ablations)
          head           projection heads --heads (default 128;512,128;512,512,128;512,64;512,256:
                         1, 2 and 3 layers, and output sizes)
          similarity     cosine and l2
        Choose studies with --studies. Runs go to --out/<study>-<setting>/{pretrain,linear,knn}; the table \
        goes to sweep.csv and sweep.md (last-epoch contrastive loss, top-1, top-5, probe top-1/top-5, kNN \
        top-1). Rerunning the same command skips finished runs; an interrupted pretraining resumes.

        Sizes are flags so the full study runs on a cluster and a small one on a laptop.

        Examples:
          simclr sweep --out runs/sweep --studies temperature --width 0.25 --pretrain-epochs 5 --probe-epochs 30
          simclr sweep --out runs/cifar-sweep --data data/cifar10 --ranks 8 --mpirun-arg=--hostfile=hosts \\
            --pretrain-epochs 100 --pretrain-arg=--batch-size=512 --batch-sizes 256,512,1024
        """)

    @OptionGroup(title: "Data") var dataOptions: DataOptions
    @OptionGroup(title: "Launching") var launch: LaunchOptions
    @OptionGroup(title: "Encoder") var model: StudyModelOptions

    @Option(help: ArgumentHelp("Sweep directory (one subdirectory per run).", valueName: "dir"))
    var out: String

    @Option(help: ArgumentHelp("Studies, comma-separated: temperature, batch-size, augmentation, head, similarity.",
                               valueName: "list"))
    var studies = "temperature,batch-size,augmentation,head,similarity"

    @Option(help: ArgumentHelp("Temperatures of the temperature study.", valueName: "t,..."))
    var temperatures = "0.01,0.07,0.5"

    @Option(help: ArgumentHelp("Global batch sizes of the batch-size study.", valueName: "b,..."))
    var batchSizes = "64,128,256"

    @Option(help: ArgumentHelp("Augmentations removed one at a time in the augmentation study.", valueName: "list"))
    var ablations = "crop,flip,color-jitter,grayscale,blur"

    @Option(help: ArgumentHelp("Projection heads of the head study, ';'-separated --proj-dims values.",
                               valueName: "dims;..."))
    var heads = "128;512,128;512,512,128;512,64;512,256"

    @Option(help: "Pretraining epochs of each setting.")
    var pretrainEpochs = 20

    @Option(help: "Linear-probe epochs.")
    var probeEpochs = 50

    @Option(help: ArgumentHelp("Label fraction of the linear probe and kNN, in (0, 1].", valueName: "f"))
    var labelFraction = 1.0

    @Flag(help: "Skip the kNN evaluation.")
    var noKnn = false

    @Option(help: ArgumentHelp("Extra argument for every pretrain (the base setting), e.g. "
                                   + "--pretrain-arg=--optimizer=adamw (repeatable).", valueName: "arg"))
    var pretrainArg: [String] = []

    @Option(help: ArgumentHelp("Extra argument for every linear-eval (repeatable).", valueName: "arg"))
    var probeArg: [String] = []

    static let studyNames = ["temperature", "batch-size", "augmentation", "head", "similarity"]
    static let ablationNames = ["crop", "flip", "color-jitter", "grayscale", "blur"]

    func validate() throws {
        for study in chosenStudies where !Self.studyNames.contains(study) {
            throw ValidationError("--studies: unknown '\(study)' (\(Self.studyNames.joined(separator: ", ")))")
        }
        guard !chosenStudies.isEmpty else { throw ValidationError("--studies is empty") }
        for a in list(ablations) where !Self.ablationNames.contains(a) {
            throw ValidationError("--ablations: unknown '\(a)' (\(Self.ablationNames.joined(separator: ", ")))")
        }
        for t in list(temperatures) where !((Double(t) ?? 0) > 0) {
            throw ValidationError("--temperatures: '\(t)' is not a positive number")
        }
        for b in list(batchSizes) where !((Int(b) ?? 0) >= 2) {
            throw ValidationError("--batch-sizes: '\(b)' is not a batch size of at least 2")
        }
        for head in heads.split(separator: ";") where head.split(separator: ",").contains(where: { (Int($0) ?? 0) < 1 }) {
            throw ValidationError("--heads: '\(head)' is not a list of positive layer sizes")
        }
        guard pretrainEpochs >= 1, probeEpochs >= 1 else {
            throw ValidationError("--pretrain-epochs and --probe-epochs must be at least 1")
        }
        _ = try parseFractionList(String(labelFraction), option: "--label-fraction")
    }

    private var chosenStudies: [String] { list(studies) }
    private func list(_ text: String) -> [String] {
        text.split(separator: ",").map { $0.trimmingCharacters(in: .whitespaces) }.filter { !$0.isEmpty }
    }

    /// The settings: (study, setting name, pretrain arguments that make it).
    func settings() -> [(study: String, setting: String, arguments: [String])] {
        var result: [(String, String, [String])] = []
        for study in chosenStudies {
            switch study {
            case "temperature":
                for t in list(temperatures) { result.append((study, t, ["--temperature", t])) }
            case "batch-size":
                for b in list(batchSizes) { result.append((study, b, ["--batch-size", b])) }
            case "augmentation":
                result.append((study, "full", []))
                for a in list(ablations) { result.append((study, "no-\(a)", ["--no-\(a)"])) }
            case "head":
                for h in heads.split(separator: ";").map(String.init) { result.append((study, h, ["--proj-dims", h])) }
            case "similarity":
                for s in Similarity.allCases.map(\.name) { result.append((study, s, ["--similarity", s])) }
            default: break
            }
        }
        return result.map { (study: $0.0, setting: $0.1, arguments: $0.2) }
    }

    func run() throws {
        let root = URL(fileURLWithPath: expandPath(out))
        try FileManager.default.createDirectory(at: root, withIntermediateDirectories: true)
        let data = dataOptions.arguments
                let fraction = ["--label-fraction", String(labelFraction)]
        let chosen = settings()
        let runsPerSetting = noKnn ? 2 : 3
        let total = chosen.count * runsPerSetting
        say("sweep: \(chosen.count) settings, \(total) runs in \(root.path) (each on \(launch.ranks) rank(s))")
        var runner = ChildRunner(options: launch, studyDirectory: root)
        var rows: [SweepRow] = []
        for setting in chosen {
            let prefix = "\(setting.study)-\(setting.setting.replacingOccurrences(of: ",", with: "-"))"
            // The setting's own arguments come last, so they win over the base's.
            let pretrain = ChildRun(name: "\(prefix)/pretrain", subcommand: "pretrain",
                                    arguments: data + model.arguments + ["--epochs", String(pretrainEpochs)] + pretrainArg
                                        + setting.arguments, product: "model.safetensors")
            _ = try runner.run(pretrain, of: total)
            let encoder = runner.directory(of: pretrain).appendingPathComponent("model.safetensors").path
            let evalArgs = data + model.arguments + ["--encoder", encoder] + fraction
            let linear = try runner.run(ChildRun(name: "\(prefix)/linear", subcommand: "linear-eval",
                                                 arguments: evalArgs + ["--epochs", String(probeEpochs)] + probeArg),
                                        of: total)!
            var knn: [String: Any]?
            if !noKnn {
                knn = try runner.run(ChildRun(name: "\(prefix)/knn", subcommand: "knn", arguments: evalArgs),
                                     of: total)
            }
            let contrastive = try PretrainMetricsSummary(
                csv: runner.directory(of: pretrain).appendingPathComponent("metrics.csv"))
            rows.append(SweepRow(study: setting.study, setting: setting.setting, contrastive: contrastive,
                                 probeTop1: number(linear["test_top1"]), probeTop5: number(linear["test_top5"]),
                                 knnTop1: knn.map { number($0["test_top1"]) }))
        }
        let csv = SweepRow.csvHeader + rows.map(\.csvLine).joined()
        var markdown = "# Pretraining sweep\n\n"
        markdown += "\(pretrainEpochs) pretraining epochs per setting on \(dataOptions.describe()); "
        markdown += "\(model.describe); linear probe \(probeEpochs) epochs, label fraction \(labelFraction). "
        markdown += "Base pretrain arguments: \(pretrainArg.isEmpty ? "the pretrain defaults" : pretrainArg.joined(separator: " ")).\n\n"
        markdown += MarkdownTable(headers: SweepRow.markdownHeader, rows: rows.map(\.markdownCells)).markdown()
        try AtomicText.write(csv, to: root.appendingPathComponent("sweep.csv"))
        try AtomicText.write(markdown, to: root.appendingPathComponent("sweep.md"))
        say("\n" + markdown)
        say("wrote \(root.appendingPathComponent("sweep.md").path) and sweep.csv")
    }

    private func number(_ value: Any?) -> Double { (value as? NSNumber)?.doubleValue ?? .nan }
}

/// One setting's line of the sweep table.
struct SweepRow {
    var study: String
    var setting: String
    var contrastive: PretrainMetricsSummary
    var probeTop1: Double
    var probeTop5: Double
    var knnTop1: Double?

    static let csvHeader = "study,setting,final_epoch,loss,acc_top1,acc_top5,linear_top1,linear_top5,knn_top1\n"
    static let markdownHeader = ["study", "setting", "contrastive loss", "contrastive top-1", "contrastive top-5",
                                 "linear top-1", "linear top-5", "kNN top-1"]

    var csvLine: String {
        let knn = knnTop1.map { String($0) } ?? ""
        return "\(study),\"\(setting)\",\(contrastive.epoch),\(contrastive.loss),\(contrastive.top1),"
            + "\(contrastive.top5),\(probeTop1),\(probeTop5),\(knn)\n"
    }

    var markdownCells: [String] {
        func pct(_ x: Double) -> String { String(format: "%.1f%%", x * 100) }
        return [study, setting, String(format: "%.3f", contrastive.loss), pct(contrastive.top1), pct(contrastive.top5),
                pct(probeTop1), pct(probeTop5), knnTop1.map(pct) ?? "-"]
    }
}
