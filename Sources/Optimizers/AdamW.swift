import Foundation
import Kernels

/// Adam with decoupled weight decay, torch.optim.AdamW semantics (amsgrad off), per element at step t:
///
///     p  *= 1 - lr * weightDecay
///     m   = m + (1 - beta1) * (g - m)                  (torch's lerp)
///     v   = beta2 * v + (1 - beta2) * g * g
///     p  -= lr / (1 - beta1^t) * m / (sqrt(v) / sqrt(1 - beta2^t) + eps)
///
/// Weight decay goes to every segment, as PyTorch does with one parameter group; with
/// `decayExcluded: false` segments marked `excludedFromDecayAndAdaptation` get none.
public final class AdamW: Optimizer {
    public let beta1: Float
    public let beta2: Float
    public let eps: Float
    public let weightDecay: Float
    public let decayExcluded: Bool
    public let segments: [ParameterSegment]
    public var stepCount = 0
    private let firstMoment: Tensor
    private let secondMoment: Tensor
    private let extent: Int

    public init(beta1: Float = 0.9, beta2: Float = 0.999, eps: Float = 1e-8, weightDecay: Float = 0.01,
                decayExcluded: Bool = true, segments: [ParameterSegment]) {
        precondition((0..<1).contains(beta1) && (0..<1).contains(beta2), "AdamW betas must be in [0, 1)")
        precondition(eps >= 0 && weightDecay >= 0, "AdamW eps and weight decay must be >= 0")
        self.beta1 = beta1
        self.beta2 = beta2
        self.eps = eps
        self.weightDecay = weightDecay
        self.decayExcluded = decayExcluded
        self.segments = segments
        extent = validatedExtent(of: segments)
        firstMoment = Tensor(shape: [extent])
        secondMoment = Tensor(shape: [extent])
    }

    public var stateTensors: [(name: String, tensor: Tensor)] {
        [("exp_avg", firstMoment), ("exp_avg_sq", secondMoment)]
    }

    public func step(parameters: Tensor, gradients: Tensor, learningRate: Float) {
        checkStepBuffers(parameters, gradients, extent: extent)
        stepCount += 1
        // Scalars in Double, as PyTorch computes them in Python before handing float32 kernels the result.
        let t = Double(stepCount)
        let correction1 = 1 - pow(Double(beta1), t)
        let correction2 = Float((1 - pow(Double(beta2), t)).squareRoot())
        let p = parameters.address, g = gradients.address
        let m = firstMoment.address, v = secondMoment.address
        let b1 = 1 - beta1, b2 = beta2, c2 = 1 - beta2, eps = eps
        for segment in segments {
            let wd = decayExcluded || !segment.excludedFromDecayAndAdaptation ? weightDecay : 0
            let lr = learningRate * segment.learningRateScale
            let stepSize = Float(Double(lr) / correction1)
            let shrink = Float(1 - Double(lr) * Double(wd))
            let offset = segment.offset
            Parallel.forRanges(segment.count) { r in
                for i in (offset + r.lowerBound)..<(offset + r.upperBound) {
                    let gi = g[i]
                    let mi = lerp(m[i], gi, b1)
                    let vi = v[i] * b2 + c2 * gi * gi
                    m[i] = mi
                    v[i] = vi
                    p[i] = p[i] * shrink - stepSize * (mi / (vi.squareRoot() / correction2 + eps))
                }
            }
        }
    }
}

/// torch.lerp's formula (start + weight * (end - start), mirrored for weight >= 0.5 to stay exact at 1).
@inline(__always)
private func lerp(_ start: Float, _ end: Float, _ weight: Float) -> Float {
    weight < 0.5 ? start + weight * (end - start) : end - (end - start) * (1 - weight)
}
