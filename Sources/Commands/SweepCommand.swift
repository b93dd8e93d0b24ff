import ArgumentParser
import Datasets
import Foundation
import RunFiles
import Runs
import Studies

/// `simclr sweep`: the reference's pretraining studies (docs/reference-semantics.md, note 'Studies'), each setting a short pretrain + linear probe.
struct SweepCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "sweep",
        abstract: "Pretraining experiments (temperature, batch size, augmentation ablations, projection head, "
            + "similarity): one short pretrain + linear probe per setting, one table row each.",
        discussion: """
        Every setting changes one thing of the base pretraining (the pretrain defaults plus --pretrain-arg) and \
        is evaluated by a linear probe (and kNN unless --no-knn) on frozen features:
          temperature    --temperatures (default 0.01,0.07,0.5)
          batch-size     --batch-sizes (default 64,128,256)
          augmentation   the full pipeline, then each augmentation removed in
                         turn (--ablations)
          head           projection heads --heads (default
                         128;512,128;512,512,128;512,64;512,256: 1, 2 and 3
                         layers, and output sizes)
          similarity     cosine and l2
          multicrop      small crops per image besides the two global views,
                         --small-crop-counts (default 0,2,4)
          method         simclr and moco (MoCo v2 with pretrain's defaults:
                         --queue-size 4096, MoCo v2's temperature unless the
                         base arguments give one); not in the default --studies
          compression    gradient compression none, bf16 and powersgd at ranks 4
                         and 8 (--grad-compression; the same training on any
                         rank count); not in the default --studies
        Choose studies with --studies. Runs go to --out/<study>-<setting>/{pretrain,linear,knn}; the table goes \
        to sweep.csv and sweep.md (last-epoch contrastive loss, top-1, top-5, probe top-1/top-5, kNN top-1). \
        Rerunning the same command skips finished runs; an interrupted pretraining resumes.

        A setting whose pretraining diverges (its loss becomes NaN or infinite) is a row of the table saying so, \
        with the step and the loss; the sweep goes on with the next setting, and exits with status 3 when the \
        table is complete but some setting diverged (1 or 2 for other failures). The l2 similarity compares \
        unnormalized embeddings, whose logits grow with |z|^2: at cosine's temperatures it diverges; \
        --l2-temperature gives its setting a temperature of its own (0.5 or more; the SimCLR paper also used \
        larger temperatures without normalization).

        Sizes are flags so the full study runs on a cluster and a small one on a laptop.

        Examples:
          simclr sweep --out runs/sweep --studies temperature --width 0.25 \\
              --pretrain-epochs 5 --probe-epochs 30 --pretrain-arg=--recipe=quick
          simclr sweep --out runs/cifar-sweep --data data/cifar10 --ranks 8 \\
              --mpirun-arg=--hostfile=hosts --pretrain-epochs 100 \\
              --pretrain-arg=--batch-size=512 --batch-sizes 256,512,1024
        """)

    @OptionGroup(title: "Data") var dataOptions: DataOptions
    @OptionGroup(title: "Launching") var launch: LaunchOptions
    @OptionGroup(title: "Encoder") var model: StudyModelOptions

    @Option(help: ArgumentHelp("Sweep directory (one subdirectory per run).", valueName: "dir"))
    var out: String

    @Option(help: ArgumentHelp("Studies, comma-separated: temperature, batch-size, augmentation, head, similarity, multicrop, method, compression.",
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

    @Option(help: ArgumentHelp("Temperature of the similarity study's l2 setting (default: the base's). l2 compares "
                                   + "unnormalized embeddings, which diverge at cosine's temperatures; 0.5 or more steadies it.",
                               valueName: "t"))
    var l2Temperature: String?

    @Option(help: ArgumentHelp("Small crops per image of the multicrop study (--small-crops of each setting).", valueName: "n,..."))
    var smallCropCounts = SweepStudy.defaults.plan.smallCropCounts.joined(separator: ",")

    @Option(help: "Pretraining epochs of each setting.")
    var pretrainEpochs = SweepStudy.defaults.pretrainEpochs

    @Option(help: "Linear-probe epochs.")
    var probeEpochs = SweepStudy.defaults.probeEpochs

    @Option(help: ArgumentHelp("Label fraction of the linear probe and kNN, in (0, 1].", valueName: "f"))
    var labelFraction = SweepStudy.defaults.labelFraction

    @Flag(help: "Skip the kNN evaluation.")
    var noKnn = false

    @Option(help: ArgumentHelp("Extra argument for every pretrain (the base setting), e.g. "
                                   + "--pretrain-arg=--optimizer=adamw (repeatable).", valueName: "arg"))
    var pretrainArg: [String] = []

    @Option(help: ArgumentHelp("Extra argument for every linear-eval (repeatable).", valueName: "arg"))
    var probeArg: [String] = []

    func validate() throws {
        try SettingFlags.validate(study.validate)
    }

    /// The studies and values of the flags.
    var plan: SweepPlan {
        func list(_ text: String) -> [String] {
            text.split(separator: ",").map { $0.trimmingCharacters(in: .whitespaces) }.filter { !$0.isEmpty }
        }
        return SweepPlan(studies: list(studies), temperatures: list(temperatures), batchSizes: list(batchSizes),
                         ablations: list(ablations), heads: heads.split(separator: ";").map(String.init),
                         l2Temperature: l2Temperature, smallCropCounts: list(smallCropCounts))
    }

    /// The study the flags describe.
    var study: SweepStudy {
        var study = SweepStudy(plan: plan, dataArguments: dataOptions.arguments, modelArguments: model.arguments,
                               studyDirectory: URL(fileURLWithPath: DataSelection.expand(out)))
        (study.pretrainEpochs, study.probeEpochs, study.labelFraction, study.knn) = (pretrainEpochs, probeEpochs, labelFraction, !noKnn)
        (study.pretrainArguments, study.probeArguments) = (pretrainArg, probeArg)
        return study
    }

    func run() throws {
        let study = study
        let root = study.studyDirectory
        let lock = try ChildRunner.claimStudyDirectory(root, say: say)
        defer { lock.release() }
        let settings = study.plan.settings.count
        say("sweep: \(settings) settings, \(settings * study.runsPerSetting) runs in \(root.path) (each on \(launch.ranks) rank(s))")
        var runner = ChildRunner(launch: launch.studyLaunch, studyDirectory: root, say: say)
        let rows = try study.run(with: &runner, say: say)
        let markdown = try study.write(rows, data: dataOptions.describe(), model: model.describe)
        say("\n" + markdown)
        say("wrote \(root.appendingPathComponent("sweep.md").path) and sweep.csv")
        if SweepStudy.divergenceSummary(rows) != nil { throw ExitCode(MPIJob.divergedStatus) }
    }
}
