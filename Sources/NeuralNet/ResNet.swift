import Kernels
import Tracing

/// The first layers of the network: `cifar` for 32 px images (3x3 conv, no pooling), `imagenet`
/// for larger images (torchvision's default 7x7 stride-2 conv + 3x3 stride-2 max pool).
public enum Stem: String, CaseIterable, Codable {
    case cifar, imagenet
}

public struct ResNetConfig: Equatable, Codable {
    public var arch: Architecture
    public var stem: Stem
    /// Channel multiplier: 1.0 is the torchvision network proper (stage widths 64/128/256/512); 0.25 gives
    /// 16/32/64/128. ResNet-50's blocks output 4x their stage width.
    public var width: Double
    /// Sizes of the MLP head's layers after the pooled features, e.g. [512, 256] for the reference's
    /// projection head `Linear(features,512), ReLU, Linear(512,256)`. Empty means no head.
    public var headDims: [Int]
    /// torchvision's `zero_init_residual`: the last BatchNorm of every block starts with gamma 0, so each
    /// block starts as the identity.
    public var zeroInitResidual: Bool

    public init(arch: Architecture = .resnet18, stem: Stem = .cifar, width: Double = 1.0, headDims: [Int] = [512, 256],
                zeroInitResidual: Bool = false) {
        self.arch = arch; self.stem = stem; self.width = width; self.headDims = headDims
        self.zeroInitResidual = zeroInitResidual
    }

    private enum CodingKeys: String, CodingKey { case arch, stem, width, headDims, zeroInitResidual }

    /// Files written before the architecture was configurable describe ResNet-18 without zero-init.
    public init(from decoder: Decoder) throws {
        let c = try decoder.container(keyedBy: CodingKeys.self)
        arch = try c.decodeIfPresent(Architecture.self, forKey: .arch) ?? .resnet18
        stem = try c.decode(Stem.self, forKey: .stem)
        width = try c.decode(Double.self, forKey: .width)
        headDims = try c.decode([Int].self, forKey: .headDims)
        zeroInitResidual = try c.decodeIfPresent(Bool.self, forKey: .zeroInitResidual) ?? false
    }

    /// Width of each stage's 3x3 convolutions.
    public var stageChannels: [Int] { [64, 128, 256, 512].map { max(1, Int((Double($0) * width).rounded())) } }
    /// Width of the pooled features (the head's input): 512 for ResNet-18/34 and 2048 for ResNet-50 at width 1.
    public var featureDim: Int { stageChannels[3] * arch.expansion }
    public var outputDim: Int { headDims.last ?? featureDim }
}

/// A residual block of either kind, as the network drives it.
public protocol ResidualBlock: AnyObject {
    var precision: ComputePrecision { get set }
    var convolutions: [Conv2d] { get }
    /// The BatchNorm before the addition (zero-initialized with `zeroInitResidual`).
    var lastBatchNorm: BatchNorm { get }
    /// Whether the block's forward of `x` reads `x`'s bf16 copy (see `Conv2d.readsBF16Copy(of:)`).
    func readsBF16Copy(ofInput x: FeatureMap) -> Bool
    /// In bf16, whether the block's output (of this shape) needs its bf16 copy: whether what reads it next does.
    /// The network sets it; by default the copy is always made.
    var outputNeedsBF16Copy: (FeatureMap) -> Bool { get set }
    func forward(_ x: FeatureMap) -> FeatureMap
    func backward(_ dy: FeatureMap) -> FeatureMap
}

/// torchvision's BasicBlock: conv3x3-BN-ReLU-conv3x3-BN, plus the shortcut, then ReLU.
/// BN-ReLU and BN-add-ReLU run fused (one pass each way).
public final class BasicBlock: ResidualBlock {
    public let conv1: Conv2d, bn1: BatchNorm, conv2: Conv2d, bn2: BatchNorm
    public let shortcut: Shortcut
    private var gradInput = ReusableTensor()
    /// Output maps carry their bf16 copy (for the next block's convolutions) when the precision is `bf16`.
    public var precision: ComputePrecision = .fp32 {
        didSet {
            for c in convolutions { c.precision = precision }
            for b in [bn1, bn2] + shortcut.batchNorms { b.precision = precision }
        }
    }

