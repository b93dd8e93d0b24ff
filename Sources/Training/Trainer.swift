import Checkpoints
import Cluster
import Datasets
import Foundation
import Kernels
import NeuralNet
import Optimizers
import RunFiles
import Runs
import Tracing

/// How a run runs on this machine, beside its settings.
public struct TrainerOptions {
    /// Background threads preparing batches, and batches prepared ahead of the step.
    public var workers = 2, prefetch = 2
    /// Weights rank 0 loads into the model before the run (nil: the settings' random init).
    public var initialWeights: InitialWeights?
    /// The build, host and data facts config.json records.
    public var runInfo: [String: String] = [:]
    /// The ranks and data-parallel settings (nil: a world of one).
    public var distributed: DataParallelOptions?
    /// Steps to record as a step timeline (nil: none).
    public var trace: StepTraceRequest?
    /// Lines for the user (only rank 0's are printed).
    public var log: (String) -> Void = { print($0); fflush(stdout) }

    public init() {}
}

/// Weights rank 0 loads into the model before a run (`--init`, a fine-tuning encoder).
public struct InitialWeights {
    public var url: URL
    public var scope: ResNet.LoadScope
    /// The setting that named the file, for errors.
    public var setting: String
    /// Said after the reason when the file does not fit.
    public var hint = ""
    /// Logged once the weights are in.
    public var note: String

    public init(url: URL, scope: ResNet.LoadScope = .all, setting: String, hint: String = "", note: String) {
        self.url = url; self.scope = scope; self.setting = setting; self.hint = hint; self.note = note
    }
}

/// The images a run trains on.
public struct TrainingData {
    /// What the loader reads (for a classifier, the label-fraction subset).
    public var images: LabeledImages
    /// What checkpoints and the ranks' configuration check compare (the whole split).
    public var identity: DatasetIdentity
    /// Augmented views per image: 2 for contrastive methods, 1 for classifiers.
    public var views: Int
    /// Multi-crop's small views besides the two global ones (nil: none).
    public var multiCrop: MultiCropConfig?
    /// Said after a batch that does not fit the data, e.g. "(64 training images at label fraction 0.1)".
    public var countDescription: String

    public init(images: LabeledImages, identity: DatasetIdentity, views: Int, multiCrop: MultiCropConfig? = nil,
                countDescription: String? = nil) {
        self.images = images; self.identity = identity; self.views = views; self.multiCrop = multiCrop
        self.countDescription = countDescription ?? "(dataset of \(images.count) images)"
    }
}

/// How a run ended.
public struct TrainingSummary {
    /// Steps done in all (those of an earlier, resumed part included).
    public var steps: Int
    /// Why the run stopped before its last step (nil: it finished).
    public var stop: StopOutcome?
    public var stoppedEarly: Bool { stop != nil }
}

/// The training engine: builds the model, optimizer, data-parallel machinery, sampler and loader for a
/// method and owns the only training loop (docs/README.md follows one step through it):
/// batch -> `DataParallelStep` (the method's math, then the shared tail) -> the method's metrics row ->
/// checkpoint, stop, replica check -> at the end the model file and results.json. Rank 0 alone writes
/// files; every rank runs the loop.
public final class Trainer<Settings: TrainingSettings> {
    public let settings: Settings
    public let model: ResNet
    public let optimizer: Optimizer
    public let dataParallel: DataParallel
    /// The data-parallel step: methods run their math through it.
    public let step: DataParallelStep
    public private(set) var method: (any TrainingMethod)!
    public let sampler: DistributedSampler
    public let schedule: LearningRateSchedule
    public let totalSteps: Int
    public let runDirectory: URL
    /// Rank 0 also writes metrics.csv's rows as TensorBoard scalars to RUN_DIR/tb.
    public var writesTensorBoard = true
    /// Start over when the run directory already holds a run (its files are deleted first); without it (and
    /// without `resume`) such a run is refused.
    public var overwritesExistingRun = false
    /// Rank 0's lock on the run directory, held while the run lives (docs/run-files.md, note 'run.lock').
    private var runLock: RunDirectoryLock?
    /// Lines for the user: rank 0's options.log, silent on the other ranks.
    public let log: (String) -> Void
    private let loader: BatchLoader
    private let run: RunIdentity
    private let verifyReplicasEvery: Int?
    private let runInfo: [String: String]
    private var attachment: ReplicatedCheckpointAttachment?
    /// The step of the newest checkpoint in the run directory that this run wrote or resumed from (nil: none).
    private var lastCheckpointStep: Int?
    private var ran = false
    private let traceRequest: StepTraceRequest?

