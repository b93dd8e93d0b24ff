import Cluster
import Contrastive
import Kernels
import NeuralNet
import Optimizers
import Training

/// What the pretraining loop asks of a method's step (SimCLR's `ContrastiveStep`, MoCo's `MoCoStep`).
public protocol PretrainingStep: AnyObject {
    /// `views` is [2b, 3, H, W]: view 1 of this rank's b images, then view 2 of the same images; `smallViews`
    /// the multi-crop small views, for a step built for them. Returns the global batch's loss and metrics.
    func run(views: Tensor, smallViews: Tensor?, learningRate: Float, localStop: Bool) throws -> InfoNCEResult
    /// A stop was requested on some rank during the last step.
    var stopRequested: Bool { get }
    var lastTiming: StepTiming { get }
}

/// One SimCLR training step: both views of this rank's b images as one batch of 2b (so BatchNorm statistics
/// cover all views), the embeddings gathered into the global [2B, D], InfoNCE over them, backward, the
/// gradients summed over ranks, one optimizer step. Loss, BatchNorm statistics and gradients are those of the
/// global batch; a process without MPI is a world of one, where B = b and every collective is a copy.
/// docs/distributed-step.md follows these lines one by one.
public final class ContrastiveStep: PretrainingStep {
    public let model: ResNet
    public let loss: InfoNCELoss
    public let optimizer: Optimizer
    public let dataParallel: DataParallel
    public private(set) var lastTiming = StepTiming()
    /// Set when a stop was requested on any rank during the last step (the ranks agree through the totals).
    public private(set) var stopRequested = false
    private var gatheredBuffer = ReusableTensor(), globalGradientBuffer = ReusableTensor()
    private var embeddingGradientBuffer = ReusableTensor()
    /// Global rows this rank computes the loss for, and the local batch they are for (recomputed when it changes).
    private var anchors: [Int] = [], anchorsLocalBatch = 0
    /// Multi-crop's small views (docs/multi-crop.md); nil without.
    private let smallCrops: SmallCropBranch?

    /// Without `dataParallel` the step runs in a world of one. With `multiCrop` every step also takes small views.
    public init(model: ResNet, loss: InfoNCELoss, optimizer: Optimizer, dataParallel: DataParallel? = nil,
                multiCrop: Bool = false) {
        self.model = model; self.loss = loss; self.optimizer = optimizer
        let dataParallel = dataParallel ?? .singleProcess(model: model)
        self.dataParallel = dataParallel
        smallCrops = multiCrop ? SmallCropBranch(model: model, loss: loss.config, dataParallel: dataParallel) : nil
    }

    /// `views` is [2b, 3, H, W] laid out [view 1 of this rank's b images; view 2 of the same images];
    /// `smallViews` (multi-crop, and only then) [N*b, 3, s, s], small view k of the same images at rows k*b..<(k+1)*b.
    /// `localStop` is this rank's wish to stop after the step (Ctrl-C); every rank learns of it.
    @discardableResult
    public func run(views: Tensor, smallViews: Tensor? = nil, learningRate: Float, localStop: Bool = false) throws -> InfoNCEResult {
        precondition((smallViews != nil) == (smallCrops != nil), "small views go with a multi-crop step, and only there")
        let world = dataParallel
        var clock = StepClock()
        model.isTraining = true
        world.beginStep()
        let z = model.forward(views)                                     // [2b, D]
        let small = smallViews.map { smallCrops!.forward($0) }          // [N*b, D], after the global views (note 'Two forwards')
        let (gathered, globalGradient, embeddingGradient) = buffers(local: z.shape)
        try clock.waiting { try world.gatherViews(z, into: gathered) }  // [2B, D], note 'Gather'
        // The loss rows of this rank's anchors against all 2B embeddings, divided by the global 2B: the ranks'
        // partial losses and gradients add up to the single-process ones (note 'Loss rows').
        // With small crops, every small view adds two terms to the mean (docs/multi-crop.md, note 'Loss').
        let terms = gathered.shape[0] + 2 * world.size * (small?.shape[0] ?? 0)
        let partial = StepProfile.measure(.loss) {
            loss.compute(embeddings: gathered, anchors: anchors, normalization: terms, gradient: globalGradient)
        }
        var partialLoss = partial.loss
        if let small, let smallCrops {
            partialLoss += StepProfile.measure(.loss) {
                smallCrops.compute(global: gathered, small: small, localBatch: z.shape[0] / 2, normalization: terms,
                                   globalGradient: globalGradient)
            }
        }
        try clock.waiting { try world.gatherViewsBackward(globalGradient, into: embeddingGradient) }  // note 'Gather backward'
        model.backward(embeddingGradient)              // each parameter reports its gradient final: buckets start
        smallCrops?.backward()                         // multi-crop: the buckets start here instead
        let gradients = try world.finishGradients()    // every gradient summed over the ranks (note 'Gradient sum')
        StepProfile.measure(.optimizer) {
            optimizer.step(parameters: model.flatParameters, gradients: model.flatGradients, learningRate: learningRate)
        }
        let m = partial.metrics
        var totals = StepTotals(loss: partialLoss, rows: m.anchors, top1Hits: m.top1Hits, top5Hits: m.top5Hits,
                                rankSum: m.rankSum, stopRequested: localStop)
        try clock.waiting { try world.sum(&totals) }  // note 'Step totals'
        stopRequested = totals.stopRequested
        lastTiming = clock.timing(gradients: gradients)
        return InfoNCEResult(loss: totals.loss, metrics: ContrastiveMetrics(anchors: totals.rows, top1Hits: totals.top1Hits,
                                                                             top5Hits: totals.top5Hits, rankSum: totals.rankSum))
    }

    /// Model FLOPs of the last step's passes by kind (`ResNet.lastTrainingStepFLOPs`), the small crops' included.
    public var lastTrainingStepFLOPs: (convolution: Double, head: Double) {
        let global = model.lastTrainingStepFLOPs
        guard let twin = smallCrops?.twin.twin else { return global }
        let small = twin.lastTrainingStepFLOPs
        return (global.convolution + small.convolution, global.head + small.head)
    }

    /// The gathered matrix, its gradient and the local gradient for local embeddings of `shape` [2b, D], kept
    /// from step to step; the anchors follow the local batch.
    private func buffers(local shape: [Int]) -> (gathered: Tensor, globalGradient: Tensor, embeddingGradient: Tensor) {
        let global = [dataParallel.size * shape[0], shape[1]]
        if anchorsLocalBatch != shape[0] / 2 {
            anchorsLocalBatch = shape[0] / 2
            anchors = dataParallel.anchors(localBatch: anchorsLocalBatch)
        }
        return (gatheredBuffer.get(global), globalGradientBuffer.get(global), embeddingGradientBuffer.get(shape))
    }
}
