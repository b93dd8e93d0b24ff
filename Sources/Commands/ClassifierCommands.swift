import ArgumentParser
import Classification
import Cluster
import Datasets
import Foundation
import Runs

/// Everything `simclr supervised` and `simclr finetune` share.
struct ClassifierOptions: ParsableArguments {
    @OptionGroup var data: DataOptions
    @Option(help: "Run directory for metrics, config, checkpoints, the final model and results.json.") var out: String
    @Option(help: "Class-balanced fraction of the labelled training images to train on, in (0, 1] (e.g. 0.01, 0.1).")
    var labelFraction = ClassifierSettings().labelFraction
    @Option(help: "Epochs over the (label-fraction) training set.") var epochs = ClassifierSettings().epochs
    @Option(help: "Global batch: images per step over all ranks (an epoch's last partial batch is dropped).")
    var batchSize = ClassifierSettings().batchSize
    @OptionGroup var optimization: OptimizationOptions<ClassifierSettings>
    @OptionGroup var shape: EncoderShapeOptions
    @Flag(help: "Start the last BatchNorm of every residual block at gamma 0, so blocks start as the identity (torchvision's zero_init_residual).")
    var zeroInitResidual = false

    @Option(help: "Zero padding of the random crop (RandomCrop(size, padding)); the crop has the images' size.")
    var cropPadding = ClassifierSettings().augmentation.randomCropPadding ?? 0
    @Flag(help: "No augmentation: the plain images (value/255), no crop, no flip.") var noAugment = false
    @Option(help: "Random seed (head and random init, label subset, data order, augmentations).") var seed = ClassifierSettings().seed
    @Flag(help: "Data in file order (for step-by-step comparisons).") var noShuffle = false
    @Option(help: "Images per forward pass when evaluating on the test split.") var evalBatchSize = ClassifierSettings().evalBatchSize
    @Option(help: "With --progress lines: a progress line every N steps.") var logEvery = ClassifierSettings().logEvery
    @Flag(help: "Continue the run in --out from its checkpoint.") var resume = false
    @Flag(help: "Start over when --out already holds a run: its checkpoint, model, metrics and results are deleted first (without --resume or --overwrite such a directory is refused).")
    var overwrite = false
    @OptionGroup var runtime: RuntimeOptions
    @OptionGroup var tensorBoard: TensorBoardOptions
    @OptionGroup var distributed: DistributedOptions
    @OptionGroup var trace: TraceOptions
    /// Stops after this step as an interruption would (checkpoint, no final model), for resume tests.
    @Option(help: .hidden) var testingHaltAfter: Int?

    func validate() throws {
        try checkBatchSplitsOverRanks(batchSize)
        try checkOutPath(out)
        guard cropPadding >= 0 else { throw ValidationError("--crop-padding must not be negative") }
        try SettingFlags.validate { try settings(method: .supervised, encoder: nil).validate() }
    }

    /// The run's settings but the augmentation, which depends on the images' size.
    func settings(method: ClassifierSettings.Method, encoder: String?, backboneLRScale: Float = 1) -> ClassifierSettings {
        var settings = ClassifierSettings()
        settings.method = method
        settings.encoder = encoder.map { URL(fileURLWithPath: DataSelection.expand($0)).path }
        settings.epochs = epochs
        settings.batchSize = batchSize
        settings.model = shape.config(headDims: [], zeroInitResidual: zeroInitResidual, resuming: resume ? out : nil, weights: encoder)
        optimization.apply(to: &settings)
        settings.backboneLRScale = backboneLRScale
        settings.labelFraction = labelFraction
        settings.seed = seed
        settings.precision = runtime.compute.precision
        settings.convAlgorithm = runtime.compute.convAlgorithm
        settings.shuffle = !noShuffle
        settings.evalBatchSize = evalBatchSize
        settings.logEvery = logEvery
        return settings
    }