    public var rank: Int { dataParallel.rank }
    public var worldSize: Int { dataParallel.size }
    /// Rank 0 alone writes logs, metrics, checkpoints and the model.
    public var isLeader: Bool { rank == 0 }
    public var checkpointURL: URL { runDirectory.appendingPathComponent("checkpoint.safetensors") }
    public var finalModelURL: URL { runDirectory.appendingPathComponent("model.safetensors") }
    public var resultsURL: URL { runDirectory.appendingPathComponent("results.json") }
    public var metricsURL: URL { runDirectory.appendingPathComponent("metrics.csv") }
    /// What a run leaves in its directory: one of them there means a run is (or was) there.
    var runProducts: [URL] { RunDirectoryClaim.trainingProducts(in: runDirectory) }

    /// Checks what every method needs, builds the run (rank 0's initial state reaches every rank) and then
    /// the method, from the data-parallel step it runs its math through.
    public init(settings: Settings, data: TrainingData, runDirectory: URL, options: TrainerOptions,
                method makeMethod: (DataParallelStep) throws -> any TrainingMethod) throws {
        guard settings.batchSize >= 2 else { throw SettingsError("`batchSize` must be at least 2") }
        guard data.images.count > 0 else { throw SettingsError("the training data is empty") }
        guard data.images.height == data.images.width else {
            throw SettingsError("images are \(data.images.height)x\(data.images.width); square images expected")
        }
        var distributed = options.distributed ?? DataParallelOptions()
        // Traced, the ranks' group records its collectives (the reducer's duplicate on the communication row).
        if options.trace != nil { distributed.communicator = TracedGroup(distributed.communicator) }
        traceRequest = options.trace
        let world = distributed.communicator.size, rank = distributed.communicator.rank
        guard settings.batchSize % world == 0 else {
            throw SettingsError("`batchSize` \(settings.batchSize) (the global batch) is not divisible by \(world) ranks")
        }
        self.settings = settings
        self.runDirectory = runDirectory
        log = rank == 0 ? options.log : { _ in }
        runInfo = options.runInfo
        verifyReplicasEvery = distributed.verifyReplicasEvery
        model = ResNet(config: settings.model, seed: settings.seed)
        model.precision = settings.precision
        model.convAlgorithm = settings.convAlgorithm ?? .winograd
        if let weights = options.initialWeights, rank == 0 {
            do { try model.load(from: weights.url, scope: weights.scope) } catch let error as SafetensorsError where error.isNonFinite {
                throw SettingsError("`\(weights.setting)` \(weights.url.path): \(error)")
            } catch {
                throw SettingsError("`\(weights.setting)` \(weights.url.path): \(error)\(weights.hint)")
            }
            log(weights.note)
        }
        dataParallel = try distributed.makeDataParallel(model: model, configuration: settings.json, dataset: data.identity)
        // Data-parallel settings are recorded when they are not the defaults (a default run's checkpoint is as it was).
        let parallel = dataParallel.settings
        run = RunIdentity(worldSize: world, dataset: data.identity,
                          dataParallel: parallel == DataParallelSettings() ? nil : parallel.json)
        optimizer = settings.makeOptimizer(segments: parameterSegments(of: model).map { segment in
            var s = segment
            s.learningRateScale = settings.learningRateScale(ofParameter: s.name)
            return s
        })
        step = DataParallelStep(model: model, optimizer: optimizer, dataParallel: dataParallel)
        do {
            sampler = try DistributedSampler(datasetCount: data.images.count, worldSize: world, rank: rank,
                                             batchSize: settings.batchSize / world, shuffle: settings.shuffle, seed: settings.seed)
        } catch {
            throw SettingsError("`batchSize` \(settings.batchSize): \(error) \(data.countDescription)")
        }
        loader = try BatchLoader(images: data.images, sampler: sampler, augmentation: settings.augmentation, views: data.views,
                                 seed: settings.seed, workers: options.workers, prefetch: options.prefetch,
                                 multiCrop: data.multiCrop)
        totalSteps = try RunLength.totalSteps(epochs: settings.epochs, steps: settings.steps, stepsPerEpoch: sampler.stepsPerEpoch)
        guard totalSteps >= 1 else { throw SettingsError("nothing to train: 0 steps") }
        schedule = settings.schedule(totalSteps: totalSteps, stepsPerEpoch: sampler.stepsPerEpoch)
        let method = try makeMethod(step)
        self.method = method
        let attachments = [method.checkpointAttachment, dataParallel.checkpointState].compactMap { $0 }
        attachment = attachments.isEmpty ? nil : attachments.count == 1 ? attachments[0] : CheckpointAttachments(attachments)
    }

