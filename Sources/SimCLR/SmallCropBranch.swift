import Contrastive
import Kernels
import NeuralNet

/// Multi-crop's second forward and backward in a contrastive step (docs/multi-crop.md, notes 'Two forwards'
/// and 'Loss'): the small views of this rank's images go through a twin of the model, one that reads and
/// updates the model's own parameters and BatchNorm running statistics but keeps its own activations and
/// gradients, so each batch normalizes and pools at one resolution.
///
/// Gradients: the model's backward (global views) runs first and writes the model's gradients without
/// reporting them; the twin's backward then adds each parameter's small-crop gradient to the model's and
/// reports the sum ready, so the gradient buckets start during the second backward and are reduced once per
/// step. (The model's gradient readiness hooks move to the twin when the branch is made: overlap covers the
/// second backward only.)
final class SmallCropBranch {
    let twin: ResNet
    let loss: SmallCropLoss
    private let model: ResNet
    private let dataParallel: DataParallel
    private var gradient = Tensor(shape: [0])
    private var images: [Int] = []

    init(model: ResNet, loss: InfoNCEConfig, dataParallel: DataParallel) {
        self.model = model
        self.dataParallel = dataParallel
        self.loss = SmallCropLoss(config: loss)
        twin = ResNet(config: model.config, sharingParametersWith: model)
        twin.precision = model.precision
        // SyncBN: the twin's BatchNorms sum their statistics over the ranks as the model's do.
        for (t, m) in zip(twin.batchNorms, model.batchNorms) { t.reducer = m.reducer }
        let hooks = model.parameters.map(\.onGradientReady)
        for (p, (target, hook)) in zip(twin.parameters, zip(model.parameters, hooks)) {
            p.onGradientReady = { p in
                Elementwise.add(p.gradient, into: target.gradient)
                hook?(target)
            }
        }
        model.registry.setGradientReadyHook(nil)
    }

    /// This rank's small views [N*b, 3, s, s] -> their embeddings [N*b, D]. Runs after the model's forward of
    /// the global views, so the running statistics see the global batch first and then the small one, and
    /// `num_batches_tracked` counts both, as one PyTorch module run twice would.
    func forward(_ views: Tensor) -> Tensor {
        twin.isTraining = model.isTraining
        let z = twin.forward(views)
        for (t, m) in zip(twin.batchNorms, model.batchNorms) {
            m.numBatchesTracked += t.numBatchesTracked
            t.numBatchesTracked = 0
        }
        return z
    }

    /// Adds the small crops' terms to the loss (returned, divided by `normalization`) and their gradient
    /// w.r.t. the gathered global rows to `globalGradient`; keeps the gradient w.r.t. the small rows for
    /// `backward`. The local small rows need no gather: no rank's terms hold another rank's small crops.
    func compute(global: Tensor, small: Tensor, localBatch b: Int, normalization: Int, globalGradient: Tensor) -> Double {
        if gradient.shape != small.shape {
            gradient = Tensor(shape: small.shape)
            // Small view k of local image i is row k*b + i; its image is global image r*b + i.
            images = (0..<small.shape[0]).map { dataParallel.rank * b + $0 % b }
        }
        return loss.compute(global: global, small: small, images: images, normalization: normalization,
                            globalGradient: globalGradient, smallGradient: gradient)
    }

    /// The twin's backward: each parameter's gradient is added to the model's, which is then reported ready.
    func backward() { twin.backward(gradient) }
}
