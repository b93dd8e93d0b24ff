import Contrastive
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

/// One SimCLR training step in one process: both views as one batch of 2N images (so BatchNorm
/// statistics cover all 2N), InfoNCE over the 2N embeddings, backward, optimizer step.
public final class ContrastiveStep {
    public let model: ResNet18
    public let loss: InfoNCELoss
    public let optimizer: Optimizer
    private var embeddingGradient = Tensor(shape: [0])

    public init(model: ResNet18, loss: InfoNCELoss, optimizer: Optimizer) {
        self.model = model; self.loss = loss; self.optimizer = optimizer
    }

    /// `views` is [2N, 3, H, W] laid out [view 1 of all N images; view 2 of all N images].
    @discardableResult
    public func run(views: Tensor, learningRate: Float) -> InfoNCEResult {
        model.isTraining = true
        let z = model.forward(views)
        if embeddingGradient.shape != z.shape { embeddingGradient = Tensor(shape: z.shape) }
        let result = StepProfile.measure(.loss) { loss.compute(embeddings: z, gradient: embeddingGradient) }
        model.backward(embeddingGradient)
        StepProfile.measure(.optimizer) {
            optimizer.step(parameters: model.flatParameters, gradients: model.flatGradients, learningRate: learningRate)
        }
        return result
    }
}
