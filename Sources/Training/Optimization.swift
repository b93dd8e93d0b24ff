import NeuralNet
import Optimizers

public enum OptimizerKind: String, Codable, CaseIterable {
    case sgd, adamw, lars
}

extension LRScaling: Codable {}

/// The optimizer and learning-rate settings every training run shares (pretraining, the supervised
/// baseline, fine-tuning), and what they build.
public protocol OptimizationSettings {
    var optimizer: OptimizerKind { get set }
    /// Base learning rate before batch scaling.
    var lr: Float { get set }
    var momentum: Float { get set }
    var weightDecay: Float { get set }
    var warmupEpochs: Double { get set }
    var lrScaling: LRScaling { get set }
    /// The global batch (all ranks together): the LR is scaled by it, never by the per-rank batch.
    var batchSize: Int { get }
}

extension OptimizationSettings {
    /// SGD (momentum), AdamW or LARS over the model's flat parameters; biases and BatchNorm parameters
    /// are excluded from LARS adaptation and weight decay as the segments say.
    public func makeOptimizer(segments: [ParameterSegment]) -> Optimizer {
        switch optimizer {
        case .sgd: return SGD(momentum: momentum, weightDecay: weightDecay, segments: segments)
        case .adamw: return AdamW(weightDecay: weightDecay, segments: segments)
        case .lars: return LARS(momentum: momentum, weightDecay: weightDecay, segments: segments)
        }
    }

    /// The base LR scaled with the global batch, linear warm-up over `warmupEpochs`, then cosine decay to
    /// zero at `totalSteps`.
    public func schedule(totalSteps: Int, stepsPerEpoch: Int) -> LearningRateSchedule {
        let lr = lrScaling.scaledLR(base: self.lr, globalBatch: batchSize)
        let warmup = min(totalSteps - 1, Int((warmupEpochs * Double(stepsPerEpoch)).rounded()))
        return LearningRateSchedule(baseLR: lr, warmupSteps: max(warmup, 0), totalSteps: totalSteps)
    }
}

/// The optimizer's view of a model's flat parameter buffer: one segment per parameter tensor,
/// biases and BatchNorm affine terms marked for exclusion from weight decay and LARS adaptation.
public func parameterSegments(of model: ResNet) -> [ParameterSegment] {
    model.parameters.map {
        ParameterSegment(name: $0.name, offset: $0.offset, count: $0.count,
                         excludedFromDecayAndAdaptation: $0.kind.isExcludedFromDecay)
    }
}