    /// Trains until `totalSteps`, or until `stop` asks (checkpoint written, no final model). With `resume`,
    /// continues from the run directory's checkpoint (and starts fresh when there is none). A trainer runs
    /// once: at the end it closes its data-parallel machinery (collective).
    @discardableResult
    public func run(resume: Bool = false, stop: StopPolicy = SignalStop()) throws -> TrainingSummary {
        precondition(!ran, "a Trainer runs once")
        ran = true
        defer { try? dataParallel.close() }
        defer { runLock?.release() }
        var (position, metrics) = try begin(resume: resume)
        // The replicas are equal here (rank 0's state was broadcast), so every rank measures the same norm.
        let divergenceCheck = DivergenceCheck(startWeightNorm: model.flatParameters.euclideanNorm)
        let progress = ProgressReporter(total: totalSteps, logEvery: settings.logEvery, silent: !isLeader)
        let trace = traceRequest.map {
            StepTraceRecorder(request: $0, steps: $0.recordedSteps(after: position.step, total: totalSteps),
                              group: dataParallel.communicator)
        }
        defer { trace?.abandon() }
        stop.begin()
        defer { loader.shutdown() }

        var (epoch, inEpoch) = sampler.position(afterSteps: position.step)
        var epochTotals = position.epochTotals ?? EpochTotals()
        var outcome: StopOutcome?
        loader.start(epoch: epoch, step: inEpoch)
        while position.step < totalSteps {
            try trace?.beforeStep(position.step + 1)
            guard let batch = StepTrace.measure(StepSpans.data, { loader.next() }) else {
                epoch += 1
                loader.start(epoch: epoch, step: 0)
                continue
            }
            let stepNumber = position.step + 1
            CollectiveDeadline.enterStep(stepNumber)
            let t0 = DispatchTime.now().uptimeNanoseconds
            let lr = schedule.learningRate(atStep: position.step)
            let totals = try step.run(method.math, batch, learningRate: lr, localStop: stop.wantsStop(afterStep: stepNumber))
            let traceWritten = try trace?.afterStep(stepNumber)
            epoch = batch.epoch
            if let divergence = divergenceCheck.divergence(atStep: stepNumber, totals) {
                // Every rank has the same totals, so every rank stops here, before any checkpoint of the diverged
                // weights; rank 0 records the divergence for a study that started the run and for `resume`.
                if isLeader { try? divergence.write(to: runDirectory) }
                throw TrainingError.diverged(divergence, keptCheckpointStep: lastCheckpointStep)
            }
            position.step = stepNumber
            position.optimizerStepCount = optimizer.stepCount
            let seconds = Double(DispatchTime.now().uptimeNanoseconds - t0) * 1e-9 + batch.waitSeconds
            let endOfEpoch = batch.step == sampler.stepsPerEpoch - 1
            epochTotals.add(totals, seconds: seconds)
            let record = try method.record(StepReport(
                step: stepNumber, totalSteps: totalSteps, epoch: epoch, stepsPerEpoch: sampler.stepsPerEpoch,
                endOfEpoch: endOfEpoch, totals: totals, epochTotals: epochTotals, learningRate: lr,
                images: settings.batchSize, seconds: seconds, dataWaitSeconds: batch.waitSeconds, isLeader: isLeader))
            if !record.log.isEmpty {
                progress.finishLine()  // keep the log lines off the progress bar
                record.log.forEach(log)
            }
            if let traceWritten {
                progress.finishLine()
                log(traceWritten)
            }
            if let row = record.row { try metrics?.append(row) }
            progress.update(step: stepNumber, fields: record.progress)
            if endOfEpoch { epochTotals = EpochTotals() }
            if method.reportsEpochMeans { position.epochTotals = epochTotals }

            let periodic = settings.saveEvery.map { stepNumber % $0 == 0 } ?? false
            let stopping = step.stopRequested
            if endOfEpoch || periodic || stepNumber == totalSteps || stopping {
                try writeCheckpoint(position, metrics: metrics)
            } else if let every = verifyReplicasEvery, stepNumber % every == 0 {
                try verifyReplicas()
            }
            if stopping {
                // Every rank has waited for rank 0's checkpoint (`writeCheckpoint`): a rank that exited first with
                // a non-zero status would have made mpirun kill rank 0 in the middle of the write.
                outcome = stop.outcome(afterStep: stepNumber) ?? .interrupted(afterStep: stepNumber)
                progress.finishLine()
                log(outcome!.message)
                break
            }
        }
        if let traceWritten = try trace?.finish() {
            progress.finishLine()
            log(traceWritten)
        }
        if outcome == nil {
            progress.finishLine()
            metrics?.flush()  // a method's results may read metrics.csv
            let results = try method.results(steps: position.step, isLeader: isLeader)
            if isLeader {
                try model.save(to: finalModelURL, metadata: ["format": "pt"])
                if let results { try AtomicFile.write(try results.encoded(), to: resultsURL) }
            }
            log("finished \(position.step) steps; model written to \(finalModelURL.path)")
        }
        return TrainingSummary(steps: position.step, stop: outcome)
    }

