import Foundation
import Kernels
import NeuralNet
import XCTest

/// `ResNetTwin`: two forwards of different resolutions through one network and one summed backward, against
/// PyTorch running one module on both batches (Fixtures/make_two_forward_fixture.py wrote two_forward.safetensors).
/// Tolerance as GoldenTests: 1e-4 of each tensor's largest magnitude. Gradients of only one of the passes are
/// off by order 1, so the comparison fails if the twin's gradients are not added.
final class TwoForwardTests: XCTestCase {
    let tolerance = 1e-4

    override func setUp() { Parallel.threadCount = 2; BLAS.setThreads(1) }

    private func tensor(_ f: [String: SafetensorsEntry], _ key: String) -> Tensor {
        Tensor(shape: f[key]!.shape, values: f[key]!.floats())
    }

    func testTwoResolutionsMatchOneModuleRunTwice() throws {
        let f = try loadFixture("two_forward")
        let model = ResNet(config: ResNetConfig(stem: .cifar, width: 0.0625, headDims: [16, 8]))
        GeneratedWeights.apply(to: model)
        // Readiness hooks the twin takes over report each parameter once, with the sum of both passes.
        var reported: [String: [Float]] = [:]
        model.registry.setGradientReadyHook { p in
            XCTAssertNil(reported[p.name], "\(p.name) reported twice")
            reported[p.name] = p.gradient.array
        }
        let twin = ResNetTwin(of: model)
        twin.takeOverGradientReadiness()
        let outGlobal = model.forward(tensor(f, "input_global"))
        let outSmall = twin.forward(tensor(f, "input_small"))
        XCTAssertLessThan(relativeError(outGlobal.array, f["output_global"]!.floats()), tolerance, "output_global")
        XCTAssertLessThan(relativeError(outSmall.array, f["output_small"]!.floats()), tolerance, "output_small")
        model.backward(tensor(f, "grad_global"))
        XCTAssertTrue(reported.isEmpty, "the first backward reports nothing")
        twin.backward(tensor(f, "grad_small"))
        XCTAssertEqual(reported.count, model.parameters.count)
        for p in model.parameters {
            let expected = f["grad." + p.name]!.floats()
            XCTAssertLessThan(relativeError(p.gradient.array, expected), tolerance, "grad.\(p.name)")
            XCTAssertEqual(reported[p.name], p.gradient.array, "\(p.name) was reported before its sum was final")
        }
        for b in model.buffers {
            XCTAssertLessThan(relativeError(b.value.array, f["after." + b.name]!.floats()), tolerance, "after.\(b.name)")
        }
        XCTAssertEqual(Set(model.batchNorms.map(\.numBatchesTracked)), [2])
        XCTAssertEqual(Set(twin.twin.batchNorms.map(\.numBatchesTracked)), [0])
    }

    /// The twin reads the owner's memory: a parameter change is seen by both, and no gradient is shared.
    func testTwinSharesValuesAndBuffersButNotGradients() {
        let model = ResNet(config: ResNetConfig(stem: .cifar, width: 0.0625, headDims: [8]), seed: 3)
        let twin = ResNetTwin(of: model).twin
        XCTAssertEqual(twin.flatParameters.array, model.flatParameters.array)
        model.parameters[0].value[0] = 42
        XCTAssertEqual(twin.parameters[0].value[0], 42)
        model.buffers[0].value[0] = -7
        XCTAssertEqual(twin.buffers[0].value[0], -7)
        model.flatGradients[0] = 1
        XCTAssertEqual(twin.flatGradients[0], 0)
    }
}
