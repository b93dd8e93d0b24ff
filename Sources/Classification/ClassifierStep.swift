import Datasets
import Evaluation
import Kernels
import NeuralNet
import Tracing
import Training

/// The classifiers' step math (the supervised baseline and fine-tuning): images -> ResNet + classifier head
/// -> softmax cross-entropy -> backward. `batch.images` are this rank's share of the global batch B: the loss
/// of each rank is its rows' cross-entropy divided by B (not by its own count), so the summed gradient (the
/// shared tail sums, it does not average) is the gradient of the mean over the global batch, as one process
/// with batch B computes it; BatchNorm is global with SyncBN.
public final class ClassifierStep: StepMath {
    public let tail: DataParallelStep
    private var logitGradient = ReusableTensor()

    public init(tail: DataParallelStep) { self.tail = tail }

    public var model: ResNet { tail.model }

    /// `batch.images` [b, 3, H, W] with their `labels`; every rank passes the same number of images.
    public func forwardBackward(_ batch: Batch, clock: inout StepClock) throws -> StepTotals {
        let logits = StepTrace.measure(StepSpans.forward) { model.forward(batch.images) }
        let labels = batch.labels, b = labels.count
        precondition(logits.shape == [b, model.config.outputDim], "logits \(logits.shape) for \(b) labels")
        let gradient = logitGradient.get(logits.shape)
        let (loss, ranks) = StepTrace.measure(StepSpans.loss) { () -> (Double, [Int]) in
            let loss = StepProfile.measure(.loss) {
                SoftmaxCrossEntropy.loss(logits: logits, labels: labels, normalization: tail.dataParallel.lossNormalization(localBatch: b),
                                         gradient: gradient)
            }
            return (loss, SoftmaxCrossEntropy.ranks(logits: logits, labels: labels))
        }
        // Each parameter reports its gradient final: buckets start.
        StepTrace.measure(StepSpans.backward) { model.backward(gradient) }
        return StepTotals(loss: loss, rows: b, top1Hits: SoftmaxCrossEntropy.hits(ranks, within: 1),
                          top5Hits: SoftmaxCrossEntropy.hits(ranks, within: min(5, model.config.outputDim)))
    }
}