    // MARK: the run directory

    /// Creates the run directory, restores the checkpoint when resuming and there is one (without one the run
    /// starts fresh), then on rank 0 writes config.json and opens metrics.csv (given the step it resumes
    /// after, if any).
    private func begin(resume: Bool) throws -> (TrainingPosition, MetricsLog?) {
        // One run per directory: rank 0 locks it before anything is written there (and refuses to start over an
        // existing run unless asked); every rank learns whether the run may start.
        runLock = try RunDirectoryClaim.onLeader(of: dataParallel.communicator) {
            try RunDirectoryClaim.claim(runDirectory, resume: resume, overwrite: overwritesExistingRun, products: runProducts, log: log)
        }
        var position = TrainingPosition(step: 0, optimizerStepCount: 0)
        // --resume on a first start (a job script that always passes it) starts fresh. Only rank 0 sees the
        // run directory, so it decides for every rank.
        let hasCheckpoint = FileManager.default.fileExists(atPath: checkpointURL.path)
        var resuming = false
        if resume { resuming = try dataParallel.communicator.broadcast(isLeader && hasCheckpoint ? "yes" : "") == "yes" }
        if resuming {
            var savedWorld = run.worldSize
            // A run that diverged (rank 0 reads its divergence.json) may continue with another learning rate.
            let divergence = isLeader ? RunDivergence.read(from: runDirectory) : nil
            var changes = ResumeChanges()
            position = try Checkpoint.resume(from: checkpointURL, model: model, optimizer: optimizer,
                                             dataParallel: dataParallel, run: run, savedWorldSize: &savedWorld,
                                             attachment: attachment) { [settings, sampler] saved in
                switch ResumeSettings(savedJSON: saved, current: settings, stepsPerEpoch: sampler.stepsPerEpoch,
                                      mayChangeLearningRate: divergence != nil).check() {
                case .success(let found): changes = found; return nil
                case .failure(let refusal): return refusal.description
                }
            }
            lastCheckpointStep = position.step
            let ranks = savedWorld == run.worldSize ? "" : " (written by \(savedWorld) ranks, continued on \(run.worldSize))"
            log("resuming from step \(position.step) of \(totalSteps)\(ranks)")
            if let steps = changes.steps {
                log("the run is made longer: \(steps.saved) -> \(steps.now) steps; the learning-rate schedule is recomputed for \(steps.now)")
            }
            if let divergence {
                let lr = changes.learningRate.map { "learning rate \($0.now) (it had \($0.saved))" } ?? "the same learning rate \(settings.lr)"
                log("the run diverged at step \(divergence.step) (\(divergence.summary)); continuing with \(lr)")
                try? FileManager.default.removeItem(at: runDirectory.appendingPathComponent(RunDivergence.fileName))
            }
        } else if resume {
            log("--resume: no checkpoint in \(runDirectory.path) yet; starting a fresh run")
        }
        dataParallel.beginRun(totalSteps: totalSteps, afterStep: position.step)
        if let line = dataParallel.compressionSummary { log(line) }
        guard isLeader else { return (position, nil) }
        var fields: [String: Any] = ["total_steps": totalSteps, "steps_per_epoch": sampler.stepsPerEpoch,
                                     "scaled_lr": schedule.baseLR, "warmup_steps": schedule.warmupSteps,
                                     "parameters": model.registry.parameterCount,
                                     "world_size": worldSize, "per_rank_batch": settings.batchSize / worldSize,
                                     "sync_batchnorm": dataParallel.syncBatchNorm,
                                     "data_parallel": try JSONSerialization.jsonObject(with: Data(dataParallel.settings.json.utf8))]
        if dataParallel.settings.gradCompression == .powersgd {
            fields["compression_start_step"] = dataParallel.reducer.compressionStartStep
        }
        fields.merge(method.configFields) { _, own in own }
        try RunConfigFile.write(settingsJSON: settings.json, fields: fields, runInfo: runInfo, to: runDirectory)
        let metrics = try MetricsLog(url: metricsURL, rows: method.metricsRows, resumingAfterStep: resuming ? position.step : nil,
                                     tensorBoard: writesTensorBoard ? runDirectory.appendingPathComponent("tb") : nil)
        return (position, metrics)
    }

