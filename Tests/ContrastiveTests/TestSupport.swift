import Foundation
import Kernels

/// Deterministic normal samples for tests (SplitMix64 + Box-Muller).
struct NormalGenerator {
    private var state: UInt64

    init(seed: UInt64) { state = seed }

    private mutating func uniform() -> Double {
        state &+= 0x9E37_79B9_7F4A_7C15
        var x = state
        x = (x ^ (x >> 30)) &* 0xBF58_476D_1CE4_E5B9
        x = (x ^ (x >> 27)) &* 0x94D0_49BB_1331_11EB
        x ^= x >> 31
        return (Double(x >> 11) + 0.5) / Double(1 << 53)
    }

    mutating func next() -> Float {
        let u = uniform(), v = uniform()
        return Float((-2 * log(u)).squareRoot() * cos(2 * Double.pi * v))
    }

    mutating func tensor(_ shape: [Int], scale: Float = 1) -> Tensor {
        let count = shape.reduce(1, *)
        return Tensor(shape: shape, values: (0..<count).map { _ in scale * next() })
    }
}
