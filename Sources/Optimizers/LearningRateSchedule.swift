import Foundation

/// Linear warmup, then cosine decay to `finalLR` at `totalSteps` (steps count from 0, one per optimizer step):
///
///     step < W:        lr = base * (step + 1) / W
///     W <= step < T:   lr = final + (base - final) * (1 + cos(pi * (step - W) / (T - W))) / 2
///     step >= T:       lr = final
///
/// with W = warmupSteps, T = totalSteps. This is what PyTorch's
/// `SequentialLR([LinearLR(start_factor=1/W, end_factor=1, total_iters=W-1),
///                CosineAnnealingLR(T_max=T-W, eta_min=final)], milestones=[W])` gives when stepped once per
/// optimizer step (PyTorch's cosine is recursive, so it agrees up to float rounding).
public struct LearningRateSchedule: Sendable, Equatable {
    public var baseLR: Float
    public var warmupSteps: Int
    public var totalSteps: Int
    public var finalLR: Float

    public init(baseLR: Float, warmupSteps: Int = 0, totalSteps: Int, finalLR: Float = 0) {
        precondition(warmupSteps >= 0 && totalSteps >= warmupSteps,
                     "schedule needs 0 <= warmupSteps (\(warmupSteps)) <= totalSteps (\(totalSteps))")
        self.baseLR = baseLR
        self.warmupSteps = warmupSteps
        self.totalSteps = totalSteps
        self.finalLR = finalLR
    }

    public func learningRate(atStep step: Int) -> Float {
        precondition(step >= 0, "negative schedule step \(step)")
        let base = Double(baseLR), final = Double(finalLR)
        if step < warmupSteps { return Float(base * Double(step + 1) / Double(warmupSteps)) }
        if step >= totalSteps { return finalLR }
        let progress = Double(step - warmupSteps) / Double(totalSteps - warmupSteps)
        return Float(final + (base - final) * (1 + cos(Double.pi * progress)) / 2)
    }
}

/// How the base learning rate grows with the global batch (summed over all ranks, never per rank).
/// (`LRScaling.none` is this enum's case; spell the type out where an Optional is also in play.)
public enum LRScaling: String, Sendable, CaseIterable {
    /// base * B / 256 (SimCLR with SGD/LARS at large batch).
    case linear
    /// base * sqrt(B) (SimCLR's choice for small batches / long training).
    case sqrt
    /// base unchanged.
    case none

    public func scaledLR(base: Float, globalBatch: Int) -> Float {
        precondition(globalBatch > 0, "global batch must be positive")
        switch self {
        case .linear: return Float(Double(base) * Double(globalBatch) / 256)
        case .sqrt: return Float(Double(base) * Double(globalBatch).squareRoot())
        case .none: return base
        }
    }
}
