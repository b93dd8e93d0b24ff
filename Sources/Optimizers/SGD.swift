import Kernels

/// Stochastic gradient descent with torch.optim.SGD semantics (dampening 0), per element:
///
///     g   = grad + weightDecay * p
///     buf = momentum * buf + g
///     d   = nesterov ? g + momentum * buf : buf        (d = g when momentum is 0)
///     p  -= lr * d
///
/// PyTorch sets buf = g on the first step; our buffer starts at zero, which gives the same value.
/// Weight decay goes to every segment, as PyTorch does with one parameter group; with
/// `decayExcluded: false` segments marked `excludedFromDecayAndAdaptation` get none.
public final class SGD: Optimizer {
    public let momentum: Float
    public let nesterov: Bool
    public let weightDecay: Float
    public let decayExcluded: Bool
    public let segments: [ParameterSegment]
    public var stepCount = 0
    private let momentumBuffer: Tensor?
    private let extent: Int

    public init(momentum: Float = 0, nesterov: Bool = false, weightDecay: Float = 0, decayExcluded: Bool = true,
                segments: [ParameterSegment]) {
        precondition(momentum >= 0 && weightDecay >= 0, "SGD momentum and weight decay must be >= 0")
        precondition(!nesterov || momentum > 0, "Nesterov momentum requires momentum > 0")
        self.momentum = momentum
        self.nesterov = nesterov
        self.weightDecay = weightDecay
        self.decayExcluded = decayExcluded
        self.segments = segments
        extent = validatedExtent(of: segments)
        momentumBuffer = momentum > 0 ? Tensor(shape: [extent]) : nil
    }

    public var stateTensors: [(name: String, tensor: Tensor)] {
        momentumBuffer.map { [("momentum_buffer", $0)] } ?? []
    }

    public func step(parameters: Tensor, gradients: Tensor, learningRate: Float) {
        checkStepBuffers(parameters, gradients, extent: extent)
        let p = parameters.address, g = gradients.address
        let m = momentum, nesterov = nesterov
        for segment in segments {
            let wd = decayExcluded || !segment.excludedFromDecayAndAdaptation ? weightDecay : 0
            let lr = learningRate * segment.learningRateScale
            let offset = segment.offset
            Parallel.forRanges(segment.count) { r in
                let range = (offset + r.lowerBound)..<(offset + r.upperBound)
                guard let b = self.momentumBuffer?.address else {
                    for i in range { p[i] -= lr * (g[i] + wd * p[i]) }
                    return
                }
                for i in range {
                    let gi = g[i] + wd * p[i]
                    let bi = m * b[i] + gi
                    b[i] = bi
                    p[i] -= lr * (nesterov ? gi + m * bi : bi)
                }
            }
        }
        stepCount += 1
    }
}
