import CKernels
import Foundation

/// The shape of a 2-D convolution (no bias, groups 1).
public struct ConvGeometry: Equatable, Hashable {
    public let inChannels: Int, outChannels: Int
    public let kernel: Int, stride: Int, padding: Int
    public let batch: Int, inHeight: Int, inWidth: Int

    public init(inChannels: Int, outChannels: Int, kernel: Int, stride: Int, padding: Int,
                batch: Int, inHeight: Int, inWidth: Int) {
        self.inChannels = inChannels; self.outChannels = outChannels
        self.kernel = kernel; self.stride = stride; self.padding = padding
        self.batch = batch; self.inHeight = inHeight; self.inWidth = inWidth
        precondition(outHeight > 0 && outWidth > 0, "convolution output would be empty: \(self)")
    }

    public var outHeight: Int { (inHeight + 2 * padding - kernel) / stride + 1 }
    public var outWidth: Int { (inWidth + 2 * padding - kernel) / stride + 1 }
    /// Inputs of one output value: input channels x kernel rows x kernel columns.
    public var patchSize: Int { inChannels * kernel * kernel }
    public var weightCount: Int { outChannels * patchSize }

    /// FLOPs of the forward pass (multiply and add counted separately); backward-data and
    /// backward-weights cost the same each.
    public var forwardFLOPs: Double { 2 * Double(outChannels * patchSize) * Double(batch * outHeight * outWidth) }
}

/// What a convolution reads: float32 values, or their bf16 copy on the bf16 path.
public enum ConvOperand {
    case float32(Tensor)
    case bf16(BF16Tensor)

    var address: UnsafeRawPointer {
        switch self {
        case .float32(let t): return UnsafeRawPointer(t.base)
        case .bf16(let t): return t.rawAddress
        }
    }
    var count: Int {
        switch self {
        case .float32(let t): return t.count
        case .bf16(let t): return t.count
        }
    }
    var isBF16: Bool { if case .bf16 = self { return true } else { return false } }
}

/// How one pass of a convolution is computed.
public enum ConvAlgorithm: String, CaseIterable, Codable, Sendable {
    /// Products of the input and the weights as they are (oneDNN's direct kernels).
    case direct
    /// oneDNN's Winograd F(4x4, 3x3): 6x6 input tiles and the 3x3 kernel are transformed so that 36 products
    /// make a 4x4 output tile instead of 144; float32 3x3 stride-1 convolutions only (elsewhere: direct).
    /// Fastest, but its transforms (points 0, +-1, +-2, +-1/2) round worse than a direct convolution.
    case winograd4x4 = "winograd-4x4"
    /// Our Winograd F(2x2, 3x3) (CKernels/winograd.c): 16 products per 2x2 tile instead of 36, transforms
    /// with coefficients 0, +-1, +-1/2 that round about as a direct convolution; 3x3 stride-1 padding-1
    /// convolutions, float32 and bf16, forward and backward-data passes, and in bf16 the backward-weights pass
    /// too (its transpose F(3x3, 2x2) on the same points, CKernels/winograd_weights.c); elsewhere: direct. In
    /// bf16, a strided 3x3 layer asked for it computes its weight gradient by our own direct kernel on the same
    /// micro-kernels (no transforms; it reports `.direct`, the rounding it has).
    case winograd2x2 = "winograd-2x2"
    /// Our per-tap matrix products (CKernels/conv_taps.c) for float32 3x3 stride-1 padding-1 convolutions of
    /// small maps: one product per (output pixel, kernel tap) that does not fall on the padding, which on 2x2
    /// maps skips 20 of every 36 products a direct kernel computes; no transforms, so it rounds like direct.
    /// Elsewhere (bf16, other shapes): direct.
    case taps

    var code: Int32 {
        switch self {
        case .direct: return Int32(SK_CONV_DIRECT)
        case .winograd4x4: return Int32(SK_CONV_WINOGRAD)
        case .winograd2x2: return Int32(SK_CONV_WINOGRAD_2X2)
        case .taps: return Int32(SK_CONV_TAPS)
        }
    }
}