    public init(_ r: ParameterRegistry, _ name: String, in inC: Int, out outC: Int, stride: Int) {
        (conv1, bn1, conv2, bn2, shortcut) = r.scope(name) {
            (Conv2d(r, "conv1", in: inC, out: outC, kernel: 3, stride: stride, padding: 1),
             BatchNorm(r, "bn1", channels: outC),
             Conv2d(r, "conv2", in: outC, out: outC, kernel: 3, stride: 1, padding: 1),
             BatchNorm(r, "bn2", channels: outC),
             Shortcut(r, in: inC, out: outC, stride: stride))
        }
    }

    public var convolutions: [Conv2d] { [conv1, conv2] + shortcut.convolutions }
    public var lastBatchNorm: BatchNorm { bn2 }
    public var outputNeedsBF16Copy: (FeatureMap) -> Bool = { _ in true }

    public func readsBF16Copy(ofInput x: FeatureMap) -> Bool {
        conv1.readsBF16Copy(of: x) || shortcut.readsBF16Copy(ofInput: x)
    }

    public func forward(_ x: FeatureMap) -> FeatureMap {
        let bf16 = precision == .bf16
        var h = StepProfile.measure(.conv) { conv1.forward(x) }
        h = StepProfile.measure(.batchNorm) { bn1.forward(h, relu: true, bf16Copy: conv2.readsBF16Copy(of: h)) }
        h = StepProfile.measure(.conv) { conv2.forward(h) }
        let identity = shortcut.forward(x)
        let outputCopy = bf16 && outputNeedsBF16Copy(h)
        return StepProfile.measure(.batchNorm) { bn2.forward(h, residual: identity, relu: true, bf16Copy: outputCopy) }
    }

    /// `dy` is the float32 gradient of the block's output; returns the float32 gradient of its input.
    public func backward(_ dy: FeatureMap) -> FeatureMap {
        let out = StepProfile.measure(.batchNorm) { bn2.backward(dy) }
        var g = StepProfile.measure(.conv) { conv2.backward(out.input)! }
        g = StepProfile.measure(.batchNorm) { bn1.backward(g).input }
        let dxMain = StepProfile.measure(.conv) { conv1.backward(g)! }
        return sumOfInputGradients(dxMain, shortcut.backward(out.residual!), into: &gradInput)
    }
}

/// The labels of a step trace's per-layer spans besides the blocks' ("layer1.0", ...).
public enum LayerSpans {
    /// The first convolution, its BatchNorm (and the max pool of the imagenet stem).
    public static let stem = "stem"
    /// The global average pool.
    public static let pool = "pool"
    /// The MLP head (`fc`).
    public static let head = "head"
}

/// torchvision's ResNet-18/34/50 (structure, state_dict names and init) with an optional MLP head named `fc`.
public final class ResNet {
    public let config: ResNetConfig
    public let registry = ParameterRegistry()
    let conv1: Conv2d, bn1: BatchNorm, maxPool: MaxPool2d?
    let blocks: [any ResidualBlock]
    let pool = GlobalAveragePool()
    let headLinears: [Linear]
    let headReLUs: [VectorReLU]
    /// The blocks' state_dict prefixes ("layer1.0", ...): the labels of their spans in a step trace.
    let blockNames: [String]

    /// Tests ask for the gradient with respect to the input images.
    public var computesInputGradient = false { didSet { conv1.computesInputGradient = computesInputGradient } }

    public private(set) var features = Tensor(shape: [0])
    public private(set) var inputGradient: Tensor?

