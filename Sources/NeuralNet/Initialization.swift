import Foundation
import Kernels

/// torchvision's ResNet initialization (same distributions, not the same random numbers):
/// conv weights kaiming_normal_(mode="fan_out", nonlinearity="relu") -> N(0, 2/(out*kh*kw));
/// BatchNorm weight 1, bias 0, running mean 0, running var 1; Linear weight and bias
/// U(-1/sqrt(fan_in), 1/sqrt(fan_in)) (PyTorch's nn.Linear default).
public enum Initialization {
    public static func torchvisionDefaults(_ registry: ParameterRegistry, seed: UInt64) {
        for (index, p) in registry.parameters.enumerated() {
            // One stream per parameter so adding a head does not change the backbone's weights.
            var rng = SplitMix64(.modelInit, seed: seed, key: index)
            let t = p.value!
            switch p.kind {
            case .convWeight:
                let fanOut = p.shape[0] * p.shape[2] * p.shape[3]
                let std = (2.0 / Double(fanOut)).squareRoot()
                for i in 0..<t.count { t[i] = Float(rng.nextNormal() * std) }
            case .linearWeight, .linearBias:
                let fanIn = p.kind == .linearWeight ? p.shape[1] : linearFanIn(of: p, in: registry)
                let bound = 1 / Double(fanIn).squareRoot()
                for i in 0..<t.count { t[i] = Float((2 * rng.nextUnit() - 1) * bound) }
            case .normWeight: t.fill(1)
            case .normBias: t.fill(0)
            }
        }
        for b in registry.buffers { b.value.fill(b.name.hasSuffix("running_var") ? 1 : 0) }
        for bn in registry.batchNorms { bn.numBatchesTracked = 0 }
    }

    /// The fan-in of a Linear bias is that of its weight, registered just before it.
    private static func linearFanIn(of bias: Parameter, in registry: ParameterRegistry) -> Int {
        let weightName = String(bias.name.dropLast("bias".count)) + "weight"
        return registry.parameters.first { $0.name == weightName }!.shape[1]
    }
}
