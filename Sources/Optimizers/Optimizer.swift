import Kernels

/// One parameter tensor inside the flat parameter (and gradient) buffer.
public struct ParameterSegment: Sendable, Equatable {
    /// The parameter's name, e.g. "layer1.0.bn1.weight".
    public var name: String
    /// First element in the flat buffer.
    public var offset: Int
    public var count: Int
    /// True for biases and BatchNorm weights/biases: LARS gives them neither weight decay nor trust-ratio
    /// adaptation; SGD and AdamW skip their weight decay only when built with `decayExcluded: false`.
    public var excludedFromDecayAndAdaptation: Bool
    /// This segment's learning rate is the step's times this factor (a PyTorch parameter group with its own
    /// lr, e.g. a fine-tuned backbone trained slower than a new head). 1 by default.
    public var learningRateScale: Float

    public init(name: String, offset: Int, count: Int, excludedFromDecayAndAdaptation: Bool = false,
                learningRateScale: Float = 1) {
        self.name = name
        self.offset = offset
        self.count = count
        self.excludedFromDecayAndAdaptation = excludedFromDecayAndAdaptation
        self.learningRateScale = learningRateScale
    }

    public var range: Range<Int> { offset..<(offset + count) }
}

/// The optimizers of this target by the names settings use (`optimizer` in config.json): `SGD`, `AdamW`, `LARS`.
public enum OptimizerKind: String, Codable, CaseIterable {
    case sgd, adamw, lars
}

/// Updates a flat parameter buffer in place from the flat gradient buffer (same layout).
/// Elements outside every segment are never touched.
public protocol Optimizer: AnyObject {
    func step(parameters: Tensor, gradients: Tensor, learningRate: Float)
    /// Per-element state for checkpoints, each a flat tensor laid out like the parameters. These are the
    /// optimizer's own buffers: restoring a checkpoint copies into them (and sets `stepCount`).
    var stateTensors: [(name: String, tensor: Tensor)] { get }
    /// Steps taken so far (AdamW's bias correction uses it).
    var stepCount: Int { get set }
}

/// Checks that segments are sorted, non-overlapping and non-negative; returns the end of the last one,
/// the size the parameter buffer (and the state buffers) must have at least.
func validatedExtent(of segments: [ParameterSegment]) -> Int {
    var end = 0
    for s in segments {
        precondition(s.offset >= 0 && s.count >= 0, "segment \(s.name) has a negative offset or count")
        precondition(s.offset >= end, "segment \(s.name) overlaps the previous one or is out of order")
        end = s.offset + s.count
    }
    return end
}

/// Checks the buffers given to `step` against the segments' extent.
func checkStepBuffers(_ parameters: Tensor, _ gradients: Tensor, extent: Int) {
    precondition(parameters.count == gradients.count,
                 "parameters (\(parameters.count)) and gradients (\(gradients.count)) differ in size")
    precondition(parameters.count >= extent, "parameter buffer of \(parameters.count) is shorter than the segments (\(extent))")
}