    /// With `owner`, a twin of that network: the same layers reading and updating the owner's parameters and
    /// running statistics, but with its own gradients and activations, so a second batch (of another
    /// resolution) can go forward and backward beside the owner's (docs/multi-crop.md, note 'Two forwards').
    /// A twin is not initialized: it holds whatever the owner holds.
    public init(config: ResNetConfig = ResNetConfig(), seed: UInt64 = 0, sharingParametersWith owner: ResNet? = nil) {
        precondition(owner == nil || owner!.config == config, "a twin has its owner's configuration")
        self.config = config
        let r = registry
        let ch = config.stageChannels
        if config.stem == .cifar {
            conv1 = Conv2d(r, "conv1", in: 3, out: ch[0], kernel: 3, stride: 1, padding: 1)
            maxPool = nil
        } else {
            conv1 = Conv2d(r, "conv1", in: 3, out: ch[0], kernel: 7, stride: 2, padding: 3)
            maxPool = MaxPool2d(kernel: 3, stride: 2, padding: 1)
        }
        conv1.computesInputGradient = false
        bn1 = BatchNorm(r, "bn1", channels: ch[0])
        var blocks: [any ResidualBlock] = []
        var inC = ch[0]
        blockNames = (0..<4).flatMap { stage in (0..<config.arch.blocksPerStage[stage]).map { "layer\(stage + 1).\($0)" } }
        for stage in 0..<4 {
            blocks += r.scope("layer\(stage + 1)") {
                (0..<config.arch.blocksPerStage[stage]).map { i -> any ResidualBlock in
                    let stride = (stage > 0 && i == 0) ? 2 : 1
                    let b: any ResidualBlock = config.arch.usesBottleneck
                        ? Bottleneck(r, "\(i)", in: inC, width: ch[stage], stride: stride)
                        : BasicBlock(r, "\(i)", in: inC, out: ch[stage], stride: stride)
                    inC = ch[stage] * config.arch.expansion
                    return b
                }
            }
        }
        self.blocks = blocks
        // A block's output goes to the next block's convolutions, the last one's to the pool (float32).
        for (block, next) in zip(blocks, blocks.dropFirst()) {
            block.outputNeedsBF16Copy = { [unowned next] in next.readsBF16Copy(ofInput: $0) }
        }
        blocks.last?.outputNeedsBF16Copy = { _ in false }
        var linears: [Linear] = [], relus: [VectorReLU] = []
        var inF = config.featureDim
        r.scope("fc") {
            for (i, d) in config.headDims.enumerated() {
                // Sequential indices: Linear at 0, 2, 4, ... with ReLU in between.
                linears.append(Linear(r, "\(2 * i)", in: inF, out: d))
                if i < config.headDims.count - 1 { relus.append(VectorReLU()) }
                inF = d
            }
        }
        headLinears = linears
        headReLUs = relus
        r.finalize(sharingValuesWith: owner?.registry)
        guard owner == nil else { return }
        Initialization.torchvisionDefaults(r, seed: seed)
        if config.zeroInitResidual {
            for b in blocks { b.lastBatchNorm.weight.value.fill(0) }
        }
    }

    public var parameters: [Parameter] { registry.parameters }
    public var buffers: [Buffer] { registry.buffers }
    public var batchNorms: [BatchNorm] { registry.batchNorms }
    public var flatParameters: Tensor { registry.flatValues }
    public var flatGradients: Tensor { registry.flatGradients }

    public func parameter(named name: String) -> Parameter? { parameters.first { $0.name == name } }

    public var isTraining: Bool = true {
        didSet { for bn in batchNorms { bn.isTraining = isTraining } }
    }

    /// The arithmetic of convolutions and Linear layers (see `ComputePrecision`).
    public var precision: ComputePrecision = .fp32 {
        didSet {
            conv1.precision = precision
            bn1.precision = precision
            maxPool?.writesBF16Copy = precision == .bf16
            for b in blocks { b.precision = precision }
            for l in headLinears { l.precision = precision }
        }
    }

    /// How the convolutions choose their algorithms (`--conv-algorithm`; see `ConvAlgorithmChoice`).
    public var convAlgorithm: ConvAlgorithmChoice = .processDefault {
        didSet { for c in convolutions { c.algorithmChoice = convAlgorithm } }
    }

    /// Every convolution with its state_dict name (without ".weight"), in forward order.
    public var namedConvolutions: [(name: String, layer: Conv2d)] {
        convolutions.map { (String($0.weight.name.dropLast(".weight".count)), $0) }
    }

