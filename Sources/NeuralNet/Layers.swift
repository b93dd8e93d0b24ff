import Kernels

/// Reuses a tensor across steps, reallocating only when the required shape changes.
struct ReusableTensor {
    private(set) var tensor: Tensor?
    mutating func get(_ shape: [Int]) -> Tensor {
        if let t = tensor, t.shape == shape { return t }
        let t = Tensor(shape: shape)
        tensor = t
        return t
    }
}

/// Convolution without bias (every convolution of ResNet is followed by BatchNorm).
public final class Conv2d {
    public let inChannels: Int, outChannels: Int, kernel: Int, stride: Int, padding: Int
    public let weight: Parameter
    /// The first layer needs no input gradient during training; tests turn it on.
    public var computesInputGradient = true
    private var input: FeatureMap?
    private var geometry: ConvGeometry?
    private var output = ReusableTensor(), gradInput = ReusableTensor(), workspace = ReusableTensor()

    public init(_ registry: ParameterRegistry, _ name: String, in inChannels: Int, out outChannels: Int,
         kernel: Int, stride: Int = 1, padding: Int = 0) {
        self.inChannels = inChannels; self.outChannels = outChannels
        self.kernel = kernel; self.stride = stride; self.padding = padding
        weight = registry.scope(name) {
            registry.parameter("weight", shape: [outChannels, inChannels, kernel, kernel], kind: .convWeight)
        }
    }

    public func forward(_ x: FeatureMap) -> FeatureMap {
        precondition(x.channels == inChannels, "\(weight.name): expected \(inChannels) channels, got \(x.channels)")
        let g = ConvGeometry(inChannels: inChannels, outChannels: outChannels, kernel: kernel, stride: stride,
                             padding: padding, batch: x.batch, inHeight: x.height, inWidth: x.width)
        geometry = g
        input = x
        let y = output.get([outChannels, x.batch, g.outHeight, g.outWidth])
        conv2dForward(g, input: x.tensor, weight: weight.value, output: y, workspace: workspace.get([g.workspaceCount]))
        return FeatureMap(tensor: y, channels: outChannels, batch: x.batch, height: g.outHeight, width: g.outWidth)
    }

    /// Writes the weight gradient; returns the input gradient (nil when not computed).
    public func backward(_ dy: Tensor) -> FeatureMap? {
        guard let x = input, let g = geometry else { preconditionFailure("\(weight.name): backward before forward") }
        let dx = computesInputGradient ? gradInput.get(x.shapeCNHW) : nil
        conv2dBackward(g, input: x.tensor, weight: weight.value, gradOutput: dy, gradWeight: weight.gradient,
                       gradInput: dx, workspace: workspace.get([g.workspaceCount]))
        weight.gradientIsReady()
        return dx.map { FeatureMap(tensor: $0, channels: x.channels, batch: x.batch, height: x.height, width: x.width) }
    }

    public var lastGeometry: ConvGeometry? { geometry }
}

public final class ReLU {
    private var output = ReusableTensor(), gradInput = ReusableTensor()
    private var last: FeatureMap?

    public init() {}

    public func forward(_ x: FeatureMap) -> FeatureMap {
        let y = output.get(x.shapeCNHW)
        Elementwise.relu(x.tensor, into: y)
        let out = FeatureMap(tensor: y, channels: x.channels, batch: x.batch, height: x.height, width: x.width)
        last = out
        return out
    }

    public func backward(_ dy: Tensor) -> FeatureMap {
        guard let y = last else { preconditionFailure("ReLU backward before forward") }
        let dx = gradInput.get(y.shapeCNHW)
        Elementwise.reluBackward(output: y.tensor, gradOutput: dy, into: dx)
        return FeatureMap(tensor: dx, channels: y.channels, batch: y.batch, height: y.height, width: y.width)
    }
}

/// Max pool 3x3, stride 2, padding 1 (the ImageNet stem); other sizes work too.
public final class MaxPool2d {
    public let kernel: Int, stride: Int, padding: Int
    private var output = ReusableTensor(), gradInput = ReusableTensor()
    private var argmax: UnsafeMutableBufferPointer<Int32> = .init(start: nil, count: 0)
    private var input: FeatureMap?
    private var outShape = (0, 0)

    public init(kernel: Int = 3, stride: Int = 2, padding: Int = 1) {
        self.kernel = kernel; self.stride = stride; self.padding = padding
    }

    deinit { argmax.deallocate() }

