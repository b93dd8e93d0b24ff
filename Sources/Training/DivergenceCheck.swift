import Foundation
import RunFiles

/// Whether a training step diverged (docs/run-files.md, 'divergence.json'). A step diverged when its loss, the
/// norm of its summed gradient, the norm of the weights after its update or that of the BatchNorm running
/// statistics is not a finite number, or when the weights' norm has grown past `weightGrowthLimit` times its
/// norm at the start of the run (or of its resumed part). The growth limit catches what the loss alone does
/// not: with SGD at a learning rate of 1e6 the loss stays finite, at chance, while the weights reach 1e19.
/// Every rank judges from the step's totals (the global loss, the norms one rank measured for all, the sum of
/// every rank's running statistics' norms), so every rank reaches the same verdict at the same step.
public struct DivergenceCheck {
    /// How many times its starting norm the weights' norm may reach. Healthy runs stay within a few times it
    /// (weight decay and normalization layers keep it there); a run whose learning rate is orders of magnitude
    /// too high passes it within a step or two.
    public static let weightGrowthLimit = 1000.0
    /// The weights' norm at the start of the run (or of its resumed part).
    public let startWeightNorm: Double

    public init(startWeightNorm: Double) { self.startWeightNorm = startWeightNorm }

    /// The divergence of step `step` (1-based) with `totals`, nil when the step is healthy.
    public func divergence(atStep step: Int, _ totals: StepTotals) -> RunDivergence? {
        if !totals.loss.isFinite { return RunDivergence(step: step, loss: totals.loss) }
        func diverged(_ reason: String) -> RunDivergence { RunDivergence(step: step, loss: totals.loss, reason: reason) }
        if !totals.gradientNorm.isFinite { return diverged("gradient norm \(totals.gradientNorm)") }
        if !totals.weightNorm.isFinite { return diverged("weight norm \(totals.weightNorm)") }
        // Training normalizes with the batch's own statistics, so a running variance that overflowed leaves the
        // loss and the weights finite; the model it would save evaluates to NaN.
        if !totals.runningStatisticsNorm.isFinite {
            return diverged("BatchNorm running statistics are not finite (\(totals.runningStatisticsNorm))")
        }
        // A network that starts below norm 1 (a tiny one) may grow to `weightGrowthLimit` itself.
        let limit = Self.weightGrowthLimit * max(startWeightNorm, 1)
        if totals.weightNorm > limit {
            return diverged("weight norm \(Self.short(totals.weightNorm)), more than \(Int(Self.weightGrowthLimit)) times "
                            + "its \(Self.short(startWeightNorm)) at the start")
        }
        return nil
    }

    /// 3 significant digits: 8.62e+19, 258.
    static func short(_ x: Double) -> String { String(format: "%.3g", x) }
}
