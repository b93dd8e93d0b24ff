import Kernels

/// A residual block's shortcut: the identity, or torchvision's `downsample` (1x1 conv with the block's
/// stride, then BatchNorm) when the block changes the resolution or the channel count.
public final class Shortcut {
    public let conv: Conv2d?, batchNorm: BatchNorm?

    /// Registers `downsample.0` / `downsample.1` in the current scope when the shape changes.
    init(_ r: ParameterRegistry, in inC: Int, out outC: Int, stride: Int) {
        guard stride != 1 || inC != outC else { conv = nil; batchNorm = nil; return }
        (conv, batchNorm) = r.scope("downsample") {
            (Conv2d(r, "0", in: inC, out: outC, kernel: 1, stride: stride), BatchNorm(r, "1", channels: outC))
        }
    }

    var convolutions: [Conv2d] { conv.map { [$0] } ?? [] }
    var batchNorms: [BatchNorm] { batchNorm.map { [$0] } ?? [] }

    /// Whether the shortcut's forward of `x` reads `x`'s bf16 copy (the identity reads the float32 values).
    func readsBF16Copy(ofInput x: FeatureMap) -> Bool { conv?.readsBF16Copy(of: x) ?? false }

    func forward(_ x: FeatureMap) -> FeatureMap {
        guard let conv, let batchNorm else { return x }
        let y = StepProfile.measure(.conv) { conv.forward(x) }
        return StepProfile.measure(.batchNorm) { batchNorm.forward(y) }
    }

    /// The block input's gradient through the shortcut, from the gradient the block's last BatchNorm
    /// handed to its residual.
    func backward(_ residualGradient: FeatureMap) -> FeatureMap {
        guard let conv, let batchNorm else { return residualGradient }
        let g = StepProfile.measure(.batchNorm) { batchNorm.backward(residualGradient).input }
        return StepProfile.measure(.conv) { conv.backward(g)! }
    }
}

/// The sum of the main path's and the shortcut's input gradients, in a buffer the block reuses.
func sumOfInputGradients(_ main: FeatureMap, _ shortcut: FeatureMap, into buffer: inout ReusableTensor) -> FeatureMap {
    let dx = buffer.get(count: main.storageCount)
    StepProfile.measure(.other) { BlockedKernels.add(main.tensor, shortcut.tensor, into: dx) }
    return main.with(tensor: dx)
}
