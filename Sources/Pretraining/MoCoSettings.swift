/// Which contrastive method a pretraining run trains with.
public enum PretrainMethod: String, Codable, CaseIterable, Sendable {
    /// Two views of each image, InfoNCE over the global batch (the default).
    case simclr
    /// MoCo v2: a query encoder trained by the optimizer, a momentum key encoder and a queue of negatives.
    case moco
}

/// The settings MoCo adds to a pretraining run (docs/moco.md). Part of the settings JSON, so `--resume`
/// refuses another momentum or queue size.
public struct MoCoSettings: Codable, Equatable, Sendable {
    /// k = m * k + (1 - m) * q before every step's keys (MoCo's paper: 0.999).
    public var momentum: Double = 0.99
    /// K, the queue's rows; a multiple of the global batch.
    public var queueSize: Int = 4096

    /// MoCo v2's temperature, used when the user gives none.
    public static let defaultTemperature: Float = 0.2

    public init(momentum: Double = 0.99, queueSize: Int = 4096) {
        self.momentum = momentum
        self.queueSize = queueSize
    }

    /// Why these settings cannot train with global batch `batchSize` (nil: they can).
    public func refusal(globalBatch batchSize: Int) -> String? {
        guard momentum >= 0 && momentum <= 1 else { return "`moco.momentum` must be in [0, 1], got \(momentum)" }
        guard queueSize >= 1, queueSize % batchSize == 0 else {
            return "`moco.queueSize` \(queueSize) must be a positive multiple of the global batch `batchSize` \(batchSize) "
                + "(each step enqueues the whole batch's keys)"
        }
        return nil
    }
}
