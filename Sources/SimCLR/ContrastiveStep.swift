import Cluster
import Contrastive
import Dispatch
import Kernels
import NeuralNet
import Optimizers

/// The optimizer's view of a model's flat parameter buffer: one segment per parameter tensor,
/// biases and BatchNorm affine terms marked for exclusion from weight decay and LARS adaptation.
public func parameterSegments(of model: ResNet18) -> [ParameterSegment] {
    model.parameters.map {
        ParameterSegment(name: $0.name, offset: $0.offset, count: $0.count,
                         excludedFromDecayAndAdaptation: $0.kind.isExcludedFromDecay)
    }
}

/// Where a step's time went, for logs and the scaling benchmark.
public struct StepTiming {
    /// Forward, loss, backward and optimizer, without waiting for other ranks.
    public var computeSeconds: Double = 0
    /// Blocked in communication that overlap did not hide (gradient buckets, embedding gather, reductions).
    public var communicationWaitSeconds: Double = 0
    /// Total time the gradient all-reduce took on its thread (hidden or not).
    public var gradientCommunicationSeconds: Double = 0
}

/// One SimCLR training step: both views as one batch of 2N images (so BatchNorm statistics cover all
/// 2N), InfoNCE over the 2N embeddings, backward, optimizer step. With `dataParallel`, N is this rank's
/// share and the loss, BatchNorm statistics and gradients are those of the global batch.
public final class ContrastiveStep {
    public let model: ResNet18
    public let loss: InfoNCELoss
    public let optimizer: Optimizer
    public let dataParallel: DataParallel?
    public private(set) var lastTiming = StepTiming()
    private var embeddingGradient = Tensor(shape: [0])
    private var gathered = Tensor(shape: [0]), globalGradient = Tensor(shape: [0])
    /// Global rows this rank computes the loss for; recomputed only when the batch shape changes.
    private var anchors: [Int] = []
    private var totals = [Double](repeating: 0, count: 6)
    /// Set when a stop was requested on any rank during the last step (the ranks agree through the reduction).
    public private(set) var stopRequested = false

    public init(model: ResNet18, loss: InfoNCELoss, optimizer: Optimizer, dataParallel: DataParallel? = nil) {
        self.model = model; self.loss = loss; self.optimizer = optimizer; self.dataParallel = dataParallel
        if let dp = dataParallel { model.onGradientsReady = { [reducer = dp.reducer] in reducer.gradientsReady($0) } }
    }

    /// `views` is [2N, 3, H, W] laid out [view 1 of all N images; view 2 of all N images].
    /// `localStop` is this rank's wish to stop after the step (Ctrl-C); every rank learns of it.
    @discardableResult
    public func run(views: Tensor, learningRate: Float, localStop: Bool = false) throws -> InfoNCEResult {
        guard let dp = dataParallel else { return runSingle(views: views, learningRate: learningRate) }
        var timing = StepTiming()
        let start = now()
        model.isTraining = true
        dp.reducer.beginStep()
        let z = model.forward(views)
        let (twoB, d) = (z.shape[0], z.shape[1])
        let b = twoB / 2, world = dp.size
        if gathered.shape != [world * twoB, d] {
            gathered = Tensor(shape: [world * twoB, d])
            globalGradient = Tensor(shape: [world * twoB, d])
            embeddingGradient = Tensor(shape: z.shape)
            anchors = dp.anchors(localBatch: b)
        }
        var t = now()
        try dp.gather.gatherViews(z, into: gathered)
        timing.communicationWaitSeconds += now() - t
        // Loss rows of this rank's anchors against all 2B embeddings, normalized by the global 2B:
        // the ranks' partial losses and gradients add up to the single-process ones.
        let partial = StepProfile.measure(.loss) {
            loss.compute(embeddings: gathered, anchors: anchors, normalization: world * twoB,
                         gradient: globalGradient)
        }
        t = now()
        if dp.fault == .localGatherGradient {
            // The known bug: keep only this rank's partial gradient for its rows.
            keepLocalRows(of: globalGradient, into: embeddingGradient, rank: dp.rank, world: world, b: b, d: d)
        } else {
            try dp.gather.viewsBackward(globalGradient, into: embeddingGradient)
        }
        timing.communicationWaitSeconds += now() - t
        model.backward(embeddingGradient)
        let reduction = try dp.reducer.finishStep()
        timing.communicationWaitSeconds += reduction.blockedSeconds
        timing.gradientCommunicationSeconds = reduction.communicationSeconds
        StepProfile.measure(.optimizer) {
            optimizer.step(parameters: model.flatParameters, gradients: model.flatGradients, learningRate: learningRate)
        }
        // One small reduction: loss, metric counts and the stop flag.
        let m = partial.metrics
        totals[0] = partial.loss; totals[1] = Double(m.anchors); totals[2] = Double(m.top1Hits)
        totals[3] = Double(m.top5Hits); totals[4] = Double(m.rankSum); totals[5] = localStop ? 1 : 0
        t = now()
        try dp.communicator.allReduceSum(&totals)
        timing.communicationWaitSeconds += now() - t
        stopRequested = totals[5] > 0
        timing.computeSeconds = now() - start - timing.communicationWaitSeconds
        lastTiming = timing
        return InfoNCEResult(loss: totals[0], metrics: ContrastiveMetrics(anchors: Int(totals[1]), top1Hits: Int(totals[2]),
                                                                           top5Hits: Int(totals[3]), rankSum: Int(totals[4])))
    }

    private func runSingle(views: Tensor, learningRate: Float) -> InfoNCEResult {
        let start = now()
        model.isTraining = true
        let z = model.forward(views)
        if embeddingGradient.shape != z.shape { embeddingGradient = Tensor(shape: z.shape) }
        let result = StepProfile.measure(.loss) { loss.compute(embeddings: z, gradient: embeddingGradient) }
        model.backward(embeddingGradient)
        StepProfile.measure(.optimizer) {
            optimizer.step(parameters: model.flatParameters, gradients: model.flatGradients, learningRate: learningRate)
        }
        lastTiming = StepTiming(computeSeconds: now() - start)
        return result
    }

    /// Rows r*b..<(r+1)*b and B + r*b..<B + (r+1)*b of the global gradient, in the local layout, unsummed.
    private func keepLocalRows(of global: Tensor, into local: Tensor, rank r: Int, world: Int, b: Int, d: Int) {
        let B = world * b
        for view in 0..<2 {
            let from = (view * B + r * b) * d
            local.view(offset: view * b * d, shape: [b * d]).copy(from: global.view(offset: from, shape: [b * d]))
        }
    }

    private func now() -> Double { Double(DispatchTime.now().uptimeNanoseconds) * 1e-9 }
}
