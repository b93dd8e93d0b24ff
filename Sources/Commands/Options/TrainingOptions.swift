import ArgumentParser
import Cluster
import Foundation
import Optimizers
import Pretraining
import Runs
import Training

extension OptimizerKind: ExpressibleByArgument {}
extension LRScaling: ExpressibleByArgument {}
extension ProgressStyle: ExpressibleByArgument {}

/// Optimizer and learning-rate schedule flags, shared by every training command; the defaults are those of
/// the command's settings type (pretraining and the classifiers differ). Flags that are not given leave the
/// settings they apply to as they are, so pretraining's `--recipe` can choose them.
struct OptimizationOptions<Defaults: TrainingSettings>: ParsableArguments {
    @Option(help: "sgd, adamw or lars (default: \(Defaults().optimizer.rawValue)\(Self.recipeNote)).") var optimizer: OptimizerKind?
    @Option(help: "Base learning rate, scaled by --lr-scaling with the global batch (default: \(Defaults().lr)\(Self.recipeNote)).")
    var lr: Float?
    @Option(help: "Momentum (SGD, LARS).") var momentum: Float = Defaults().momentum
    @Option(help: "Weight decay.") var weightDecay: Float = Defaults().weightDecay
    @Option(help: "Linear warm-up length in epochs, then cosine decay (default: the command's, shortened to a tenth of the run).")
    var warmupEpochs: Double?
    @Option(help: "LR scaling by global batch B: linear (lr*B/256), sqrt (lr*sqrt(B)) or none (default: \(Defaults().lrScaling.rawValue)\(Self.recipeNote)).")
    var lrScaling: LRScaling?

    /// Pretraining's defaults depend on `--recipe`; the help says so.
    private static var recipeNote: String { Defaults.self is PretrainSettings.Type ? "; --recipe quick sets its own" : "" }

    func validate() throws {
        var settings = Defaults()
        apply(to: &settings)
        try SettingFlags.validate(settings.validateOptimization)
    }

    func apply<S: OptimizationSettings>(to settings: inout S) {
        if let optimizer { settings.optimizer = optimizer }
        if let lr { settings.lr = lr }
        settings.momentum = momentum
        settings.weightDecay = weightDecay
        if let warmupEpochs { settings.warmupEpochs = warmupEpochs }
        if let lrScaling { settings.lrScaling = lrScaling }
    }
}

/// How a training command spreads over MPI ranks (used only under a launcher).
struct DistributedOptions: ParsableArguments {
    @Flag(inversion: .prefixedNo, help: "Under MPI: BatchNorm statistics over the global batch (SyncBN).")
    var syncBn = DataParallelSettings().syncBatchNorm
    @Option(help: "Under MPI: gradient all-reduce bucket size in MB.")
    var bucketMb = Double(DataParallelSettings().bucketBytes) / (1024 * 1024)
    @Flag(help: "Under MPI: all-reduce gradients after backward instead of overlapping with it.") var noOverlap = false
    @Option(help: "Under MPI: check every N steps that all replicas hold identical parameters (always at checkpoints).")
    var verifyReplicas: Int?
    @Option(help: ArgumentHelp("Under MPI: a rank that waits longer than this in one collective ends the whole job, naming "
                                   + "itself, the call and the step (four times as long at the start and after a checkpoint "
                                   + "or kNN evaluation); 0 waits forever.", valueName: "seconds"))
    var collectiveTimeout = DataParallelOptions.defaultCollectiveTimeout
    @Option(help: ArgumentHelp("How gradients travel between ranks: none (float32), bf16 (half the bytes, sums added in "
                               + "float32) or powersgd (a rank-R approximation of every weight matrix with error feedback, "
                               + "about 75x fewer bytes for ResNet-18; W ranks train what one process trains with it). "
                               + "Also applies on one process, so runs on any number of ranks compare.", valueName: "method"))
    var gradCompression = DataParallelSettings().gradCompression
    @Option(help: "PowerSGD's rank R (--grad-compression powersgd).")
    var powersgdRank = DataParallelSettings().powerSGDRank
    @Option(help: ArgumentHelp("Steps trained uncompressed before PowerSGD starts (default: a tenth of the run, at least 2; "
                               + "0 compresses from the first step).", valueName: "steps"))
    var compressionStartStep: Int?
    @Option(help: ArgumentHelp("Under MPI: bind each rank's communication thread (the one that all-reduces gradients while "
                               + "backward runs) to this CPU, so its copies and reductions do not take compute's core: one CPU "
                               + "for every rank of a node, or a comma-separated list giving the node's i-th rank the i-th CPU. "
                               + "Bind the ranks' compute elsewhere (e.g. mpirun --bind-to core with spare cores) and use "
                               + "smaller buckets (--bucket-mb 2); placement only, it does not change the training.", valueName: "cpus"))
    var commCpu: String?
    @Option(help: .hidden) var testingFault: DistributedFault?

