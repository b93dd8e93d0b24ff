import Kernels

/// A second forward and backward through the same network in one step (docs/multi-crop.md, note 'Two
/// forwards'), as PyTorch runs one module on two batches: a twin of `owner` (the same layers reading and
/// updating the owner's parameters and BatchNorm running statistics, with its own activations and gradients)
/// takes the second batch, which may have another resolution, so each batch is normalized and pooled alone.
///
/// Gradients of the two passes add up: the owner's backward runs first and writes the owner's gradients;
/// the twin's backward then adds each parameter's gradient to the owner's as it becomes final. After
/// `takeOverGradientReadiness()` it also reports the sum ready through the owner's gradient readiness hooks,
/// which it takes from the owner: the hooks then fire once per step, during the second backward.
public final class ResNetTwin {
    public let owner: ResNet
    public let twin: ResNet

    public init(of owner: ResNet) {
        self.owner = owner
        twin = ResNet(config: owner.config, sharingParametersWith: owner)
        twin.precision = owner.precision
        twin.convAlgorithm = owner.convAlgorithm
        twin.computesInputGradient = owner.computesInputGradient
        // SyncBN: the twin's BatchNorms sum their statistics over the ranks as the owner's do.
        for (t, o) in zip(twin.batchNorms, owner.batchNorms) { t.reducer = o.reducer }
        for (p, target) in zip(twin.parameters, owner.parameters) {
            p.onGradientReady = { p in Elementwise.add(p.gradient, into: target.gradient) }
        }
    }

    /// Moves the owner's gradient readiness hooks (the gradient buckets' reports) to the twin: each is called
    /// after the twin added its gradient to the owner's, and the owner's first backward no longer reports.
    public func takeOverGradientReadiness() {
        for (p, target) in zip(twin.parameters, owner.parameters) {
            let hook = target.onGradientReady
            p.onGradientReady = { p in
                Elementwise.add(p.gradient, into: target.gradient)
                hook?(target)
            }
        }
        owner.registry.setGradientReadyHook(nil)
    }

    /// The second batch [N, 3, H', W'] -> its output. Run it after the owner's forward: the running statistics
    /// then see the owner's batch first, and `num_batches_tracked` counts both passes.
    public func forward(_ images: Tensor, throughHead: Bool = true) -> Tensor {
        twin.isTraining = owner.isTraining
        let out = twin.forward(images, throughHead: throughHead)
        for (t, o) in zip(twin.batchNorms, owner.batchNorms) {
            o.numBatchesTracked += t.numBatchesTracked
            t.numBatchesTracked = 0
        }
        return out
    }

    /// After the owner's backward: adds this pass's parameter gradients to the owner's.
    public func backward(_ gradOutput: Tensor, throughHead: Bool = true) {
        twin.backward(gradOutput, throughHead: throughHead)
    }
}
