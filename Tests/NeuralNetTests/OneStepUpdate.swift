import Contrastive
import Foundation
import Kernels
import NeuralNet
import Optimizers

/// One SimCLR training step's parameter update, compared with a float64 update from a fixture
/// (make_bf16_step_fixture.py, make_fp32_step_fixture.py).
enum OneStepUpdate {
    /// The update of one SGD step (lr 0.1, zero momentum, no decay) of InfoNCE at `temperature` on `views`
    /// ([2N, 3, H, W], the two views stacked), by parameter name.
    static func update(of model: ResNet, views: Tensor, temperature: Float) -> [String: [Float]] {
        let before = model.flatParameters.array
        let z = model.forward(views)
        let gradient = Tensor(shape: z.shape)
        InfoNCELoss(config: InfoNCEConfig(temperature: temperature)).compute(embeddings: z, gradient: gradient)
        model.backward(gradient)
        let segments = model.parameters.map {
            ParameterSegment(name: $0.name, offset: $0.offset, count: $0.count, excludedFromDecayAndAdaptation: $0.kind.isExcludedFromDecay)
        }
        SGD(momentum: 0.9, weightDecay: 0, segments: segments)
            .step(parameters: model.flatParameters, gradients: model.flatGradients, learningRate: 0.1)
        let after = model.flatParameters.array
        var out: [String: [Float]] = [:]
        for p in model.parameters { out[p.name] = (p.offset..<(p.offset + p.count)).map { after[$0] - before[$0] } }
        return out
    }

    /// The float64 update stored in a fixture as `update64.<name>`.
    static func reference(in fixture: [String: SafetensorsEntry]) -> [String: [Float]] {
        var reference: [String: [Float]] = [:]
        for (key, entry) in fixture where key.hasPrefix("update64.") { reference[String(key.dropFirst("update64.".count))] = entry.floats() }
        return reference
    }

    struct Deviation {
        /// ||update - reference|| / ||reference|| over all parameters.
        var global: Double
        /// The largest per-tensor value of the same ratio, and its tensor.
        var worst: Double, worstTensor: String
        var perTensor: [String: Double]
    }

    static func deviation(_ update: [String: [Float]], from reference: [String: [Float]]) -> Deviation {
        var num = 0.0, den = 0.0
        var per: [String: Double] = [:]
        for (name, ref) in reference {
            let got = update[name]!
            var n = 0.0, d = 0.0
            for i in 0..<ref.count { let e = Double(got[i]) - Double(ref[i]); n += e * e; d += Double(ref[i]) * Double(ref[i]) }
            num += n; den += d
            if d > 0 { per[name] = (n / d).squareRoot() }
        }
        let worst = per.max { $0.value < $1.value }!
        return Deviation(global: (num / den).squareRoot(), worst: worst.value, worstTensor: worst.key, perTensor: per)
    }
}
