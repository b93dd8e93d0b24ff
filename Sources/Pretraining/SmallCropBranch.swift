import Contrastive
import Kernels
import NeuralNet
import Training

/// Multi-crop's second forward and backward in a contrastive step (docs/multi-crop.md, notes 'Two forwards'
/// and 'Loss'): the small views of this rank's images go through a `ResNetTwin` of the model, so each batch
/// normalizes and pools at one resolution, and their loss terms join the global rows'. The model's gradient
/// readiness hooks (set by `DataParallel`) move to the twin: the buckets start during the second backward
/// (overlap covers that one only) and are reduced once per step.
final class SmallCropBranch {
    let twin: ResNetTwin
    let loss: SmallCropLoss
    private let dataParallel: DataParallel
    private var gradient = ReusableTensor()
    /// The global image index of every small row, for the local batch `imagesLocalBatch`.
    private var images: [Int] = [], imagesLocalBatch = 0

    init(model: ResNet, loss: InfoNCEConfig, dataParallel: DataParallel) {
        self.dataParallel = dataParallel
        self.loss = SmallCropLoss(config: loss)
        twin = ResNetTwin(of: model)
        twin.takeOverGradientReadiness()
    }

    /// This rank's small views [N*b, 3, s, s] -> their embeddings [N*b, D], after the global views' forward.
    func forward(_ views: Tensor) -> Tensor { twin.forward(views) }

    /// Adds the small crops' terms to the loss (returned, divided by `normalization`) and their gradient
    /// w.r.t. the gathered global rows to `globalGradient`; keeps the gradient w.r.t. the small rows for
    /// `backward`. The local small rows need no gather: no rank's terms hold another rank's small crops.
    func compute(global: Tensor, small: Tensor, localBatch b: Int, normalization: Int, globalGradient: Tensor) -> Double {
        if images.count != small.shape[0] || imagesLocalBatch != b {
            // Small view k of local image i is row k*b + i; its image is global image r*b + i.
            images = (0..<small.shape[0]).map { dataParallel.rank * b + $0 % b }
            imagesLocalBatch = b
        }
        return loss.compute(global: global, small: small, images: images, normalization: normalization,
                            globalGradient: globalGradient, smallGradient: gradient.get(small.shape))
    }

    /// The twin's backward: each parameter's gradient is added to the model's, which is then reported ready.
    func backward() { twin.backward(gradient.current) }
}
