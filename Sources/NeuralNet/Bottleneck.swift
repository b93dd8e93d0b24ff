import Kernels

/// torchvision's Bottleneck (ResNet v1.5): conv1x1-BN-ReLU, conv3x3 with the block's stride-BN-ReLU,
/// conv1x1 to 4x the width-BN, plus the shortcut, then ReLU. BN-ReLU and BN-add-ReLU run fused.
public final class Bottleneck: ResidualBlock {
    public static let expansion = 4
    public let conv1: Conv2d, bn1: BatchNorm, conv2: Conv2d, bn2: BatchNorm, conv3: Conv2d, bn3: BatchNorm
    public let shortcut: Shortcut
    private var gradInput = ReusableTensor()
    /// Output maps carry their bf16 copy (for the next convolutions) when the precision is `bf16`.
    public var precision: ComputePrecision = .fp32 {
        didSet {
            for c in convolutions { c.precision = precision }
            for b in [bn1, bn2, bn3] + shortcut.batchNorms { b.precision = precision }
        }
    }

    /// `width` is the 3x3 convolution's channel count; the block outputs `width * 4` channels.
    public init(_ r: ParameterRegistry, _ name: String, in inC: Int, width: Int, stride: Int) {
        let outC = width * Bottleneck.expansion
        (conv1, bn1, conv2, bn2, conv3, bn3, shortcut) = r.scope(name) {
            (Conv2d(r, "conv1", in: inC, out: width, kernel: 1),
             BatchNorm(r, "bn1", channels: width),
             // v1.5: the stride sits on the 3x3 convolution, not on the first 1x1.
             Conv2d(r, "conv2", in: width, out: width, kernel: 3, stride: stride, padding: 1),
             BatchNorm(r, "bn2", channels: width),
             Conv2d(r, "conv3", in: width, out: outC, kernel: 1),
             BatchNorm(r, "bn3", channels: outC),
             Shortcut(r, in: inC, out: outC, stride: stride))
        }
    }

    public var convolutions: [Conv2d] { [conv1, conv2, conv3] + shortcut.convolutions }
    public var lastBatchNorm: BatchNorm { bn3 }
    public var outputNeedsBF16Copy: (FeatureMap) -> Bool = { _ in true }

    public func readsBF16Copy(ofInput x: FeatureMap) -> Bool {
        conv1.readsBF16Copy(of: x) || shortcut.readsBF16Copy(ofInput: x)
    }

    public func forward(_ x: FeatureMap) -> FeatureMap {
        let bf16 = precision == .bf16
        var h = StepProfile.measure(.conv) { conv1.forward(x) }
        h = StepProfile.measure(.batchNorm) { bn1.forward(h, relu: true, bf16Copy: conv2.readsBF16Copy(of: h)) }
        h = StepProfile.measure(.conv) { conv2.forward(h) }
        h = StepProfile.measure(.batchNorm) { bn2.forward(h, relu: true, bf16Copy: conv3.readsBF16Copy(of: h)) }
        h = StepProfile.measure(.conv) { conv3.forward(h) }
        let identity = shortcut.forward(x)
        let outputCopy = bf16 && outputNeedsBF16Copy(h)
        return StepProfile.measure(.batchNorm) { bn3.forward(h, residual: identity, relu: true, bf16Copy: outputCopy) }
    }

    /// `dy` is the float32 gradient of the block's output; returns the float32 gradient of its input.
    public func backward(_ dy: FeatureMap) -> FeatureMap {
        let out = StepProfile.measure(.batchNorm) { bn3.backward(dy) }
        var g = StepProfile.measure(.conv) { conv3.backward(out.input)! }
        g = StepProfile.measure(.batchNorm) { bn2.backward(g).input }
        g = StepProfile.measure(.conv) { conv2.backward(g)! }
        g = StepProfile.measure(.batchNorm) { bn1.backward(g).input }
        let dxMain = StepProfile.measure(.conv) { conv1.backward(g)! }
        return sumOfInputGradients(dxMain, shortcut.backward(out.residual!), into: &gradInput)
    }
}
