import Cluster
import Contrastive
import Datasets
import Kernels
import NeuralNet
import Training

/// MoCo v2's step math on W ranks (docs/moco.md follows these lines note by note): the query encoder on view
/// 1, the key encoder (after its momentum update) on view 2 with global-batch BatchNorm, the loss of this
/// rank's queries against their keys and the queue divided by the global batch, backward; after the shared
/// tail's update (`DataParallelStep`), the keys of the whole global batch enqueued in global-batch order. W
/// ranks with per-rank batch b compute what one process computes with B = W * b.
public final class MoCoStep: PretrainingStep {
    public let tail: DataParallelStep
    public let state: MoCoState
    public let loss: MoCoLoss
    private var keysBuffer = ReusableTensor(), globalKeysBuffer = ReusableTensor(), queryGradientBuffer = ReusableTensor()

    public init(tail: DataParallelStep, state: MoCoState, loss: MoCoLoss) {
        self.tail = tail; self.state = state; self.loss = loss
    }

    /// `batch.images` is [2b, 3, H, W]: view 1 of this rank's b images, then view 2 of the same images. MoCo
    /// takes no small views (the pretrainer refuses multi-crop with MoCo).
    public func forwardBackward(_ batch: Batch, clock: inout StepClock) throws -> StepTotals {
        precondition(batch.smallImages == nil, "MoCo's step has no multi-crop")
        let views = batch.images, world = dataParallel, key = state.keyEncoder
        let b = views.shape[0] / 2, imageSize = views.count / views.shape[0]
        let shape = [b] + Array(views.shape.dropFirst())
        let view1 = views.view(offset: 0, shape: shape), view2 = views.view(offset: b * imageSize, shape: shape)
        key.isTraining = true  // its BatchNorm normalizes with (global) batch statistics and updates running ones
        let q = model.forward(view1)                                      // [b, D], note 'Queries'
        state.momentumUpdate(from: model)                                 // note 'Momentum update'
        let rawKeys = key.forward(view2)                                  // [b, D], SyncBN: note 'Key BatchNorm'
        let keys = keysBuffer.get(q.shape), queryGradient = queryGradientBuffer.get(q.shape)
        MoCoLoss.normalizeRows(rawKeys, into: keys)
        // This rank's queries only, divided by the global B: the ranks' losses and gradients add up to the
        // single-process ones, and a query's gradient needs no other rank's rows (note 'Loss rows').
        let partial = StepProfile.measure(.loss) {
            loss.compute(queries: q, keys: keys, queue: state.queue.keys, normalization: world.size * b, gradient: queryGradient)
        }
        model.backward(queryGradient)
        let m = partial.metrics
        return StepTotals(loss: partial.loss, rows: m.anchors, top1Hits: m.top1Hits, top5Hits: m.top5Hits, rankSum: m.rankSum)
    }

    /// Every rank's keys in rank order: the sampler's contiguous shards make this the global batch's order,
    /// so every rank enqueues what one process would (note 'Enqueue').
    public func afterUpdate(clock: inout StepClock) throws {
        let keys = keysBuffer.current
        let globalKeys = globalKeysBuffer.get([dataParallel.size * keys.shape[0], keys.shape[1]])
        try clock.waiting { try dataParallel.gather.allGatherRows(keys, into: globalKeys) }
        state.queue.enqueue(globalKeys)
    }
}
