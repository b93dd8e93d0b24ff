import Checkpoints
import Cluster
import Foundation
import NeuralNet
import Optimizers

/// The run skeleton every training loop shares (pretraining, classifiers): the run directory, config.json,
/// starting or resuming, after each step checkpoints, replica checks and stopping on Ctrl-C or a test's
/// halt, and at the end the model file. Rank 0 alone writes.
public struct TrainingLoop {
    public let runDirectory: URL
    public let model: ResNet
    public let optimizer: Optimizer
    public let dataParallel: DataParallel
    public let settingsJSON: String
    public let run: RunIdentity
    public let verifyReplicasEvery: Int?
    /// The build, host and data facts config.json records.
    public let runInfo: [String: String]
    public let log: (String) -> Void
    /// A method's state saved and restored with the model (MoCo's key encoder and queue).
    public var attachment: ReplicatedCheckpointAttachment? = nil

    public init(runDirectory: URL, model: ResNet, optimizer: Optimizer, dataParallel: DataParallel, settingsJSON: String,
                run: RunIdentity, verifyReplicasEvery: Int?, runInfo: [String: String], log: @escaping (String) -> Void,
                attachment: ReplicatedCheckpointAttachment? = nil) {
        self.runDirectory = runDirectory; self.model = model; self.optimizer = optimizer
        self.dataParallel = dataParallel; self.settingsJSON = settingsJSON; self.run = run
        self.verifyReplicasEvery = verifyReplicasEvery; self.runInfo = runInfo; self.log = log
        self.attachment = attachment
    }

    public var isLeader: Bool { dataParallel.rank == 0 }
    public var checkpointURL: URL { runDirectory.appendingPathComponent("checkpoint.safetensors") }
    public var finalModelURL: URL { runDirectory.appendingPathComponent("model.safetensors") }
    public var resultsURL: URL { runDirectory.appendingPathComponent("results.json") }
    public var metricsURL: URL { runDirectory.appendingPathComponent("metrics.csv") }

    /// config.json: the settings, what every training run records about its schedule and its ranks, and the
    /// run's own `fields`.
    public func writeConfig(totalSteps: Int, stepsPerEpoch: Int, scaledLR: Float, globalBatch: Int,
                     fields: [String: Any] = [:]) throws {
        var all: [String: Any] = ["total_steps": totalSteps, "steps_per_epoch": stepsPerEpoch, "scaled_lr": scaledLR,
                                  "parameters": model.registry.parameterCount, "world_size": dataParallel.size,
                                  "per_rank_batch": globalBatch / dataParallel.size,
                                  "sync_batchnorm": dataParallel.syncBatchNorm]
        all.merge(fields) { _, own in own }
        try RunConfigFile.write(settingsJSON: settingsJSON, fields: all, runInfo: runInfo, to: runDirectory)
    }

    /// After the last step: rank 0 writes the final model (torchvision keys) and, through `writeResults`,
    /// results.json; every rank logs the end.
    public func finish(steps: Int, metrics: MetricsLog?, writeResults: () throws -> Void) throws {
        if isLeader {
            try model.save(to: finalModelURL, metadata: ["format": "pt"])
            metrics?.flush()
            try writeResults()
        }
        log("finished \(steps) steps; model written to \(finalModelURL.path)")
    }

    /// Creates the run directory, restores the checkpoint when resuming and there is one (`refusal` judges its
    /// settings; without a checkpoint the run starts fresh), then on rank 0 writes config.json and opens
    /// metrics.csv (given the step it resumes after, if any).
    /// Installs the Ctrl-C / SIGTERM handlers.
    public func begin(resume: Bool, totalSteps: Int, refusal: (String) -> String?, writeConfig: () throws -> Void,
               openMetrics: (_ resumingAfterStep: Int?) throws -> MetricsLog) throws -> (TrainingPosition, MetricsLog?) {
        if isLeader { try FileManager.default.createDirectory(at: runDirectory, withIntermediateDirectories: true) }
        var position = TrainingPosition(step: 0, optimizerStepCount: 0)
        // --resume on a first start (a job script that always passes it) starts fresh. Only rank 0 sees the
        // run directory, so it decides for every rank.
        let hasCheckpoint = FileManager.default.fileExists(atPath: checkpointURL.path)
        var resuming = false
        if resume { resuming = try dataParallel.communicator.broadcast(isLeader && hasCheckpoint ? "yes" : "") == "yes" }
        if resuming {
            var savedWorld = run.worldSize
            position = try Checkpoint.resume(from: checkpointURL, model: model, optimizer: optimizer,
                                             dataParallel: dataParallel, run: run, savedWorldSize: &savedWorld,
                                             attachment: attachment, refusal: refusal)
            let ranks = savedWorld == run.worldSize ? "" : " (written by \(savedWorld) ranks, continued on \(run.worldSize))"
            log("resuming from step \(position.step) of \(totalSteps)\(ranks)")
        } else if resume {
            log("--resume: no checkpoint in \(runDirectory.path) yet; starting a fresh run")
        }
        var metrics: MetricsLog?
        if isLeader {
            try writeConfig()
            metrics = try openMetrics(resuming ? position.step : nil)
        }
        StopSignal.install()
        return (position, metrics)
    }

    /// The model's replicas and, with more than one rank, the attachment's.
    private func verifyReplicas() throws {
        try dataParallel.verifyReplicas(of: model)
        if dataParallel.size > 1 { try attachment?.verifyReplicas(over: dataParallel) }
    }

    /// After a step: writes a checkpoint when `checkpointDue` or when stopping (replicas checked first), else
    /// checks replicas every `verifyReplicasEvery` steps. Returns true when the loop must stop: Ctrl-C on any
    /// rank (`stopRequested`, agreed through the step's totals) or `haltAfterStep` reached.
    public func endStep(position: TrainingPosition, checkpointDue: Bool, stopRequested signalled: Bool, haltAfterStep: Int?,
                 metrics: MetricsLog?, progress: ProgressReporter) throws -> Bool {
        let halting = position.step == haltAfterStep || signalled
        if checkpointDue || halting {
            CollectiveDeadline.expectSlowNextStep()
            try verifyReplicas()
            metrics?.flush()
            if isLeader {
                do {
                    try Checkpoint.save(to: checkpointURL, model: model, optimizer: optimizer, position: position,
                                        settingsJSON: settingsJSON, run: run, attachment: attachment)
                } catch {
                    throw TrainingError.checkpointNotWritten(step: position.step, reason: "\(error)")
                }
            }
        } else if let every = verifyReplicasEvery, position.step % every == 0 {
            try verifyReplicas()
        }
        if halting {
            // Every rank waits for rank 0's checkpoint: a rank that exited first with a non-zero status
            // would make mpirun kill rank 0 in the middle of the write.
            _ = try dataParallel.communicator.broadcast(isLeader ? "written" : "")
            if signalled { StopSignal.honoured() }
            progress.finishLine()
            log(signalled ? "interrupted: checkpoint written at step \(position.step); continue with --resume"
                          : "halted at step \(position.step)")
        }
        return halting
    }
}