/// The algorithm of each of a convolution's three passes.
public struct ConvPassAlgorithms: Hashable, Sendable, CustomStringConvertible {
    public var forward: ConvAlgorithm, backwardData: ConvAlgorithm, backwardWeights: ConvAlgorithm

    public init(forward: ConvAlgorithm, backwardData: ConvAlgorithm, backwardWeights: ConvAlgorithm) {
        self.forward = forward; self.backwardData = backwardData; self.backwardWeights = backwardWeights
    }

    public static func all(_ a: ConvAlgorithm) -> ConvPassAlgorithms { .init(forward: a, backwardData: a, backwardWeights: a) }

    /// e.g. "winograd/winograd/direct" (forward/backward-data/backward-weights).
    public var description: String { "\(forward.rawValue)/\(backwardData.rawValue)/\(backwardWeights.rawValue)" }
}

/// One convolution shape's oneDNN primitives: forward, backward-data (unless the input gradient is never
/// needed) and backward-weights, with weights reordered into the primitives' layouts once per step.
///
/// Outputs and gradients are blocked float32 maps (`FeatureMap`); the source is a blocked map, or plain
/// NCHW images for the network's first layer. With `bf16`, the source, the weights and the output
/// gradient are bf16 and the products accumulate in float32.
public final class ConvolutionKernel {
    public let geometry: ConvGeometry
    public let bf16: Bool
    public let plainSource: Bool
    public let computesInputGradient: Bool
    /// The algorithms asked for; `algorithm(of:)` says what runs (Winograd exists only for some shapes).
    public let requestedAlgorithms: ConvPassAlgorithms
    private let handle: OpaquePointer

    public init(_ g: ConvGeometry, bf16: Bool, plainSource: Bool, inputGradient: Bool,
                algorithms: ConvPassAlgorithms = .all(.direct)) {
        geometry = g
        self.bf16 = bf16; self.plainSource = plainSource; computesInputGradient = inputGradient
        requestedAlgorithms = algorithms
        var shape = sk_conv_shape(batch: Int32(g.batch), in_channels: Int32(g.inChannels), out_channels: Int32(g.outChannels),
                                  in_height: Int32(g.inHeight), in_width: Int32(g.inWidth), kernel: Int32(g.kernel),
                                  stride: Int32(g.stride), padding: Int32(g.padding), plain_source: plainSource ? 1 : 0,
                                  bf16: bf16 ? 1 : 0, backward_data: inputGradient ? 1 : 0,
                                  forward_algorithm: algorithms.forward.code,
                                  backward_data_algorithm: algorithms.backwardData.code,
                                  backward_weights_algorithm: algorithms.backwardWeights.code)
        var message = [CChar](repeating: 0, count: 256)
        guard let h = sk_conv_create(&shape, &message, message.count) else {
            let text = message.withUnsafeBufferPointer { String(cString: $0.baseAddress!) }
            preconditionFailure("cannot build the convolution \(g) (\(bf16 ? "bf16" : "fp32")): \(text)")
        }
        handle = h
    }

    deinit { sk_conv_destroy(handle) }

    /// Elements of the source operand: NCHW images or a blocked map.
    public var sourceCount: Int {
        let g = geometry
        return plainSource ? g.batch * g.inChannels * g.inHeight * g.inWidth
            : FeatureMap.storageCount(channels: g.inChannels, batch: g.batch, height: g.inHeight, width: g.inWidth)
    }
    public var outputCount: Int {
        let g = geometry
        return FeatureMap.storageCount(channels: g.outChannels, batch: g.batch, height: g.outHeight, width: g.outWidth)
    }

