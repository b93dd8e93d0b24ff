import Kernels

/// Convolution without bias (every convolution of ResNet is followed by BatchNorm), on blocked maps.
///
/// In bf16 the source, the weights and the output gradient are rounded to bf16: natively (`bf16`: the
/// source map carries its bf16 copy, made by the layer that wrote it) or on the reference path
/// (`bf16Reference`: rounded float32 copies through the float32 kernels).
public final class Conv2d {
    public let inChannels: Int, outChannels: Int, kernel: Int, stride: Int, padding: Int
    public let weight: Parameter
    /// The first layer needs no input gradient during training; tests turn it on.
    public var computesInputGradient = true
    public var precision: ComputePrecision = .fp32
    /// How the passes' algorithms are chosen (see `ConvAlgorithmChoice`).
    public var algorithmChoice: ConvAlgorithmChoice = .processDefault
    /// Fixed algorithms for this layer, whatever `algorithmChoice` says (studies of the choice, tests).
    public var algorithmOverride: ConvPassAlgorithms?
    private var primitives: ConvolutionKernel?
    /// Kernels of recent shapes (training and evaluation batches alternate), so switching costs nothing.
    private var kernelCache: [KernelKey: ConvolutionKernel] = [:]
    private struct KernelKey: Hashable {
        let geometry: ConvGeometry; let bf16: Bool, plainSource: Bool, inputGradient: Bool
        let algorithms: ConvPassAlgorithms
    }
    /// The source operand of the last forward; nil in bf16 when only our F(2x2) read it, from its float32 values.
    private var source: ConvOperand?
    private var forwardRan = false
    /// bf16 with our F(2x2) weight gradient: the source's float32 values (see `forward`).
    private var float32Source: Tensor?
    private var inputShape: FeatureMap?
    private var imagesShape: [Int] = []
    private var output = ReusableTensor(), gradInput = ReusableTensor()
    // The reference path's rounded copies, and the bf16 copy of images for the first layer.
    private var roundedSource = ReusableTensor(), roundedWeight = ReusableTensor(), roundedGradient = ReusableTensor()
    private var imagesBF16 = ReusableBF16Tensor()

    public init(_ registry: ParameterRegistry, _ name: String, in inChannels: Int, out outChannels: Int,
         kernel: Int, stride: Int = 1, padding: Int = 0) {
        self.inChannels = inChannels; self.outChannels = outChannels
        self.kernel = kernel; self.stride = stride; self.padding = padding
        weight = registry.scope(name) {
            registry.parameter("weight", shape: [outChannels, inChannels, kernel, kernel], kind: .convWeight)
        }
    }

    /// Convolution of a blocked map.
    public func forward(_ x: FeatureMap) -> FeatureMap {
        precondition(x.channels == inChannels, "\(weight.name): expected \(inChannels) channels, got \(x.channels)")
        let conv = kernelFor(batch: x.batch, height: x.height, width: x.width, plainSource: false)
        inputShape = x
        imagesShape = []
        // bf16 with our F(2x2) Winograd: its transform of the float32 values is rounded once.
        let float32 = precision == .bf16 && x.hasFloat32 && conv.algorithm(of: .forward) == .winograd2x2 ? x.tensor : nil
        float32Source = precision == .bf16 && x.hasFloat32 && conv.algorithm(of: .backwardWeights) == .winograd2x2 ? x.tensor : nil
        let readsCopy = precision != .bf16 || readsBF16Copy(conv) || !x.hasFloat32
        return run(conv, readsCopy ? operand(x, what: "input", rounding: &roundedSource) : nil, float32Source: float32)
    }

    /// Whether a forward (and backward) of `x` reads `x`'s bf16 copy: in bf16, unless our F(2x2) computes both
    /// the forward and the weight gradient, which transform the float32 values. A layer that writes a map
    /// makes its bf16 copy only when a reader needs it (the copy is a third more memory traffic).
    public func readsBF16Copy(of x: FeatureMap) -> Bool {
        precision == .bf16 && readsBF16Copy(kernelFor(batch: x.batch, height: x.height, width: x.width, plainSource: false))
    }

    private func readsBF16Copy(_ conv: ConvolutionKernel) -> Bool {
        conv.readsBF16Source(whenGivenFloat32: .forward) || conv.readsBF16Source(whenGivenFloat32: .backwardWeights)
    }

    /// Convolution of NCHW images [N, C, H, W] (the network's first layer reads them in place).
    public func forward(images: Tensor) -> FeatureMap {
        precondition(images.shape.count == 4 && images.shape[1] == inChannels,
                     "\(weight.name): images must be [N, \(inChannels), H, W], got \(images.shape)")
        let (n, h, w) = (images.shape[0], images.shape[2], images.shape[3])
        let conv = kernelFor(batch: n, height: h, width: w, plainSource: true)
        inputShape = nil
        float32Source = nil
        imagesShape = images.shape
        let operand: ConvOperand
        switch precision {
        case .fp32: operand = .float32(images)
        case .bf16:
            let low = imagesBF16.get(count: images.count)
            low.round(from: images)
            operand = .bf16(low)
        case .bf16Reference: operand = .float32(rounded(images, into: &roundedSource))
        }
        return run(conv, operand)
    }

