import Dispatch
import Kernels
import NeuralNet
import Optimizers

/// What one classifier step measured over the global batch (before the update, as PyTorch loops report it).
public struct ClassifierStepResult: Equatable {
    /// Mean cross-entropy over the global batch.
    public var loss: Double
    public var top1Hits: Int
    public var top5Hits: Int
    /// Images in the global batch.
    public var count: Int
}

/// One supervised training step: images -> ResNet-18 + classifier head -> softmax cross-entropy ->
/// backward -> optimizer step. With `dataParallel`, `images` are this rank's share of the global batch B:
/// the loss of each rank is its rows' cross-entropy divided by B (not by its own count), so the summed
/// gradient the reducer produces (`DataParallel` sums, it does not average) is the gradient of the mean over
/// the global batch, as one process with batch B computes it; BatchNorm is global with SyncBN.
public final class ClassifierStep {
    public let model: ResNet18
    public let optimizer: Optimizer
    public let dataParallel: DataParallel?
    public private(set) var lastTiming = StepTiming()
    /// Set when a stop was requested on any rank during the last step (the ranks agree through the reduction).
    public private(set) var stopRequested = false
    private var logitGradient = Tensor(shape: [0])
    private var totals = [Double](repeating: 0, count: 5)

    public init(model: ResNet18, optimizer: Optimizer, dataParallel: DataParallel? = nil) {
        self.model = model; self.optimizer = optimizer; self.dataParallel = dataParallel
        if let dp = dataParallel { model.onGradientsReady = { [reducer = dp.reducer] in reducer.gradientsReady($0) } }
    }

    /// `images` [b, 3, H, W] with their `labels`; every rank passes the same number of images.
    /// `localStop` is this rank's wish to stop after the step (Ctrl-C); every rank learns of it.
    @discardableResult
    public func run(images: Tensor, labels: [Int], learningRate: Float, localStop: Bool = false) throws -> ClassifierStepResult {
        let start = now()
        var timing = StepTiming()
        model.isTraining = true
        dataParallel?.reducer.beginStep()
        let logits = model.forward(images)
        let b = labels.count, world = dataParallel?.size ?? 1
        precondition(logits.shape == [b, model.config.outputDim], "logits \(logits.shape) for \(b) labels")
        if logitGradient.shape != logits.shape { logitGradient = Tensor(shape: logits.shape) }
        let normalization = dataParallel?.fault == .localLossNormalization ? b : b * world
        let loss = StepProfile.measure(.loss) {
            SoftmaxCrossEntropy.loss(logits: logits, labels: labels, normalization: normalization, gradient: logitGradient)
        }
        let ranks = SoftmaxCrossEntropy.ranks(logits: logits, labels: labels)
        model.backward(logitGradient)
        if let dp = dataParallel {
            let reduction = try dp.reducer.finishStep()
            timing.communicationWaitSeconds += reduction.blockedSeconds
            timing.gradientCommunicationSeconds = reduction.communicationSeconds
        }
        StepProfile.measure(.optimizer) {
            optimizer.step(parameters: model.flatParameters, gradients: model.flatGradients, learningRate: learningRate)
        }
        // One small reduction: loss, hit counts, image count and the stop flag.
        totals = [loss, Double(SoftmaxCrossEntropy.hits(ranks, within: 1)),
                  Double(SoftmaxCrossEntropy.hits(ranks, within: min(5, model.config.outputDim))), Double(b), localStop ? 1 : 0]
        if let dp = dataParallel {
            let t = now()
            try dp.communicator.allReduceSum(&totals)
            timing.communicationWaitSeconds += now() - t
        }
        stopRequested = totals[4] > 0
        timing.computeSeconds = now() - start - timing.communicationWaitSeconds
        lastTiming = timing
        return ClassifierStepResult(loss: totals[0], top1Hits: Int(totals[1]), top5Hits: Int(totals[2]), count: Int(totals[3]))
    }

    private func now() -> Double { Double(DispatchTime.now().uptimeNanoseconds) * 1e-9 }
}
