import Evaluation
import Kernels
import NeuralNet
import Optimizers
import Training

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
/// backward -> gradients summed over ranks -> optimizer step. `images` are this rank's share of the global
/// batch B: the loss of each rank is its rows' cross-entropy divided by B (not by its own count), so the
/// summed gradient (`DataParallel` sums, it does not average) is the gradient of the mean over the global
/// batch, as one process with batch B computes it; BatchNorm is global with SyncBN. Without `dataParallel`
/// the step runs in a world of one.
public final class ClassifierStep {
    public let model: ResNet
    public let optimizer: Optimizer
    public let dataParallel: DataParallel
    public private(set) var lastTiming = StepTiming()
    /// Set when a stop was requested on any rank during the last step (the ranks agree through the totals).
    public private(set) var stopRequested = false
    private var logitGradient = Tensor(shape: [0])

    public init(model: ResNet, optimizer: Optimizer, dataParallel: DataParallel? = nil) {
        self.model = model; self.optimizer = optimizer
        self.dataParallel = dataParallel ?? .singleProcess(model: model)
    }

    /// `images` [b, 3, H, W] with their `labels`; every rank passes the same number of images.
    /// `localStop` is this rank's wish to stop after the step (Ctrl-C); every rank learns of it.
    @discardableResult
    public func run(images: Tensor, labels: [Int], learningRate: Float, localStop: Bool = false) throws -> ClassifierStepResult {
        let world = dataParallel
        var clock = StepClock()
        model.isTraining = true
        world.beginStep()
        let logits = model.forward(images)
        let b = labels.count
        precondition(logits.shape == [b, model.config.outputDim], "logits \(logits.shape) for \(b) labels")
        if logitGradient.shape != logits.shape { logitGradient = Tensor(shape: logits.shape) }
        let loss = StepProfile.measure(.loss) {
            SoftmaxCrossEntropy.loss(logits: logits, labels: labels, normalization: world.lossNormalization(localBatch: b),
                                     gradient: logitGradient)
        }
        let ranks = SoftmaxCrossEntropy.ranks(logits: logits, labels: labels)
        model.backward(logitGradient)                  // each parameter reports its gradient final: buckets start
        let gradients = try world.finishGradients()    // every gradient summed over the ranks
        StepProfile.measure(.optimizer) {
            optimizer.step(parameters: model.flatParameters, gradients: model.flatGradients, learningRate: learningRate)
        }
        var totals = StepTotals(loss: loss, rows: b, top1Hits: SoftmaxCrossEntropy.hits(ranks, within: 1),
                                top5Hits: SoftmaxCrossEntropy.hits(ranks, within: min(5, model.config.outputDim)),
                                stopRequested: localStop)
        try clock.waiting { try world.sum(&totals) }
        stopRequested = totals.stopRequested
        lastTiming = clock.timing(gradients: gradients)
        return ClassifierStepResult(loss: totals.loss, top1Hits: totals.top1Hits, top5Hits: totals.top5Hits, count: totals.rows)
    }
}