    private func run(_ conv: ConvolutionKernel, _ operand: ConvOperand?, float32Source: Tensor? = nil) -> FeatureMap {
        source = operand
        forwardRan = true
        conv.setWeights(precision == .bf16Reference ? rounded(weight.value, into: &roundedWeight) : weight.value)
        let g = conv.geometry
        let y = output.get(count: conv.outputCount)
        StepProfile.measure(.forward, flops: g.forwardFLOPs) { conv.forward(source: operand, float32Source: float32Source, output: y) }
        return FeatureMap(tensor: y, channels: outChannels, batch: g.batch, height: g.outHeight, width: g.outWidth)
    }

    /// Writes the weight gradient; returns the input gradient as a blocked map (nil when not computed).
    public func backward(_ dy: FeatureMap) -> FeatureMap? {
        guard let x = inputShape else { preconditionFailure("\(weight.name): the input was images; use backwardToImages") }
        return backwardData(dy).map { x.with(tensor: $0) }
    }

    /// For the first layer: writes the weight gradient; returns the images' gradient [N, C, H, W]
    /// (nil when not computed).
    public func backwardToImages(_ dy: FeatureMap) -> Tensor? {
        precondition(inputShape == nil && !imagesShape.isEmpty, "\(weight.name): the input was a feature map; use backward")
        return backwardData(dy).map { $0.reshaped(imagesShape) }
    }

    private func backwardData(_ dy: FeatureMap) -> Tensor? {
        guard let conv = primitives, forwardRan else { preconditionFailure("\(weight.name): backward before forward") }
        let gradient = operand(dy, what: "output gradient", rounding: &roundedGradient)
        let flops = conv.geometry.forwardFLOPs
        StepProfile.measure(.backwardWeights, flops: flops) {
            conv.backwardWeights(source: source, float32Source: float32Source, gradOutput: gradient, gradWeight: weight.gradient)
        }
        weight.gradientIsReady()
        guard computesInputGradient else { return nil }
        let dx = gradInput.get(count: conv.sourceCount)
        StepProfile.measure(.backwardData, flops: flops) { conv.backwardData(gradOutput: gradient, gradInput: dx) }
        return dx
    }

    /// The primitives for this shape and precision, rebuilt when either changes.
    private func kernelFor(batch: Int, height: Int, width: Int, plainSource: Bool) -> ConvolutionKernel {
        let g = ConvGeometry(inChannels: inChannels, outChannels: outChannels, kernel: kernel, stride: stride,
                             padding: padding, batch: batch, inHeight: height, inWidth: width)
        let algorithms = algorithmOverride ?? algorithmChoice.algorithms(for: g, bf16: precision == .bf16)
        let key = KernelKey(geometry: g, bf16: precision == .bf16, plainSource: plainSource, inputGradient: computesInputGradient,
                            algorithms: algorithms)
        if let p = kernelCache[key] { primitives = p; return p }
        if kernelCache.count >= 4 { kernelCache.removeAll() }
        let p = ConvolutionKernel(g, bf16: key.bf16, plainSource: plainSource, inputGradient: computesInputGradient,
                                  algorithms: algorithms)
        kernelCache[key] = p
        primitives = p
        return p
    }

    /// What the kernel reads of `map` in this precision: its float32 values, its bf16 copy (made by the
    /// layer that wrote it), or (reference path) its values rounded to bf16 into `buffer`.
    private func operand(_ map: FeatureMap, what: String, rounding buffer: inout ReusableTensor) -> ConvOperand {
        switch precision {
        case .fp32: return .float32(map.tensor)
        case .bf16:
            guard let low = map.bf16 else { preconditionFailure("\(weight.name): a bf16 convolution needs the bf16 copy of its \(what)") }
            return .bf16(low)
        case .bf16Reference: return .float32(rounded(map.tensor, into: &buffer))
        }
    }

    private func rounded(_ t: Tensor, into buffer: inout ReusableTensor) -> Tensor {
        let r = buffer.get(t.shape)
        BFloat16.round(t, into: r)
        return r
    }

    public var lastGeometry: ConvGeometry? { primitives?.geometry }
    /// The kernel of the last forward (its shape, algorithms and implementations).
    public var lastKernel: ConvolutionKernel? { primitives }
    /// oneDNN's implementation names for the last shape (forward, backward-data, backward-weights).
    public var implementations: [String] { primitives?.implementations ?? [] }
}

