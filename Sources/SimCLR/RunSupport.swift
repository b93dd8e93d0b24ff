import Cluster
import Foundation
import NeuralNet
import Optimizers

/// The exit status a stop signal asks for (130 for SIGINT, 143 for SIGTERM; 0: none received). A plain
/// integer, since a signal handler may only store.
nonisolated(unsafe) private var stopSignalStatus: Int32 = 0

/// Ctrl-C and SIGTERM as a request to stop cleanly (checkpoint, then exit) instead of dying mid-step.
///
/// Under mpirun, SIGINT/SIGTERM sent to mpirun are not forwarded: mpirun sends SIGTERM to the ranks itself
/// and SIGKILL one second later, too soon for a step and a checkpoint. SIGUSR1 and SIGUSR2 are forwarded at
/// once, so deploy/launch.sh turns SIGINT into SIGUSR1 (stop as SIGINT would) and SIGTERM into SIGUSR2.
public enum StopSignal {
    public static var received: Bool { stopSignalStatus != 0 }

    /// Set when a training loop stopped for a stop request (of this rank or another): the process should
    /// exit with it, 130 (SIGINT) or 143 (SIGTERM).
    nonisolated(unsafe) public private(set) static var exitStatus: Int32?

    /// Clears the flag and routes SIGINT, SIGTERM, SIGUSR1 (as SIGINT) and SIGUSR2 (as SIGTERM) to it.
    public static func install() {
        stopSignalStatus = 0
        exitStatus = nil
        signal(SIGINT) { _ in stopSignalStatus = 130 }
        signal(SIGUSR1) { _ in stopSignalStatus = 130 }
        signal(SIGTERM) { _ in stopSignalStatus = 143 }
        signal(SIGUSR2) { _ in stopSignalStatus = 143 }
    }

    /// The loop honoured a stop request: this rank's own signal, or SIGTERM's status when another rank asked.
    static func honoured() { exitStatus = stopSignalStatus != 0 ? stopSignalStatus : 143 }
}

extension Checkpoint {
    /// Restores model, optimizer state and position from `url` for a run on one or more ranks: rank 0 reads
    /// the file and every rank receives model, optimizer state and position from it, so ranks need no shared
    /// file system. `refusal` judges the settings JSON stored in the checkpoint (nil: accepted, else why not);
    /// a checkpoint of other data is refused. A failure on rank 0 is reported to every rank. `savedWorldSize`
    /// receives the rank count that wrote the checkpoint (on rank 0).
    public static func resume(from url: URL, model: ResNet, optimizer: Optimizer, dataParallel dp: DataParallel,
                              run: RunIdentity, savedWorldSize: inout Int, attachment: ReplicatedCheckpointAttachment? = nil,
                              refusal: (String) -> String?) throws -> TrainingPosition {
        let isLeader = dp.rank == 0
        var position = TrainingPosition(step: 0, optimizerStepCount: 0)
        var failure: Error?
        if isLeader {
            do {
                let saved = try load(from: url, model: model, optimizer: optimizer, attachment: attachment)
                if let why = refusal(saved.settingsJSON) { throw CheckpointError.incompatible(url.path, reason: why) }
                if let mismatch = run.mismatch(resuming: saved.run) {
                    throw CheckpointError.incompatible(url.path, reason: mismatch)
                }
                position = saved.position
                savedWorldSize = saved.run.worldSize
            } catch { failure = error }
        }
        let message = try dp.communicator.broadcast(failure.map { "\($0)" } ?? "")
        if !message.isEmpty {
            if let failure { throw failure }
            throw CheckpointError.incompatible(url.path, reason: "rank 0 could not resume: \(message)")
        }
        try dp.broadcastState(of: model)
        for (_, t) in optimizer.stateTensors { try dp.communicator.broadcast(t) }
        try attachment?.broadcast(over: dp)
        let json = try dp.communicator.broadcast(isLeader ? String(decoding: try JSONEncoder().encode(position), as: UTF8.self) : "")
        position = try JSONDecoder().decode(TrainingPosition.self, from: Data(json.utf8))
        optimizer.stepCount = position.optimizerStepCount
        return position
    }

