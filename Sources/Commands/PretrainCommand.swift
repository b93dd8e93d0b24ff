import ArgumentParser
import Cluster
import Contrastive
import Datasets
import Foundation
import NeuralNet
import Pretraining
import Runs

/// `simclr pretrain`: SimCLR contrastive pretraining of a ResNet + projection head.
struct PretrainCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "pretrain",
        abstract: "Contrastive pretraining (SimCLR or MoCo v2): two augmented views per image, ResNet-18/34/50 + projection head, InfoNCE.",
        discussion: """
        Writes RUN_DIR/metrics.csv, RUN_DIR/config.json, RUN_DIR/checkpoint.safetensors (model, optimizer state \
        and position; atomic, checksummed) and at the end RUN_DIR/model.safetensors (torchvision keys, loadable \
        by PyTorch). Ctrl-C writes a checkpoint and stops; --resume continues exactly where the run stopped.

        Under mpirun every rank holds a replica and a shard of each global batch; embeddings are all-gathered so \
        InfoNCE sees the global batch, BatchNorm statistics are global (--no-sync-bn for per-rank), and \
        gradients are all-reduced in buckets during backward. Rank 0 writes all files.

        --method moco trains MoCo v2: the query encoder on view 1, a momentum key encoder (never trained) on \
        view 2, InfoNCE of each query against its key and --queue-size queued keys; the global batch's keys are \
        all-gathered and enqueued in global-batch order on every rank, and the key encoder's BatchNorm uses \
        global-batch statistics.

        --recipe quick starts from settings that learn within a few epochs on small data (the examples below, \
        on the synthetic shapes); the default, reference, is the method's published settings, made for hundreds \
        of epochs over large batches.

        Examples:
          simclr pretrain --data synthetic --out runs/demo --epochs 5 \\
              --batch-size 128 --width 0.25 --recipe quick
          mpirun -np 2 simclr pretrain --out runs/demo2 --epochs 5 \\
              --batch-size 128 --width 0.25 --recipe quick
          simclr pretrain --out runs/multicrop --epochs 5 --batch-size 128 \\
              --width 0.25 --recipe quick --small-crops 2
          simclr pretrain --method moco --out runs/moco --epochs 5 \\
              --batch-size 128 --width 0.25 --queue-size 1024   # the flags only:
              # MoCo does not learn the synthetic shapes in 5 epochs (README)
        """)

    @OptionGroup var data: DataOptions
    @Option(help: "Run directory for metrics, config, checkpoints and the final model.") var out: String
    @Option(help: "Epochs over the dataset.") var epochs = PretrainSettings().epochs
    @Option(help: "Stop after this many steps in all (overrides --epochs).") var steps: Int?
    @Option(help: "Global batch: images per step (each gives two views).") var batchSize = PretrainSettings().batchSize
    @Option(help: "Side of the augmented views in pixels (the reference SimCLR notebook used 128 with the imagenet stem).") var imageSize = PretrainSettings().augmentation.outputSize
    @Option(help: "resnet18, resnet34 or resnet50 (Bottleneck blocks: 2048-d features at width 1). Default resnet18; with --resume the run's own.") var arch: Architecture?
    @Option(help: "cifar (3x3 conv, no max pool) or imagenet (7x7/2 conv + max pool).") var stem: Stem = PretrainSettings().model.stem
    @Option(help: "Channel width multiplier: 1.0 = the torchvision network; 0.25 for quick runs on small machines.") var width = PretrainSettings().model.width
    @Flag(help: "Start the last BatchNorm of every residual block at gamma 0, so blocks start as the identity (torchvision's zero_init_residual).")
    var zeroInitResidual = false
    @Option(help: "Projection head sizes after the pooled features (512-d, ResNet-50 2048-d at width 1), e.g. 512,256 (two layers) or 128 (one).") var projDims = PretrainSettings().model.headDims.map(String.init).joined(separator: ",")
    @Option(help: "simclr (InfoNCE over the global batch) or moco (MoCo v2: momentum key encoder and a queue of negatives).")
    var method: PretrainMethod = .simclr
    @Option(help: ArgumentHelp("The settings the other flags start from: \(PretrainRecipe.reference.summary) or \(PretrainRecipe.quick.summary). Flags given explicitly win.",
                               valueName: "reference|quick"))
    var recipe: PretrainRecipe = .reference
    @Option(help: "InfoNCE temperature (default \(PretrainSettings().temperature), 0.2 with --recipe quick; with --method moco MoCo v2's \(MoCoSettings.defaultTemperature)).") var temperature: Float?
    @Option(help: "MoCo: the key encoder follows the query encoder as k = m*k + (1-m)*q (MoCo's paper used 0.999).")
    var mocoMomentum = MoCoSettings().momentum
    @Option(help: "MoCo: negatives in the queue, a multiple of --batch-size.") var queueSize = MoCoSettings().queueSize
    @Option(help: "Similarity of two embeddings in the loss.") var similarity: Similarity = PretrainSettings().similarity
    @OptionGroup var optimization: OptimizationOptions<PretrainSettings>
    @OptionGroup var augmentation: AugmentationOptions
    @OptionGroup var multiCrop: MultiCropOptions
    @Option(help: "Random seed (weights, data order, augmentations).") var seed = PretrainSettings().seed
    @OptionGroup var runtime: RuntimeOptions
    @OptionGroup var tensorBoard: TensorBoardOptions
    @Option(name: .customLong("init"), help: "Start from these weights (safetensors with torchvision keys).")
    var initWeights: String?
    @Flag(help: "Data in file order: batch k is records k*B ..< (k+1)*B (for step-by-step comparisons).") var noShuffle = false
    @Option(help: "Also write a checkpoint every N steps (always at the end of each epoch).") var saveEvery: Int?
    @Option(help: "With --progress lines: a progress line every N steps.") var logEvery = PretrainSettings().logEvery
    @Flag(help: "Continue the run in --out from its checkpoint.") var resume = false
    @Flag(help: "Start over when --out already holds a run: its checkpoint, model, metrics and results are deleted first (without --resume or --overwrite such a directory is refused).")
    var overwrite = false
    @Option(help: "Every N steps (and at the end), log the top-1 accuracy of a kNN classifier (k=200, cosine) on frozen features to metrics.csv (knn_top1).")
    var knnEvery: Int?
    @Option(help: ArgumentHelp("Labelled train / test images the kNN monitor uses.", valueName: "train,test"))
    var knnSamples = KNNSampleCounts(train: 5000, test: 1000)
    @OptionGroup var distributed: DistributedOptions
    @OptionGroup var trace: TraceOptions
    /// Stops after this step as an interruption would (checkpoint, no final model), for resume tests.
    @Option(help: .hidden) var testingHaltAfter: Int?

    func validate() throws {
        try checkBatchSplitsOverRanks(batchSize)
        try SettingFlags.validate { try ResNetConfig.checkWidth(width) }
        try checkImageSize(imageSize)
        try checkOutPath(out)
        if let k = knnEvery, k < 1 { throw ValidationError("--knn-every must be at least 1") }
        try SettingFlags.validate { try runSettings().validate() }
    }

    func run() throws {
        try runTrainingCommand(threadLevel: distributed.threadLevel, train)
    }

    private var mocoSettings: MoCoSettings { MoCoSettings(momentum: mocoMomentum, queueSize: queueSize) }

    /// The run's settings: the recipe's, changed by the flags given.
    func runSettings() throws -> PretrainSettings {
        var settings = recipe.settings(imageSize: imageSize)
        settings.epochs = epochs
        settings.steps = steps
        settings.batchSize = batchSize
        settings.model = ResNetConfig.choosing(arch: arch, stem: stem, width: width, headDims: try ResNetConfig.headDims(parsing: projDims),
                                               zeroInitResidual: zeroInitResidual, resuming: resume ? out : nil)
        settings.temperature = temperature ?? (method == .moco ? MoCoSettings.defaultTemperature : settings.temperature)
        if method == .moco { settings.moco = mocoSettings }
        settings.similarity = similarity
        optimization.apply(to: &settings)
        settings.augmentation = try augmentation.config(outputSize: imageSize, base: settings.augmentation)
        settings.multiCrop = multiCrop.config
        settings.seed = seed
        settings.precision = runtime.compute.precision
        settings.convAlgorithm = runtime.compute.convAlgorithm
        settings.shuffle = !noShuffle
        settings.saveEvery = saveEvery
        settings.logEvery = logEvery
        return settings
    }

    private func train(_ communicator: Communicator?) throws -> StopOutcome? {
        try RunDirectoryClaim.refuseExistingRun(in: URL(fileURLWithPath: out), resume: resume, overwrite: overwrite, group: communicator)
        let context = RunContext(communicator: communicator, runtime: runtime, data: data)
        let say = context.say
        let settings = try runSettings()
        if recipe != .reference { say("recipe: \(recipe.summary); flags given explicitly win") }
        try checkStepMemory(settings.stepMemory(ranks: communicator?.size ?? 1, prefetch: runtime.prefetch, threads: context.threadCount), say: say)

        let dataset = try data.loadPretraining(log: say)
        say("data: \(data.describe()): \(dataset.count) images of \(dataset.height)x\(dataset.width)")
        if let communicator { say(distributed.describe(communicator, globalBatch: batchSize)) }
        var monitor: KNNMonitor?
        if let every = knnEvery {
            let labelled = try data.load(split: .train, maxCount: knnSamples.train, log: say)
            let test = try data.load(split: .test, maxCount: knnSamples.test, log: say)
            monitor = try KNNMonitor(every: every, train: labelled, test: test)
            say("kNN monitor: every \(every) steps, \(labelled.count) labelled / \(test.count) test images")
        }
        let trainer = try Pretrainer(settings: settings, dataset: dataset, runDirectory: URL(fileURLWithPath: out),
                                     workers: runtime.workers, prefetch: runtime.prefetch,
                                     initialWeights: initWeights.map { URL(fileURLWithPath: $0) }, runInfo: context.info,
                                     distributed: distributed.options(communicator), knnMonitor: monitor,
                                     dataSource: data.source(split: .train, pretraining: true), trace: trace.request)
        trainer.writesTensorBoard = tensorBoard.enabled
        trainer.overwritesExistingRun = overwrite
        if method == .moco, temperature == nil {
            trainer.temperatureNote = "MoCo v2 default (no --temperature given)"
            say("temperature: \(settings.temperature), MoCo v2's default (no --temperature given)")
        }
        trainer.summary.forEach(say)
        return try trainer.run(resume: resume, stop: stopPolicy(haltAfter: testingHaltAfter)).stop
    }
}
