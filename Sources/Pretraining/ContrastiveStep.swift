import Cluster
import Contrastive
import Datasets
import Kernels
import NeuralNet
import Tracing
import Training

/// A contrastive method's step math together with the data-parallel step it runs through. `run(views:...)`
/// is one whole step (benchmarks and tests call it); the trainer runs the math through its own
/// `DataParallelStep`, the same one.
public protocol PretrainingStep: StepMath {
    var tail: DataParallelStep { get }
}

extension PretrainingStep {
    /// One whole step on `views` [2b, 3, H, W] (view 1 of this rank's b images, then view 2 of the same
    /// images) and, for a multi-crop step, its `smallViews`. `localStop` is this rank's wish to stop after
    /// the step; every rank learns of it. Returns the global batch's loss and metrics.
    @discardableResult
    public func run(views: Tensor, smallViews: Tensor? = nil, learningRate: Float, localStop: Bool = false) throws -> InfoNCEResult {
        let totals = try tail.run(self, Batch(images: views, views: 2, smallImages: smallViews), learningRate: learningRate,
                                  localStop: localStop)
        return InfoNCEResult(loss: totals.loss, metrics: ContrastiveMetrics(anchors: totals.rows, top1Hits: totals.top1Hits,
                                                                             top5Hits: totals.top5Hits, rankSum: totals.rankSum))
    }

    public var model: ResNet { tail.model }
    public var dataParallel: DataParallel { tail.dataParallel }
    /// Where the last step's time went.
    public var lastTiming: StepTiming { tail.lastTiming }
}

/// SimCLR's step math: both views of this rank's b images as one batch of 2b (so BatchNorm statistics cover
/// all views), the embeddings gathered into the global [2B, D], InfoNCE over them, backward. Loss, BatchNorm
/// statistics and gradients are those of the global batch; a process without MPI is a world of one, where
/// B = b and every collective is a copy. docs/distributed-step.md follows these lines one by one; the
/// gradient sum and the update are the shared tail's (`DataParallelStep`).
public final class ContrastiveStep: PretrainingStep {
    public let tail: DataParallelStep
    public let loss: InfoNCELoss
    private var gatheredBuffer = ReusableTensor(), globalGradientBuffer = ReusableTensor()
    private var embeddingGradientBuffer = ReusableTensor()
    /// Global rows this rank computes the loss for, and the local batch they are for (recomputed when it changes).
    private var anchors: [Int] = [], anchorsLocalBatch = 0
    /// Multi-crop's small views (docs/multi-crop.md); nil without.
    private let smallCrops: SmallCropBranch?

    /// With `multiCrop` every step also takes small views.
    public init(tail: DataParallelStep, loss: InfoNCELoss, multiCrop: Bool = false) {
        self.tail = tail
        self.loss = loss
        smallCrops = multiCrop ? SmallCropBranch(model: tail.model, loss: loss.config, dataParallel: tail.dataParallel) : nil
    }

    /// `batch.images` is [2b, 3, H, W] laid out [view 1 of this rank's b images; view 2 of the same images];
    /// `batch.smallImages` (multi-crop, and only then) [N*b, 3, s, s], small view k of the same images at rows
    /// k*b..<(k+1)*b.
    public func forwardBackward(_ batch: Batch, clock: inout StepClock) throws -> StepTotals {
        let views = batch.images, smallViews = batch.smallImages
        precondition((smallViews != nil) == (smallCrops != nil), "small views go with a multi-crop step, and only there")
        let world = dataParallel
        let (z, small) = StepTrace.measure(StepSpans.forward) {
            (model.forward(views),                                          // [2b, D]
             smallViews.map { smallCrops!.forward($0) })                    // [N*b, D], after the global views (note 'Two forwards')
        }
        let (gathered, globalGradient, embeddingGradient) = buffers(local: z.shape)
        let rows = Int64(z.shape[0])
        try StepTrace.measure(StepSpans.gather, argument: rows) {
            try clock.waiting { try world.gatherViews(z, into: gathered) }  // [2B, D], note 'Gather'
        }
        // The loss rows of this rank's anchors against all 2B embeddings, divided by the global 2B: the ranks'
        // partial losses and gradients add up to the single-process ones (note 'Loss rows').
        // With small crops, every small view adds two terms to the mean (docs/multi-crop.md, note 'Loss').
        let terms = gathered.shape[0] + 2 * world.size * (small?.shape[0] ?? 0)
        let (partial, partialLoss) = StepTrace.measure(StepSpans.loss) { () -> (InfoNCEResult, Double) in
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
            return (partial, partialLoss)
        }
        try StepTrace.measure(StepSpans.gatherBackward, argument: rows) {
            try clock.waiting { try world.gatherViewsBackward(globalGradient, into: embeddingGradient) }  // note 'Gather backward'
        }
        StepTrace.measure(StepSpans.backward) {
            model.backward(embeddingGradient)              // each parameter reports its gradient final: buckets start
            smallCrops?.backward()                         // multi-crop: the buckets start here instead
        }
        let m = partial.metrics
        return StepTotals(loss: partialLoss, rows: m.anchors, top1Hits: m.top1Hits, top5Hits: m.top5Hits, rankSum: m.rankSum)
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