    /// Takes the float32 [O, I, k, k] weights for the following calls (rounding them to bf16 on that path).
    public func setWeights(_ weights: Tensor) {
        precondition(weights.count == geometry.weightCount, "convolution weights: \(weights.count) for \(geometry)")
        check(sk_conv_set_weights(handle, weights.base), "weights reorder")
    }

    /// `float32Source`: on the bf16 path, the float32 values the bf16 source was rounded from, when the caller
    /// has them (F(2x2) Winograd then rounds its transform of them once, instead of transforming the rounded
    /// values and rounding again).
    /// `source` may be nil when `float32Source` is given and the pass is our F(2x2), which reads only that.
    public func forward(source: ConvOperand?, float32Source: Tensor? = nil, output: Tensor) {
        checkSource(source, float32Source: float32Source, pass: .forward)
        precondition(output.count == outputCount, "convolution output size")
        check(sk_conv_forward(handle, source?.address, float32Source.map { UnsafePointer($0.base) }, output.base), "forward")
    }

    public func backwardData(gradOutput: ConvOperand, gradInput: Tensor) {
        precondition(computesInputGradient, "this convolution was built without its input gradient")
        checkOperand(gradOutput, count: outputCount, what: "output gradient")
        precondition(gradInput.count == sourceCount, "convolution input-gradient size")
        check(sk_conv_backward_data(handle, gradOutput.address, gradInput.base), "backward-data")
    }

    /// Overwrites `gradWeight` ([O, I, k, k] float32). `float32Source`: as in `forward`, for the bf16 F(2x2)
    /// weight gradient (`source` may then be nil, as in `forward`).
    public func backwardWeights(source: ConvOperand?, float32Source: Tensor? = nil, gradOutput: ConvOperand, gradWeight: Tensor) {
        checkSource(source, float32Source: float32Source, pass: .backwardWeights)
        checkOperand(gradOutput, count: outputCount, what: "output gradient")
        precondition(gradWeight.count == geometry.weightCount, "convolution weight-gradient size")
        check(sk_conv_backward_weights(handle, source?.address, float32Source.map { UnsafePointer($0.base) }, gradOutput.address,
                                       gradWeight.base), "backward-weights")
    }

    /// Whether `pass` (forward or backward-weights) reads the bf16 source when given the float32 values too:
    /// every bf16 algorithm does but our F(2x2), which transforms the float32 values and rounds once.
    public func readsBF16Source(whenGivenFloat32 pass: Pass) -> Bool {
        bf16 && algorithm(of: pass) != .winograd2x2
    }

    /// oneDNN's names of the implementations it picked (forward, backward-data, backward-weights).
    public var implementations: [String] {
        (0..<3).map { String(cString: sk_conv_implementation(handle, Int32($0))) }
    }

    public enum Pass: Int32, CaseIterable {
        case forward = 0, backwardData = 1, backwardWeights = 2
        public var name: String { ["forward", "backward-data", "backward-weights"][Int(rawValue)] }
    }

    /// The algorithm a pass runs (nil for a backward pass that has not run yet).
    public func algorithm(of pass: Pass) -> ConvAlgorithm? {
        let code = sk_conv_algorithm(handle, pass.rawValue)
        return ConvAlgorithm.allCases.first { $0.code == code }
    }

    private func checkSource(_ source: ConvOperand?, float32Source: Tensor?, pass: Pass) {
        precondition(float32Source.map { $0.count == sourceCount } ?? true, "convolution float32 source size")
        if let source { return checkOperand(source, count: sourceCount, what: "source") }
        precondition(float32Source != nil && !readsBF16Source(whenGivenFloat32: pass),
                     "convolution \(pass.name): this pass reads its source, none given")
    }

    private func checkOperand(_ operand: ConvOperand, count: Int, what: String) {
        precondition(operand.isBF16 == bf16, "convolution \(what): expected \(bf16 ? "bf16" : "float32") values")
        precondition(operand.count == count, "convolution \(what): \(operand.count) elements, expected \(count)")
    }

