import NeuralNet
import Optimizers
import Runs

extension LRScaling: Codable {}

/// The optimizer and learning-rate settings every training run shares (pretraining, the supervised
/// baseline, fine-tuning), and what they build.
public protocol OptimizationSettings {
    var optimizer: OptimizerKind { get set }
    /// Base learning rate before batch scaling.
    var lr: Float { get set }
    var momentum: Float { get set }
    var weightDecay: Float { get set }
    /// Linear warm-up length in epochs; nil asks for `defaultWarmupEpochs`, shortened to a tenth of the run
    /// when the run is shorter than ten times that (so a short run is not all warm-up).
    var warmupEpochs: Double? { get set }
    /// The warm-up a run gets when it asks for none in particular.
    static var defaultWarmupEpochs: Double { get }
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

    /// Why these optimizer settings cannot train (nothing: they can).
    public func validateOptimization() throws {
        guard lr > 0, lr.isFinite else { throw SettingsError("`lr` must be positive") }
        guard momentum >= 0, momentum < 1 else { throw SettingsError("`momentum` must lie in [0, 1)") }
        guard weightDecay.isFinite else { throw SettingsError("`weightDecay` \(weightDecay) is not a number") }
        guard weightDecay >= 0 else { throw SettingsError("`weightDecay` must not be negative") }
        if let warmupEpochs {
            guard warmupEpochs.isFinite else { throw SettingsError("`warmupEpochs` \(warmupEpochs) is not a number") }
            guard warmupEpochs >= 0 else { throw SettingsError("`warmupEpochs` must not be negative") }
        }
    }

    /// The base learning rate scaled with the global batch (`lrScaling`).
    public var scaledLearningRate: Float { lrScaling.scaledLR(base: lr, globalBatch: batchSize) }

    /// The base LR scaled with the global batch, linear warm-up (`warmup(totalSteps:stepsPerEpoch:)`), then
    /// cosine decay to zero at `totalSteps`.
    public func schedule(totalSteps: Int, stepsPerEpoch: Int) -> LearningRateSchedule {
        let lr = scaledLearningRate
        return LearningRateSchedule(baseLR: lr, warmupSteps: warmup(totalSteps: totalSteps, stepsPerEpoch: stepsPerEpoch).steps,
                                    totalSteps: totalSteps)
    }

    /// Warm-up steps of a run of `totalSteps`, and why they differ from what was asked, if they do: the default
    /// is shortened to a tenth of the run; a warm-up is always shorter than the run.
    public func warmup(totalSteps: Int, stepsPerEpoch: Int) -> (steps: Int, note: String?) {
        let runEpochs = Double(totalSteps) / Double(max(1, stepsPerEpoch))
        var epochs = warmupEpochs ?? Self.defaultWarmupEpochs
        var note: String?
        if warmupEpochs == nil && epochs > runEpochs / 10 {
            note = "the default \(epochs.formatted) warm-up epochs shortened to a tenth of this \(runEpochs.formatted)-epoch run"
            epochs = runEpochs / 10
        }
        let stepsAsked = (epochs * Double(stepsPerEpoch)).rounded()
        let asked = stepsAsked >= Double(totalSteps) ? totalSteps : Int(stepsAsked)   // no trap for 1e20 epochs
        if asked >= totalSteps && totalSteps > 1 {
            note = "a warm-up of \(epochs.formatted) epochs covers the whole \(runEpochs.formatted)-epoch run: the learning "
                + "rate would peak at the last step and never decay"
        }
        return (max(0, min(totalSteps - 1, asked)), note)
    }

    /// One line for logs: the optimizer, the learning rate and its schedule as the run will follow it.
    public func describeSchedule(totalSteps: Int, stepsPerEpoch: Int) -> String {
        let schedule = schedule(totalSteps: totalSteps, stepsPerEpoch: stepsPerEpoch)
        let warm = warmup(totalSteps: totalSteps, stepsPerEpoch: stepsPerEpoch)
        let warmEpochs = Double(warm.steps) / Double(max(1, stepsPerEpoch))
        var text = "\(optimizer.rawValue), lr \(schedule.baseLR) (\(lr) with \(lrScaling.rawValue) scaling by the global "
            + "batch \(batchSize)), momentum \(momentum), weight decay \(weightDecay); "
            + (warm.steps == 0 ? "no warm-up" : "warm-up \(warm.steps) step\(warm.steps == 1 ? "" : "s") (\(warmEpochs.formatted) epochs)")
            + ", then cosine decay to 0 at step \(totalSteps)"
        if let note = warm.note { text += " (\(note))" }
        return text
    }
}

private extension Double {
    /// 10, 0.5, 2.25: a count of epochs as a person writes it.
    var formatted: String {
        let rounded = (self * 100).rounded() / 100
        guard abs(rounded) < 1e15 else { return String(self) }
        return rounded == rounded.rounded() ? String(Int(rounded)) : String(rounded)
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