    func validate() throws {
        _ = try communicationCPUs(commCpu)
        try SettingFlags.validate(options(nil).validate)
        guard collectiveTimeout >= 0, collectiveTimeout.isFinite else {
            throw ValidationError("--collective-timeout \(collectiveTimeout) must be a number of seconds >= 0")
        }
        if let v = verifyReplicas, v < 1 { throw ValidationError("--verify-replicas must be at least 1") }
    }

    /// The settings every rank must share.
    var settings: DataParallelSettings {
        var settings = DataParallelSettings()
        settings.syncBatchNorm = syncBn
        settings.bucketBytes = DataParallelSettings.bucketBytes(megabytes: bucketMb)
        settings.overlap = !noOverlap
        settings.gradCompression = gradCompression
        settings.powerSGDRank = powersgdRank
        settings.compressionStartStep = compressionStartStep
        return settings
    }

    /// Without a launcher (`communicator` nil) the world of one: the settings still apply there (gradient
    /// compression changes what one process trains too; SyncBN and overlap need no second rank).
    func options(_ communicator: Communicator?) -> DataParallelOptions {
        var options = communicator.map { DataParallelOptions(communicator: $0) } ?? DataParallelOptions()
        options.settings = settings
        options.verifyReplicasEvery = verifyReplicas
        options.fault = testingFault
        options.collectiveTimeout = collectiveTimeout > 0 ? collectiveTimeout : nil
        options.communicationCPUs = commCpu.flatMap(ThreadPlacement.parseList)
        return options
    }

    /// Without overlap no second thread calls MPI, so an MPI library without MPI_THREAD_MULTIPLE will do.
    var threadLevel: ThreadLevel { noOverlap ? .funneled : .multiple }

    func describe(_ communicator: Communicator, globalBatch: Int) -> String {
        "MPI: \(communicator.size) ranks, \(globalBatch / max(communicator.size, 1)) images per rank, sync BN \(syncBn), "
            + "buckets \(bucketMb) MB, overlap \(!noOverlap)" + (commCpu.map { ", communication CPUs \($0)" } ?? "")
            + ", gradient compression \(gradCompression.rawValue), thread level \(Communicator.providedThreadLevel ?? threadLevel), "
            + (collectiveTimeout > 0 ? String(format: "collective timeout %.0f s", collectiveTimeout) : "no collective timeout")
    }
}

/// Threads and data workers of a training command.
struct RuntimeOptions: ParsableArguments {
    @Option(help: "Background threads preparing batches.") var workers = TrainerOptions().workers
    @Option(help: "Batches prepared ahead of the step.") var prefetch = TrainerOptions().prefetch
    @Option(help: ArgumentHelp("How progress is shown: bar (redrawn in place), lines (one every --log-every steps) or none. "
                                   + "Default: lines under MPI or when stdout is not a terminal, else bar.",
                               valueName: "bar|lines|none"))
    var progress: ProgressStyle?
    @OptionGroup var compute: ComputeOptions

    func validate() throws {
        guard workers >= 0, prefetch >= 1 else { throw ValidationError("--workers must be >= 0 and --prefetch >= 1") }
    }
}

/// `--comm-cpu`'s list of CPUs (nil when the flag is not given), as pretrain, the classifiers and bench read it.
func communicationCPUs(_ text: String?) throws -> [Int]? {
    guard let text else { return nil }
    guard let list = ThreadPlacement.parseList(text) else {
        throw ValidationError("--comm-cpu takes CPU numbers separated by commas (such as 3 or 2,3), not '\(text)'")
    }
    return list
}