    private func check(_ status: Int32, _ what: String) {
        precondition(status == 0, "oneDNN convolution \(what) failed (status \(status)) for \(geometry)")
    }
}

extension ConvolutionKernel {
    /// Channels rounded up to whole 16-channel blocks, as our kernels see them.
    private static func blocked(_ channels: Int) -> Int32 { Int32(clamping: FeatureMap.blocks(channels) * SK_BLOCK_COUNT) }

    /// The scratch our bf16 weight gradient (`.winograd2x2` in the bf16 backward-weights pass: Winograd at
    /// stride 1, our direct kernel at stride 2) of shape `g` takes on `threads` threads: bytes per part, one
    /// part per thread; empty where that kernel does not run (not a 3x3 padding-1 convolution of stride 1 or 2,
    /// or a CPU without AVX512_BF16). Every weight gradient of
    /// the process shares the scratch, and each part keeps its largest size: a process holds, per part, the
    /// largest need of its layers (up to ~20 MB per thread at full width: layer4's sums and transforms).
    public static func winogradWeightGradientScratch(_ g: ConvGeometry, threads: Int) -> [Int] {
        guard g.kernel == 3, g.stride == 1 || g.stride == 2, g.padding == 1, threads >= 1 else { return [] }
        let parts = (0..<threads).map {
            Int(sk_wgrad_scratch_bytes(blocked(g.inChannels), blocked(g.outChannels), Int32(g.stride), Int32(threads), Int32($0)))
        }
        return parts.allSatisfy { $0 == 0 } ? [] : parts
    }

    /// The scratch our Winograd F(2x2) of shape `g` takes in the passes `algorithms` runs by `.winograd2x2`
    /// (forward; backward-data, input and output channels swapped) where its transformed weights outgrow the
    /// cache and it runs by groups of tiles (winograd.c: 512 x 512 channels in bf16); 0 elsewhere. Every
    /// convolution of the process shares one such scratch, which keeps its largest size (at most ~32 MB).
    public static func winogradGroupScratch(_ g: ConvGeometry, algorithms a: ConvPassAlgorithms, bf16: Bool) -> Int {
        guard g.kernel == 3, g.stride == 1, g.padding == 1 else { return 0 }
        func bytes(_ ic: Int, _ oc: Int) -> Int {
            // Clamped: an absurd batch (a settings check's estimate) must give a size, not a trap.
            Int(sk_wino_scratch_bytes(Int32(clamping: g.batch), blocked(ic), blocked(oc), Int32(clamping: g.inHeight),
                                      Int32(clamping: g.inWidth), bf16 ? 1 : 0))
        }
        return max(a.forward == .winograd2x2 ? bytes(g.inChannels, g.outChannels) : 0,
                   a.backwardData == .winograd2x2 ? bytes(g.outChannels, g.inChannels) : 0)
    }

    /// The bytes our per-tap kernel (`ConvAlgorithm.taps`) allocates for a layer of this shape, batch included,
    /// when `algorithms` runs it in any pass: tap-major weights, per-pixel matrices of the source and the output,
    /// and the weight-gradient sums when it computes the weight gradient. 0 for shapes it does not run
    /// (float32 3x3 stride-1 layers only).
    public static func perTapScratch(_ g: ConvGeometry, algorithms a: ConvPassAlgorithms) -> Int {
        guard g.kernel == 3, g.stride == 1, g.padding == 1,
              [a.forward, a.backwardData, a.backwardWeights].contains(.taps) else { return 0 }
        return Int(sk_taps_scratch_bytes(Int32(g.batch), blocked(g.inChannels), blocked(g.outChannels), Int32(g.inHeight),
                                         Int32(g.inWidth), a.backwardWeights == .taps ? 1 : 0))
    }
}

/// The convolution library in use, for logs and run records.
public enum ConvolutionLibrary {
    public static var description: String {
        "oneDNN \(String(cString: sk_dnnl_version())) (\(String(cString: sk_dnnl_isa())))"
    }
}
