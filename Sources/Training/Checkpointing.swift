import Checkpoints
import Cluster
import Foundation
import NeuralNet
import Optimizers

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
        try attachment?.prepare(over: dp)  // collective: the attachment's names and shapes are known from here
        if isLeader {
            do {
                let saved: CheckpointHeader
                do { saved = try load(from: url, model: model, optimizer: optimizer, attachment: attachment) } catch {
                    // Other data-parallel settings can mean other saved state (gradient compression's), and other
                    // settings another network, which show first as other tensor names or shapes: name the
                    // settings, the cause, instead.
                    if let mismatch = runMismatch(in: url, resuming: run) { throw CheckpointError.incompatible(url.path, reason: mismatch) }
                    if let json = headerField("settings", in: url), let why = refusal(json) {
                        throw CheckpointError.incompatible(url.path, reason: why)
                    }
                    throw error
                }
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

    /// Why a run with identity `run` cannot continue the checkpoint at `url`, read from its header alone (nil:
    /// it can, or the header does not say).
    private static func runMismatch(in url: URL, resuming run: RunIdentity) -> String? {
        guard let json = headerField("run", in: url),
              let saved = try? JSONDecoder().decode(RunIdentity.self, from: Data(json.utf8)) else { return nil }
        return run.mismatch(resuming: saved)
    }

    /// A metadata field of the checkpoint's header, unverified (nil when the file does not parse).
    private static func headerField(_ key: String, in url: URL) -> String? {
        guard let data = try? Data(contentsOf: url) else { return nil }
        return (try? Safetensors.parse(data))?.metadata[key]
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
        // Not recorded: the defaults. Recorded by another version and not decodable here: not compared.
        func settings(_ json: String?) -> DataParallelSettings? { json.map(DataParallelSettings.init(json:)) ?? DataParallelSettings() }
        if let now = settings(dataParallel), let then = settings(saved.dataParallel), !now.sameTrainingAs(then) {
            return "it was written with other data-parallel settings (\(then.json)); this run has \(now.json)"
        }
        return nil
    }
}

extension DataParallelSettings {
    /// Settings from their JSON (nil when it does not decode).
    init?(json: String) {
        guard let settings = try? JSONDecoder().decode(DataParallelSettings.self, from: Data(json.utf8)) else { return nil }
        self = settings
    }
}