/// Max pool 3x3, stride 2, padding 1 (the ImageNet stem); other sizes work too.
public final class MaxPool2d {
    public let kernel: Int, stride: Int, padding: Int
    /// Also write the bf16 copy of the output (when a bf16 convolution reads it).
    public var writesBF16Copy = false
    private var output = ReusableTensor(), gradInput = ReusableTensor()
    private var outputBF16 = ReusableBF16Tensor()
    private var argmax: UnsafeMutableBufferPointer<Int32> = .init(start: nil, count: 0)
    private var input: FeatureMap?, outMap: FeatureMap?

    public init(kernel: Int = 3, stride: Int = 2, padding: Int = 1) {
        self.kernel = kernel; self.stride = stride; self.padding = padding
    }

    deinit { argmax.deallocate() }

    public func forward(_ x: FeatureMap) -> FeatureMap {
        let oh = BlockedKernels.poolOutputSize(x.height, kernel: kernel, stride: stride, padding: padding)
        let ow = BlockedKernels.poolOutputSize(x.width, kernel: kernel, stride: stride, padding: padding)
        let count = FeatureMap.storageCount(channels: x.channels, batch: x.batch, height: oh, width: ow)
        let y = FeatureMap(tensor: output.get(count: count), channels: x.channels, batch: x.batch, height: oh, width: ow)
        if argmax.count != count {
            argmax.deallocate()
            argmax = .allocate(capacity: count)
        }
        BlockedKernels.maxPool(x, kernel: kernel, stride: stride, padding: padding, output: y, argmax: argmax.baseAddress!)
        input = x
        var out = y
        if writesBF16Copy {
            let low = outputBF16.get(count: count)
            low.round(from: y.tensor)
            out = y.with(tensor: y.tensor, bf16: low)
        }
        outMap = out
        return out
    }

    public func backward(_ dy: FeatureMap) -> FeatureMap {
        guard let x = input else { preconditionFailure("MaxPool backward before forward") }
        let dx = x.with(tensor: gradInput.get(count: x.storageCount))
        BlockedKernels.maxPoolBackward(gradOutput: dy, argmax: argmax.baseAddress!, gradInput: dx)
        return dx
    }
}

/// Global average pool: blocked map -> row-major [batch, channels] features.
public final class GlobalAveragePool {
    private var output = ReusableTensor(), gradInput = ReusableTensor()
    private var input: FeatureMap?

    public init() {}

    public func forward(_ x: FeatureMap) -> Tensor {
        input = x
        let f = output.get([x.batch, x.channels])
        BlockedKernels.globalAverage(x, into: f)
        return f
    }

    public func backward(_ dy: Tensor) -> FeatureMap {
        guard let x = input else { preconditionFailure("pool backward before forward") }
        let dx = x.with(tensor: gradInput.get(count: x.storageCount))
        BlockedKernels.globalAverageBackward(gradFeatures: dy, into: dx)
        return dx
    }
}

/// y = x W^T + b on [batch, features] matrices. In bf16 (either path) x, W and the output gradient are
/// rounded to bf16 and the products accumulate in float32 (BLAS on the rounded values: the head is small).
public final class Linear {
    public let inFeatures: Int, outFeatures: Int
    public let weight: Parameter, bias: Parameter
    public var computesInputGradient = true
    public var precision: ComputePrecision = .fp32
    private var input: Tensor?
    private var output = ReusableTensor(), gradInput = ReusableTensor()
    private var roundedInput = ReusableTensor(), roundedWeight = ReusableTensor(), roundedGradient = ReusableTensor()

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
        let xs = operand(x, &roundedInput)
        input = xs
        let y = output.get([batch, outFeatures])
        Dense.forward(x: xs, weight: operand(weight.value, &roundedWeight), bias: bias.value, y: y, batch: batch,
                      inFeatures: inFeatures, outFeatures: outFeatures)
        return y
    }

    public func backward(_ dy: Tensor) -> Tensor? {
        guard let x = input else { preconditionFailure("\(weight.name): backward before forward") }
        let batch = x.count / inFeatures
        let dx = computesInputGradient ? gradInput.get([batch, inFeatures]) : nil
        // The forward's rounded weights are still in `roundedWeight` (the optimizer runs after backward).
        let w = precision.roundsToBF16 ? roundedWeight.current : weight.value!
        Dense.backward(x: x, weight: w, gradOutput: operand(dy, &roundedGradient), gradWeight: weight.gradient,
                       gradBias: bias.gradient, gradInput: dx, batch: batch, inFeatures: inFeatures, outFeatures: outFeatures)
        weight.gradientIsReady(); bias.gradientIsReady()
        return dx
    }

    private func operand(_ t: Tensor, _ buffer: inout ReusableTensor) -> Tensor {
        guard precision.roundsToBF16 else { return t }
        let r = buffer.get(t.shape)
        BFloat16.round(t, into: r)
        return r
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
        guard let y = output.storage else { preconditionFailure("ReLU backward before forward") }
        let dx = gradInput.get(y.shape)
        Elementwise.reluBackward(output: y, gradOutput: dy, into: dx)
        return dx
    }
}
