import Cluster
import Contrastive
import Kernels
import NeuralNet
import Optimizers
import Training

/// One MoCo v2 step on W ranks (docs/moco.md follows these lines note by note): the query encoder on view 1,
/// the key encoder (after its momentum update) on view 2 with global-batch BatchNorm, the loss of this rank's
/// queries against their keys and the queue divided by the global batch, backward, gradients summed over
/// ranks, one optimizer step, then the keys of the whole global batch enqueued in global-batch order. W ranks
/// with per-rank batch b compute what one process computes with B = W * b.
public final class MoCoStep: PretrainingStep {
    public let model: ResNet
    public let state: MoCoState
    public let loss: MoCoLoss
    public let optimizer: Optimizer
    public let dataParallel: DataParallel
    public private(set) var lastTiming = StepTiming()
    public private(set) var stopRequested = false
    private var keysBuffer = ReusableTensor(), globalKeysBuffer = ReusableTensor(), queryGradientBuffer = ReusableTensor()

    public init(model: ResNet, state: MoCoState, loss: MoCoLoss, optimizer: Optimizer, dataParallel: DataParallel) {
        self.model = model; self.state = state; self.loss = loss; self.optimizer = optimizer
        self.dataParallel = dataParallel
    }

    /// `views` is [2b, 3, H, W]: view 1 of this rank's b images, then view 2 of the same images. MoCo takes no
    /// small views (the pretrainer refuses multi-crop with MoCo).
    @discardableResult
    public func run(views: Tensor, smallViews: Tensor? = nil, learningRate: Float, localStop: Bool = false) throws -> InfoNCEResult {
        precondition(smallViews == nil, "MoCo's step has no multi-crop")
        let world = dataParallel, key = state.keyEncoder
        var clock = StepClock()
        let b = views.shape[0] / 2, imageSize = views.count / views.shape[0]
        let shape = [b] + Array(views.shape.dropFirst())
        let view1 = views.view(offset: 0, shape: shape), view2 = views.view(offset: b * imageSize, shape: shape)
        model.isTraining = true
        key.isTraining = true  // its BatchNorm normalizes with (global) batch statistics and updates running ones
        world.beginStep()
        let q = model.forward(view1)                                      // [b, D], note 'Queries'
        state.momentumUpdate(from: model)                                 // note 'Momentum update'
        let rawKeys = key.forward(view2)                                  // [b, D], SyncBN: note 'Key BatchNorm'
        let keys = keysBuffer.get(q.shape), queryGradient = queryGradientBuffer.get(q.shape)
        let globalKeys = globalKeysBuffer.get([world.size * q.shape[0], q.shape[1]])
        MoCoLoss.normalizeRows(rawKeys, into: keys)
        // This rank's queries only, divided by the global B: the ranks' losses and gradients add up to the
        // single-process ones, and a query's gradient needs no other rank's rows (note 'Loss rows').
        let partial = StepProfile.measure(.loss) {
            loss.compute(queries: q, keys: keys, queue: state.queue.keys, normalization: world.size * b, gradient: queryGradient)
        }
        model.backward(queryGradient)
        let gradients = try world.finishGradients()                       // summed over the ranks
        StepProfile.measure(.optimizer) {
            optimizer.step(parameters: model.flatParameters, gradients: model.flatGradients, learningRate: learningRate)
        }
        // Every rank's keys in rank order: the sampler's contiguous shards make this the global batch's order,
        // so every rank enqueues what one process would (note 'Enqueue').
        try clock.waiting { try world.gather.allGatherRows(keys, into: globalKeys) }
        state.queue.enqueue(globalKeys)
        let m = partial.metrics
        var totals = StepTotals(loss: partial.loss, rows: m.anchors, top1Hits: m.top1Hits, top5Hits: m.top5Hits,
                                rankSum: m.rankSum, stopRequested: localStop)
        try clock.waiting { try world.sum(&totals) }
        stopRequested = totals.stopRequested
        lastTiming = clock.timing(gradients: gradients)
        return InfoNCEResult(loss: totals.loss, metrics: ContrastiveMetrics(anchors: totals.rows, top1Hits: totals.top1Hits,
                                                                             top5Hits: totals.top5Hits, rankSum: totals.rankSum))
    }

}