    func train(_ communicator: Communicator?, method: ClassifierSettings.Method, encoder: String?,
               backboneLRScale: Float = 1) throws -> StopOutcome? {
        try RunDirectoryClaim.refuseExistingRun(in: URL(fileURLWithPath: out), resume: resume, overwrite: overwrite, group: communicator)
        let context = RunContext(communicator: communicator, runtime: runtime, data: data)
        let say = context.say
        var settings = settings(method: method, encoder: encoder, backboneLRScale: backboneLRScale)
        let train = try data.load(split: .train, log: say)
        let test = try data.load(split: .test, log: say)
        let size = train.height
        settings.augmentation = noAugment ? .none(outputSize: size) : .supervised(outputSize: size, padding: cropPadding)
        say("data: \(data.describe()): \(train.count) train / \(test.count) test images of \(size)x\(train.width)")
        if let communicator { say(distributed.describe(communicator, globalBatch: batchSize)) }
        try checkStepMemory(settings.stepMemory(ranks: communicator?.size ?? 1, prefetch: runtime.prefetch, threads: context.threadCount), say: say)
        let trainer = try ClassifierTrainer(settings: settings, train: train, test: test, runDirectory: URL(fileURLWithPath: out),
                                            workers: runtime.workers, prefetch: runtime.prefetch, runInfo: context.info,
                                            distributed: distributed.options(communicator),
                                            dataSource: data.source(split: .train), trace: trace.request)
        trainer.writesTensorBoard = tensorBoard.enabled
        trainer.overwritesExistingRun = overwrite
        trainer.summary.forEach(say)
        let summary = try trainer.run(resume: resume, stop: stopPolicy(haltAfter: testingHaltAfter))
        trainer.resultLines(summary).forEach(say)
        return summary.stop
    }
}

/// `simclr supervised`: the supervised baseline, a ResNet + classifier head from a random init.
struct SupervisedCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "supervised",
        abstract: "Supervised baseline: ResNet-18/34/50 + classifier head trained from scratch with cross-entropy.",
        discussion: """
        The head is Linear(features, 512), ReLU, Linear(512, classes) (torchvision keys fc.0, fc.2). Training \
        images get a random crop with zero padding 4 and a horizontal flip (value/255, no normalization); after \
        every epoch the model is evaluated on the test split (eval-mode BatchNorm, no augmentation). \
        --label-fraction trains on a class-balanced, seeded subset of the labels.

        Writes RUN_DIR/metrics.csv \
        (epoch,step,train_loss,train_top1,test_loss,test_top1,test_top5,lr,img_per_s), RUN_DIR/config.json, \
        RUN_DIR/checkpoint.safetensors (every epoch and on Ctrl-C; --resume continues), and at the end \
        RUN_DIR/model.safetensors and RUN_DIR/results.json (test_top1, test_top5 as fractions).

        Under mpirun every rank holds a replica and a shard of each global batch; the loss is the mean over the \
        global batch, gradients are summed in buckets during backward, BatchNorm is global (--no-sync-bn for \
        per-rank), the test split is scored in shards and reduced. Rank 0 writes all files.

        Example:
          simclr supervised --out runs/sup --width 0.25 --epochs 10
          mpirun -np 2 simclr supervised --data data/cifar-10-batches-bin \\
              --out runs/sup-cifar --epochs 50
        """)

    @OptionGroup var options: ClassifierOptions

    func run() throws {
        try runTrainingCommand(threadLevel: options.distributed.threadLevel) { try options.train($0, method: .supervised, encoder: nil) }
    }
}

/// `simclr finetune`: a pretrained backbone + new classifier head, trained end to end.
struct FinetuneCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "finetune",
        abstract: "Fine-tuning: a pretrained ResNet backbone + a new classifier head, trained end to end.",
        discussion: """
        Reads the backbone keys of --encoder (a pretrain model.safetensors with its projection head works: fc.* \
        is ignored), puts a new randomly initialized head Linear(features, 512), ReLU, Linear(512, classes) on \
        it and trains everything with cross-entropy (the backbone at --backbone-lr-scale times the head's \
        learning rate), exactly as `simclr supervised` (same flags, files and MPI behaviour; results.json has \
        method "finetune" and the encoder path). --encoder takes a model.safetensors or a pretraining \
        checkpoint; the architecture and width are read from it unless --arch or --width is given, and --stem \
        must describe it.

        Example:
          simclr finetune --encoder runs/demo/model.safetensors --out runs/ft \\
              --label-fraction 0.1
          mpirun -np 2 simclr finetune --encoder runs/cifar/model.safetensors \\
              --data data/cifar-10-batches-bin --out runs/ft-cifar
        """)

    @Option(help: ArgumentHelp("Pretrained weights: a model file (.safetensors, torchvision keys) or a pretraining checkpoint; only the backbone is read.",
                               valueName: "file"))
    var encoder: String

    @Option(help: "The backbone's learning rate is the head's times this (0 freezes the backbone's parameters).")
    var backboneLrScale = ClassifierSettings().backboneLRScale

    @OptionGroup var options: ClassifierOptions

    func validate() throws {
        guard backboneLrScale >= 0 else { throw ValidationError("--backbone-lr-scale must not be negative") }
        try checkWeightsFile(encoder, flag: "--encoder")
    }

    func run() throws {
        try runTrainingCommand(threadLevel: options.distributed.threadLevel) { try options.train($0, method: .finetune, encoder: encoder, backboneLRScale: backboneLrScale) }
    }
}