    /// Images [N, 3, H, W] (NCHW, as PyTorch) -> head output [N, outputDim], or the pooled features
    /// when `throughHead` is false or the model has no head. `features` keeps the pooled features.
    @discardableResult
    public func forward(_ images: Tensor, throughHead: Bool = true) -> Tensor {
        precondition(images.shape.count == 4 && images.shape[1] == 3, "images must be [N, 3, H, W], got \(images.shape)")
        // Each layer group is a span of a step trace (one nil check when no trace is recorded).
        var m = StepTrace.measure(LayerSpans.stem) { () -> FeatureMap in
            var m = StepProfile.measure(.conv) { conv1.forward(images: images) }
            // The stem's output feeds a convolution directly only without the max pool.
            let stemCopy = maxPool == nil && blocks[0].readsBF16Copy(ofInput: m)
            m = StepProfile.measure(.batchNorm) { bn1.forward(m, relu: true, bf16Copy: stemCopy) }
            if let mp = maxPool { m = StepProfile.measure(.other) { mp.forward(m) } }
            return m
        }
        for (b, name) in zip(blocks, blockNames) { m = StepTrace.measure(name) { b.forward(m) } }
        features = StepTrace.measure(LayerSpans.pool) { StepProfile.measure(.other) { pool.forward(m) } }
        guard throughHead else { return features }
        return StepTrace.measure(LayerSpans.head) { () -> Tensor in
            var v = features
            for (i, lin) in headLinears.enumerated() {
                v = StepProfile.measure(.other) { lin.forward(v) }
                if i < headReLUs.count { v = StepProfile.measure(.other) { headReLUs[i].forward(v) } }
            }
            return v
        }
    }

    /// Backpropagates `gradOutput` (the gradient of the loss with respect to the last forward's
    /// output) and overwrites every parameter gradient in `flatGradients`. Each layer reports its
    /// parameters' gradients final as it finishes (`Parameter.onGradientReady`), last layers first.
    public func backward(_ gradOutput: Tensor, throughHead: Bool = true) {
        var g = gradOutput
        if throughHead && !headLinears.isEmpty {
            g = StepTrace.measure(LayerSpans.head) { () -> Tensor in
                var g = g
                for i in stride(from: headLinears.count - 1, through: 0, by: -1) {
                    if i < headReLUs.count { g = StepProfile.measure(.other) { headReLUs[i].backward(g) } }
                    g = StepProfile.measure(.other) { headLinears[i].backward(g)! }
                }
                return g
            }
        }
        var m = StepTrace.measure(LayerSpans.pool) { StepProfile.measure(.other) { pool.backward(g) } }
        for (b, name) in zip(blocks, blockNames).reversed() {
            m = StepTrace.measure(name) { b.backward(m) }
        }
        let dx = StepTrace.measure(LayerSpans.stem) { () -> Tensor? in
            var m = m
            if let mp = maxPool { m = StepProfile.measure(.other) { mp.backward(m) } }
            m = StepProfile.measure(.batchNorm) { bn1.backward(m).input }
            return StepProfile.measure(.conv) { conv1.backwardToImages(m) }
        }
        if let dx { inputGradient = dx }
    }

}


extension ResNet {
    /// Multiply-add FLOPs (counted as 2) of the last forward pass through convolutions and the head.
    public var lastForwardFLOPs: Double {
        convolutions.compactMap { $0.lastGeometry?.forwardFLOPs }.reduce(0, +) + headForwardFLOPs
    }

    /// FLOPs a training step of the last forward's batch computes, by kind: convolutions (forward,
    /// backward-weights, and backward-data except for the first layer) and the head's matrix products (3x).
    public var lastTrainingStepFLOPs: (convolution: Double, head: Double) {
        let conv = convolutions.compactMap { c in c.lastGeometry.map { $0.forwardFLOPs * (c.computesInputGradient ? 3 : 2) } }
        return (conv.reduce(0, +), 3 * headForwardFLOPs)
    }

    var convolutions: [Conv2d] { [conv1] + blocks.flatMap(\.convolutions) }
    private var headForwardFLOPs: Double {
        let batch = features.count / max(config.featureDim, 1)
        return headLinears.map { 2 * Double($0.inFeatures * $0.outFeatures * batch) }.reduce(0, +)
    }
}
