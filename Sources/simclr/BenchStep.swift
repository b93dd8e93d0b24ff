import Kernels
import NeuralNet

/// TEMPORARY surrogate step (loss = 0.5*|z|^2, plain SGD) until InfoNCE and the optimizers land.
final class TrainingStepForBench {
    let model: ResNet18
    let grad: Tensor
    init(model: ResNet18, batch: Int) {
        self.model = model
        grad = Tensor(shape: [batch, model.config.outputDim])
    }
    func run(_ images: Tensor) {
        let z = model.forward(images)
        StepProfile.measure(.loss) { grad.copy(from: z) }
        model.backward(grad)
        StepProfile.measure(.optimizer) {
            let p = model.flatParameters, g = model.flatGradients
            p.withUnsafeMutableBufferPointer { pp in g.withUnsafeBufferPointer { gp in
                for i in 0..<pp.count { pp[i] -= 1e-4 * gp[i] }
            } }
        }
    }
}
