import Foundation
import Kernels
import NeuralNet
import XCTest

/// Loads a committed fixture (see Fixtures/make_fixtures.py for how each was produced).
func loadFixture(_ name: String) throws -> [String: SafetensorsEntry] {
    guard let url = Bundle.module.url(forResource: name, withExtension: "safetensors", subdirectory: "Fixtures") else {
        throw SafetensorsError.unreadable(path: name, reason: "fixture not in the test bundle")
    }
    return try Safetensors.read(contentsOf: url).tensors
}

/// The deterministic weights of make_fixtures.py, so full-width weights need not be committed:
/// u(name, i) = (splitmix64(fnv1a64(name) + i) >> 40) / 2^24, scaled per kind of tensor.
enum GeneratedWeights {
    static func fnv1a64(_ s: String) -> UInt64 { FNV1a64.hash(s.utf8) }

    static func splitmix64(_ x0: UInt64) -> UInt64 {
        let x = x0 &+ 0x9E37_79B9_7F4A_7C15
        var z = x
        z = (z ^ (z >> 30)) &* 0xBF58_476D_1CE4_E5B9
        z = (z ^ (z >> 27)) &* 0x94D0_49BB_1331_11EB
        return z ^ (z >> 31)
    }

    static func u(_ name: String, _ count: Int) -> [Double] {
        let seed = fnv1a64(name)
        return (0..<count).map { Double(splitmix64(seed &+ UInt64($0)) >> 40) / 16_777_216.0 }
    }

    /// Values for a state_dict entry, by the kind its name and rank imply.
    static func values(name: String, shape: [Int]) -> [Float] {
        let us = u(name, shape.reduce(1, *))
        if name.hasSuffix(".weight") && shape.count >= 2 {
            let fanIn = shape.dropFirst().reduce(1, *)
            let s = (3.0 / Double(fanIn)).squareRoot()
            return us.map { Float((2 * $0 - 1) * s) }
        }
        if name.hasSuffix(".weight") { return us.map { Float(1 + (2 * $0 - 1) * 0.1) } }
        if name.hasSuffix("running_var") { return us.map { Float(1 + 0.25 * $0) } }
        return us.map { Float((2 * $0 - 1) * 0.1) }  // biases and running means
    }

    static func apply(to model: ResNet) {
        for p in model.parameters { p.value.copy(from: values(name: p.name, shape: p.shape)) }
        for b in model.buffers { b.value.copy(from: values(name: b.name, shape: b.shape)) }
    }
}

/// max |actual - expected| / max |expected|: the error relative to the tensor's scale.
func relativeError(_ actual: [Float], _ expected: [Float]) -> Double {
    precondition(actual.count == expected.count, "length \(actual.count) vs \(expected.count)")
    var maxDiff = 0.0, maxRef = 0.0
    for i in 0..<actual.count {
        maxDiff = max(maxDiff, abs(Double(actual[i]) - Double(expected[i])))
        maxRef = max(maxRef, abs(Double(expected[i])))
    }
    return maxDiff / max(maxRef, 1e-12)
}

/// NCHW values (PyTorch's layout) as a blocked feature map.
func blockedMap(nchw t: [Float], shape: [Int]) -> FeatureMap {
    Layout.blocked(fromNCHW: Tensor(shape: shape, values: t), channels: shape[1], batch: shape[0], height: shape[2], width: shape[3])
}

/// A blocked feature map's values in NCHW order.
func nchwValues(_ map: FeatureMap) -> [Float] { Layout.nchw(map).array }