    public func forward(_ x: FeatureMap) -> FeatureMap {
        let oh = Pooling.outputSize(x.height, kernel: kernel, stride: stride, padding: padding)
        let ow = Pooling.outputSize(x.width, kernel: kernel, stride: stride, padding: padding)
        let y = output.get([x.channels, x.batch, oh, ow])
        if argmax.count != y.count {
            argmax.deallocate()
            argmax = .allocate(capacity: y.count)
        }
        Pooling.maxPoolForward(x, kernel: kernel, stride: stride, padding: padding, output: y, argmax: argmax)
        input = x
        outShape = (oh, ow)
        return FeatureMap(tensor: y, channels: x.channels, batch: x.batch, height: oh, width: ow)
    }

    public func backward(_ dy: Tensor) -> FeatureMap {
        guard let x = input else { preconditionFailure("MaxPool backward before forward") }
        let dx = gradInput.get(x.shapeCNHW)
        Pooling.maxPoolBackward(gradOutput: dy, argmax: argmax, planes: x.channels * x.batch,
                                outPlane: outShape.0 * outShape.1, inPlane: x.height * x.width, gradInput: dx)
        return FeatureMap(tensor: dx, channels: x.channels, batch: x.batch, height: x.height, width: x.width)
    }
}

/// Global average pool: CNHW map -> row-major [batch, channels] features.
public final class GlobalAveragePool {
    private var output = ReusableTensor(), gradInput = ReusableTensor()
    private var input: FeatureMap?

    public init() {}

    public func forward(_ x: FeatureMap) -> Tensor {
        input = x
        let f = output.get([x.batch, x.channels])
        Pooling.globalAverageForward(x, features: f)
        return f
    }

    public func backward(_ dy: Tensor) -> FeatureMap {
        guard let x = input else { preconditionFailure("pool backward before forward") }
        let dx = gradInput.get(x.shapeCNHW)
        Pooling.globalAverageBackward(gradFeatures: dy, channels: x.channels, batch: x.batch,
                                      plane: x.height * x.width, gradInput: dx)
        return FeatureMap(tensor: dx, channels: x.channels, batch: x.batch, height: x.height, width: x.width)
    }
}

/// y = x W^T + b on [batch, features] matrices.
public final class Linear {
    public let inFeatures: Int, outFeatures: Int
    public let weight: Parameter, bias: Parameter
    public var computesInputGradient = true
    private var input: Tensor?
    private var output = ReusableTensor(), gradInput = ReusableTensor()

    public init(_ registry: ParameterRegistry, _ name: String, in inFeatures: Int, out outFeatures: Int) {
        self.inFeatures = inFeatures; self.outFeatures = outFeatures
        (weight, bias) = registry.scope(name) {
            (registry.parameter("weight", shape: [outFeatures, inFeatures], kind: .linearWeight),
             registry.parameter("bias", shape: [outFeatures], kind: .linearBias))
        }
    }

    public func forward(_ x: Tensor) -> Tensor {
        let batch = x.count / inFeatures
        precondition(batch * inFeatures == x.count, "\(weight.name): input of \(x.count) is not [batch, \(inFeatures)]")
        input = x
        let y = output.get([batch, outFeatures])
        Dense.forward(x: x, weight: weight.value, bias: bias.value, y: y, batch: batch,
                      inFeatures: inFeatures, outFeatures: outFeatures)
        return y
    }

    public func backward(_ dy: Tensor) -> Tensor? {
        guard let x = input else { preconditionFailure("\(weight.name): backward before forward") }
        let batch = x.count / inFeatures
        let dx = computesInputGradient ? gradInput.get([batch, inFeatures]) : nil
        Dense.backward(x: x, weight: weight.value, gradOutput: dy, gradWeight: weight.gradient, gradBias: bias.gradient,
                       gradInput: dx, batch: batch, inFeatures: inFeatures, outFeatures: outFeatures)
        weight.gradientIsReady(); bias.gradientIsReady()
        return dx
    }
}

/// ReLU on [batch, features] matrices (for the MLP heads).
public final class VectorReLU {
    private var output = ReusableTensor(), gradInput = ReusableTensor()
    public init() {}
    public func forward(_ x: Tensor) -> Tensor {
        let y = output.get(x.shape)
        Elementwise.relu(x, into: y)
        return y
    }
    public func backward(_ dy: Tensor) -> Tensor {
        guard let y = output.tensor else { preconditionFailure("ReLU backward before forward") }
        let dx = gradInput.get(y.shape)
        Elementwise.reluBackward(output: y, gradOutput: dy, into: dx)
        return dx
    }
}
