import Kernels
import NeuralNet
import XCTest

/// Two models in one process share no state: MoCo runs its key encoder's forward between the query encoder's
/// forward and backward, so anything the two kept in common (a scratch buffer, a kernel cache, a saved
/// activation) would hand the query encoder's backward the key encoder's values.
final class TwoModelsTests: XCTestCase {
    override func setUp() { Parallel.threadCount = 2; BLAS.setThreads(1) }

    private func images(_ n: Int, seed: UInt64) -> Tensor {
        var g = SplitMix64(seed: seed)
        return Tensor(shape: [n, 3, 32, 32], values: (0..<(n * 3 * 32 * 32)).map { _ in Float(g.nextNormal()) })
    }

    /// The parameter gradients of `model` for one forward of `x` and a fixed output gradient, with `between`
    /// run in the middle.
    private func gradients(_ model: ResNet, _ x: Tensor, between: () -> Void) -> [Float] {
        let y = model.forward(x)
        between()
        var g = SplitMix64(seed: 9)
        model.backward(Tensor(shape: y.shape, values: (0..<y.count).map { _ in Float(g.nextNormal()) }))
        return model.flatGradients.array
    }

    private func check(_ precision: ComputePrecision) {
        let config = ResNetConfig(stem: .cifar, width: 0.125, headDims: [64, 32])
        let query = ResNet(config: config, seed: 1), key = ResNet(config: config, seed: 2)
        query.precision = precision; key.precision = precision
        let x = images(8, seed: 3), other = images(8, seed: 4)
        let alone = gradients(query, x) {}
        let withKeyForward = gradients(query, x) { key.forward(other) }
        XCTAssertEqual(withKeyForward, alone, "\(precision.rawValue): the key forward changed the query's gradients")
        XCTAssert(alone.contains { $0 != 0 })
    }

    func testAnotherModelsForwardBetweenForwardAndBackwardChangesNothing() { check(.fp32) }

    func testAnotherModelsForwardChangesNothingInBF16() throws {
        try XCTSkipUnless(CPUFeatures.current.avx512BF16, "no AVX512_BF16 on this CPU")
        check(.bf16)
    }
}