    /// The model's replicas and, with more than one rank, the attachment's.
    private func verifyReplicas() throws {
        try dataParallel.verifyReplicas(of: model)
        if dataParallel.size > 1 { try attachment?.verifyReplicas(over: dataParallel) }
    }

    /// Collective: replicas checked, the attachment's state collected, then rank 0 writes the checkpoint and
    /// tells every rank whether it could.
    private func writeCheckpoint(_ position: TrainingPosition, metrics: MetricsLog?) throws {
        CollectiveDeadline.expectSlowNextStep()
        try verifyReplicas()
        try attachment?.prepare(over: dataParallel)
        metrics?.flush()
        var failure = ""
        if isLeader {
            do {
                try Checkpoint.save(to: checkpointURL, model: model, optimizer: optimizer, position: position,
                                    settingsJSON: settings.json, run: run, attachment: attachment)
            } catch { failure = "\(error)" }
        }
        // Every rank learns whether it was written, so a full disk stops every rank with rank 0's error.
        let reason = try dataParallel.communicator.broadcast(failure)
        if !reason.isEmpty { throw TrainingError.checkpointNotWritten(step: position.step, reason: reason) }
        lastCheckpointStep = position.step
    }
}

extension EpochTotals {
    /// Adds one step: its global loss, images and top-1 hits, and its wall time.
    mutating func add(_ totals: StepTotals, seconds: Double) {
        lossSum += totals.loss
        steps += 1
        top1Hits += Double(totals.top1Hits)
        images += Double(totals.rows)
        self.seconds += seconds
    }
}

/// A method's front door (`Pretrainer`, `ClassifierTrainer`): it builds a `Trainer` for its method, and
/// offers the engine's parts under the names callers use.
public protocol TrainerFront: AnyObject {
    associatedtype Settings: TrainingSettings
    var trainer: Trainer<Settings> { get }
}

extension TrainerFront {
    public var settings: Settings { trainer.settings }
    public var model: ResNet { trainer.model }
    public var optimizer: Optimizer { trainer.optimizer }
    public var sampler: DistributedSampler { trainer.sampler }
    public var schedule: LearningRateSchedule { trainer.schedule }
    public var totalSteps: Int { trainer.totalSteps }
    public var runDirectory: URL { trainer.runDirectory }
    public var dataParallel: DataParallel { trainer.dataParallel }
    public var checkpointURL: URL { trainer.checkpointURL }
    public var finalModelURL: URL { trainer.finalModelURL }
    public var resultsURL: URL { trainer.resultsURL }
    /// The schedule as a log line: steps, and the optimizer's learning rate over them.
    public var scheduleDescription: String {
        "schedule: \(totalSteps) steps (\(sampler.stepsPerEpoch) per epoch), "
            + settings.describeSchedule(totalSteps: totalSteps, stepsPerEpoch: sampler.stepsPerEpoch)
    }
    /// Rank 0 also writes metrics.csv's rows as TensorBoard scalars to RUN_DIR/tb.
    public var writesTensorBoard: Bool {
        get { trainer.writesTensorBoard }
        set { trainer.writesTensorBoard = newValue }
    }
    /// Start over when the run directory already holds a run (see `Trainer.overwritesExistingRun`).
    public var overwritesExistingRun: Bool {
        get { trainer.overwritesExistingRun }
        set { trainer.overwritesExistingRun = newValue }
    }
}
