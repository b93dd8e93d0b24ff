import Kernels
import Tracing

/// What a parameter is, which decides its initialization and whether optimizers such as LARS
/// exclude it from weight decay and trust-ratio adaptation (biases and BatchNorm affine terms).
public enum ParameterKind: Equatable {
    case convWeight, linearWeight, linearBias, normWeight, normBias

    public var isExcludedFromDecay: Bool {
        switch self {
        case .convWeight, .linearWeight: return false
        case .linearBias, .normWeight, .normBias: return true
        }
    }
}

/// One named parameter: a view into the model's flat value buffer and one into its flat gradient buffer.
public final class Parameter {
    public let name: String
    public let shape: [Int]
    public let kind: ParameterKind
    public var count: Int { shape.reduce(1, *) }
    /// Offset of this parameter in the flat buffers.
    public internal(set) var offset: Int = -1
    /// Position among the model's parameters (registration order, torchvision's state_dict order).
    public internal(set) var index: Int = -1
    public internal(set) var value: Tensor!
    public internal(set) var gradient: Tensor!
    /// Called when this parameter's gradient of the current backward pass is final (written, and not written
    /// again before the next backward), on the thread running backward. The data-parallel machinery sets it
    /// so the all-reduce of a gradient bucket starts as soon as every parameter in it has reported
    /// (docs/bucket-plan.md); nil does nothing.
    public var onGradientReady: ((Parameter) -> Void)?

    /// Its mark in a step trace ("ready layer1.0.conv1.weight"; argument: `index`).
    private let readyLabel: String

    init(name: String, shape: [Int], kind: ParameterKind) {
        self.name = name; self.shape = shape; self.kind = kind
        readyLabel = StepSpans.readyPrefix + name
    }

    /// The owning layer's call at the point in its backward where this gradient became final. A step trace
    /// marks the moment (one nil check without one).
    @inline(__always)
    public func gradientIsReady() {
        if let tracer = Tracer.active { tracer.compute.instant(tracer.name(readyLabel), argument: Int64(index)) }
        onGradientReady?(self)
    }
}

/// A non-trained state tensor saved with the model (BatchNorm running statistics).
public final class Buffer {
    public let name: String
    public let shape: [Int]
    public internal(set) var offset: Int = -1
    public internal(set) var value: Tensor!

    init(name: String, shape: [Int]) { self.name = name; self.shape = shape }
}

/// Collects parameters and buffers while a model is built, then places all parameters in one flat
/// value buffer and one flat gradient buffer (in registration order, which is torchvision's
/// state_dict order), so optimizers and gradient all-reduce work on contiguous memory.
public final class ParameterRegistry {
    public private(set) var parameters: [Parameter] = []
    public private(set) var buffers: [Buffer] = []
    /// BatchNorm layers, for the `num_batches_tracked` counters and for SyncBN hooks.
    public internal(set) var batchNorms: [BatchNorm] = []
    public private(set) var flatValues = Tensor(shape: [0])
    public private(set) var flatGradients = Tensor(shape: [0])
    public private(set) var flatBuffers = Tensor(shape: [0])
    private var prefixes: [String] = []
    private var finalized = false

    public init() {}

    /// Runs `body` with `name` appended to the current name prefix ("layer1" -> "layer1.0" ...).
    public func scope<T>(_ name: String, _ body: () -> T) -> T {
        prefixes.append(name)
        defer { prefixes.removeLast() }
        return body()
    }

    private func qualified(_ name: String) -> String { (prefixes + [name]).joined(separator: ".") }

    public func parameter(_ name: String, shape: [Int], kind: ParameterKind) -> Parameter {
        precondition(!finalized, "parameters must be registered before finalize()")
        let p = Parameter(name: qualified(name), shape: shape, kind: kind)
        parameters.append(p)
        return p
    }

    public func buffer(_ name: String, shape: [Int]) -> Buffer {
        precondition(!finalized, "buffers must be registered before finalize()")
        let b = Buffer(name: qualified(name), shape: shape)
        buffers.append(b)
        return b
    }

    /// Allocates the flat buffers and points every parameter and buffer at its slice. With `owner` (a
    /// registry of the same layers, already finalized) the parameter values and buffers are the owner's
    /// memory and only the gradients are this registry's own (docs/multi-crop.md, note 'Two forwards').
    public func finalize(sharingValuesWith owner: ParameterRegistry? = nil) {
        precondition(!finalized)
        finalized = true
        var offset = 0
        for (i, p) in parameters.enumerated() { p.offset = offset; p.index = i; offset += p.count }
        if let owner {
            precondition(owner.finalized && owner.parameters.map(\.shape) == parameters.map(\.shape)
                         && owner.buffers.map(\.shape) == buffers.map(\.shape), "a shared registry must hold the same layers")
        }
        flatValues = owner?.flatValues ?? Tensor(shape: [offset])
        flatGradients = Tensor(shape: [offset])
        for p in parameters {
            p.value = flatValues.view(offset: p.offset, shape: p.shape)
            p.gradient = flatGradients.view(offset: p.offset, shape: p.shape)
        }
        offset = 0
        for b in buffers { b.offset = offset; offset += b.shape.reduce(1, *) }
        flatBuffers = owner?.flatBuffers ?? Tensor(shape: [offset])
        for b in buffers { b.value = flatBuffers.view(offset: b.offset, shape: b.shape) }
    }

    public var parameterCount: Int { flatValues.count }

    /// Sets every parameter's `onGradientReady` hook (nil removes them).
    public func setGradientReadyHook(_ hook: ((Parameter) -> Void)?) {
        for p in parameters { p.onGradientReady = hook }
    }
}