    /// Why a checkpoint's settings JSON cannot continue a run with `current` settings (nil: it can). Settings
    /// that do not decode are refused: they cannot be compared.
    public static func settingsRefusal<S: Decodable>(_ saved: String, as type: S.Type, current: S,
                                                    sameTraining: (S, S) -> Bool) -> String? {
        guard let decoded = try? JSONDecoder().decode(S.self, from: Data(saved.utf8)) else {
            return "its settings do not decode as this version's \(S.self) (written by another version of the tool?)"
        }
        return sameTraining(decoded, current) ? nil : "it was written with different settings; see config.json"
    }
}

extension RunIdentity {
    /// Why a run with this identity cannot continue a checkpoint written with `saved` (nil: it can).
    func mismatch(resuming saved: RunIdentity) -> String? {
        if let now = dataset, let then = saved.dataset, now != then {
            return "it was written for other data (\(then)); this run has \(now)"
        }
        // Another rank count is accepted: the global batch, the sample order and every sample's views do not
        // depend on it (the step's sums are only added in another order).
        return nil
    }
}

/// `config.json` of a training run: the settings, facts about the run (`fields`) and the build and host
/// (`runInfo`), written atomically.
public enum RunConfigFile {
    public static func write(settingsJSON: String, fields: [String: Any], runInfo: [String: String], to directory: URL) throws {
        var object = fields
        object["settings"] = try JSONSerialization.jsonObject(with: Data(settingsJSON.utf8))
        for (k, v) in runInfo { object[k] = v }
        let data = try JSONSerialization.data(withJSONObject: object, options: [.prettyPrinted, .sortedKeys])
        try AtomicFile.write(data, to: directory.appendingPathComponent("config.json"))
    }
}

/// Settings saved as pretty-printed, key-sorted JSON (config.json, checkpoints, the rank configuration check).
public protocol JSONSettings: Codable {}

extension JSONSettings {
    public var json: String {
        let encoder = JSONEncoder()
        encoder.outputFormatting = [.prettyPrinted, .sortedKeys]
        return String(decoding: try! encoder.encode(self), as: UTF8.self)
    }
}

/// The run skeleton every training loop shares (pretraining, classifiers): the run directory, config.json,
/// starting or resuming, after each step checkpoints, replica checks and stopping on Ctrl-C or a test's
/// halt, and at the end the model file. Rank 0 alone writes.
struct TrainingLoop {
    let runDirectory: URL
    let model: ResNet
    let optimizer: Optimizer
    let dataParallel: DataParallel
    let settingsJSON: String
    let run: RunIdentity
    let verifyReplicasEvery: Int?
    /// The build, host and data facts config.json records.
    let runInfo: [String: String]
    let log: (String) -> Void
    /// A method's state saved and restored with the model (MoCo's key encoder and queue).
    var attachment: ReplicatedCheckpointAttachment? = nil

    var isLeader: Bool { dataParallel.rank == 0 }
    var checkpointURL: URL { runDirectory.appendingPathComponent("checkpoint.safetensors") }
    var finalModelURL: URL { runDirectory.appendingPathComponent("model.safetensors") }
    var resultsURL: URL { runDirectory.appendingPathComponent("results.json") }
    var metricsURL: URL { runDirectory.appendingPathComponent("metrics.csv") }

    /// config.json: the settings, what every training run records about its schedule and its ranks, and the
    /// run's own `fields`.
    func writeConfig(totalSteps: Int, stepsPerEpoch: Int, scaledLR: Float, globalBatch: Int,
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
    func finish(steps: Int, metrics: MetricsLog?, writeResults: () throws -> Void) throws {
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
    func begin(resume: Bool, totalSteps: Int, refusal: (String) -> String?, writeConfig: () throws -> Void,
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
    func endStep(position: TrainingPosition, checkpointDue: Bool, stopRequested signalled: Bool, haltAfterStep: Int?,
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
