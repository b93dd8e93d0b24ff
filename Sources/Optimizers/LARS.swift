import Kernels

/// LARS as the SimCLR paper uses it (docs/reference-semantics.md, note 'Optimizers'). Per segment w with gradient g:
///
///     adapted segment:   g' = g + weightDecay * w
///                        trust = eta * ||w|| / ||g'||      (1 when either norm is 0)
///     excluded segment:  g' = g,  trust = 1                (biases, BatchNorm: no decay, no adaptation)
///     v  = momentum * v + lr * trust * g'
///     w -= v
///
/// Norms are summed in Double over fixed chunks, so the result does not depend on the thread count;
/// lr * trust is rounded to Float once per segment.
public final class LARS: Optimizer {
    public let momentum: Float
    public let weightDecay: Float
    public let trustCoefficient: Float
    public let segments: [ParameterSegment]
    public var stepCount = 0
    private let velocity: Tensor
    private let extent: Int
    /// Per-chunk partial sums (||w||^2, ||g'||^2), sized for the largest segment.
    private var partials: [Double]
    private static let chunk = 1 << 15

    public init(momentum: Float = 0.9, weightDecay: Float, trustCoefficient: Float = 0.001,
                segments: [ParameterSegment]) {
        precondition(momentum >= 0 && weightDecay >= 0 && trustCoefficient > 0,
                     "LARS needs momentum >= 0, weight decay >= 0, trust coefficient > 0")
        self.momentum = momentum
        self.weightDecay = weightDecay
        self.trustCoefficient = trustCoefficient
        self.segments = segments
        extent = validatedExtent(of: segments)
        velocity = Tensor(shape: [extent])
        let largest = segments.map(\.count).max() ?? 0
        partials = [Double](repeating: 0, count: 2 * max(1, (largest + Self.chunk - 1) / Self.chunk))
    }

    public var stateTensors: [(name: String, tensor: Tensor)] { [("momentum_buffer", velocity)] }

    public func step(parameters: Tensor, gradients: Tensor, learningRate: Float) {
        checkStepBuffers(parameters, gradients, extent: extent)
        let p = parameters.address, g = gradients.address, v = velocity.address
        let m = momentum
        for segment in segments {
            let adapted = !segment.excludedFromDecayAndAdaptation
            let wd = adapted ? weightDecay : 0
            let lr = learningRate * segment.learningRateScale
            let scale = adapted ? Float(Double(lr) * trustRatio(segment, p, g, wd)) : lr
            let offset = segment.offset
            Parallel.forRanges(segment.count) { r in
                for i in (offset + r.lowerBound)..<(offset + r.upperBound) {
                    let vi = m * v[i] + scale * (g[i] + wd * p[i])
                    v[i] = vi
                    p[i] -= vi
                }
            }
        }
        stepCount += 1
    }

    /// eta * ||w|| / ||g + wd * w|| over one segment, 1 when either norm is 0.
    private func trustRatio(_ segment: ParameterSegment, _ p: UnsafeMutablePointer<Float>,
                            _ g: UnsafeMutablePointer<Float>, _ wd: Float) -> Double {
        let chunk = Self.chunk, start = segment.offset, end = segment.offset + segment.count
        let chunks = (segment.count + chunk - 1) / chunk
        let (weightSq, gradientSq) = partials.withUnsafeMutableBufferPointer { sums in
            Parallel.forEach(chunks) { c in
                var ww = 0.0, gg = 0.0
                for i in (start + c * chunk)..<min(start + (c + 1) * chunk, end) {
                    let w = Double(p[i]), d = Double(g[i] + wd * p[i])
                    ww += w * w
                    gg += d * d
                }
                sums[2 * c] = ww
                sums[2 * c + 1] = gg
            }
            var ww = 0.0, gg = 0.0
            for c in 0..<chunks {
                ww += sums[2 * c]
                gg += sums[2 * c + 1]
            }
            return (ww, gg)
        }
        guard weightSq > 0 && gradientSq > 0 else { return 1 }
        return Double(trustCoefficient) * (weightSq / gradientSq).squareRoot()
    }
}
