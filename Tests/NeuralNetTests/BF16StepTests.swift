import Foundation
import Kernels
import NeuralNet
import XCTest

/// One SimCLR training step in bf16 against a float64 step (fixture: Fixtures/make_bf16_step_fixture.py):
/// the update's deviation from float64 must not exceed the deviation PyTorch's own CPU autocast bf16
/// shows on the same step (same weights, batch, loss and optimizer).
final class BF16StepTests: XCTestCase {
    override func setUp() { Parallel.threadCount = 2; BLAS.setThreads(1) }

    /// The update of the fixture's step (InfoNCE at T = 0.2 on its 16 views) under `precision`.
    private func update(precision: ComputePrecision, input: Tensor) -> [String: [Float]] {
        let model = ResNet(config: ResNetConfig(stem: .cifar, width: 0.25, headDims: [512, 256]))
        GeneratedWeights.apply(to: model)
        model.precision = precision
        return OneStepUpdate.update(of: model, views: input, temperature: 0.2)
    }

    /// (global relative L2 deviation, largest per-tensor relative L2 deviation) from the float64 update.
    private func deviation(_ update: [String: [Float]], from reference: [String: [Float]]) -> (Double, Double) {
        let d = OneStepUpdate.deviation(update, from: reference)
        return (d.global, d.worst)
    }

    private func check(_ precision: ComputePrecision) throws {
        let f = try loadFixture("bf16_step")
        let input = Tensor(shape: f["input"]!.shape, values: f["input"]!.floats())
        let reference = OneStepUpdate.reference(in: f)
        XCTAssertEqual(reference.count, 64)
        let (global, worst) = deviation(update(precision: precision, input: input), from: reference)
        let torchGlobal = Double(f["deviation.bf16"]!.floats()[0]), torchWorst = Double(f["deviation.bf16_max_tensor"]!.floats()[0])
        print(String(format: "%@: deviation from float64 %.3e (worst tensor %.3e); PyTorch autocast bf16 %.3e (%.3e)",
                     precision.rawValue, global, worst, torchGlobal, torchWorst))
        XCTAssertLessThanOrEqual(global, torchGlobal, "\(precision.rawValue): whole update")
        XCTAssertLessThanOrEqual(worst, torchWorst, "\(precision.rawValue): worst tensor")
        // The rounding really happens: bf16 lands far from float64 compared with float32 (~3e-6).
        XCTAssertGreaterThan(global, 100 * Double(f["deviation.fp32"]!.floats()[0]), "\(precision.rawValue) looks unrounded")
    }

    func testReferencePathIsWithinPyTorchsBF16Deviation() throws { try check(.bf16Reference) }

    func testNativePathIsWithinPyTorchsBF16Deviation() throws {
        try XCTSkipUnless(CPUFeatures.current.avx512BF16, "no AVX512_BF16 on this CPU")
        try check(.bf16)
    }

    /// The harness itself: our float32 step lands where PyTorch's float32 step does (~1e-5 of float64).
    func testFloat32StepMatchesFloat64() throws {
        let f = try loadFixture("bf16_step")
        let input = Tensor(shape: f["input"]!.shape, values: f["input"]!.floats())
        let reference = OneStepUpdate.reference(in: f)
        let (global, worst) = deviation(update(precision: .fp32, input: input), from: reference)
        XCTAssertLessThan(global, 1e-4)
        XCTAssertLessThan(worst, 1e-3)
    }

    /// Features for evaluation (eval-mode forward, pooled backbone features) in bf16 equal the fp32 features
    /// within 1e-2 of their scale, on both bf16 paths.
    func testBF16FeaturesMatchFloat32Features() throws {
        let f = try loadFixture("bf16_step")
        let input = Tensor(shape: f["input"]!.shape, values: f["input"]!.floats())
        let model = ResNet(config: ResNetConfig(stem: .cifar, width: 0.25, headDims: []))
        GeneratedWeights.apply(to: model)
        model.isTraining = false
        let reference = model.forward(input).array
        var precisions: [ComputePrecision] = [.bf16Reference]
        if CPUFeatures.current.avx512BF16 { precisions.append(.bf16) }
        for precision in precisions {
            model.precision = precision
            let features = model.forward(input).array
            let error = relativeError(features, reference)
            print(String(format: "%@ features: %.2e of the fp32 features' scale", precision.rawValue, error))
            XCTAssertLessThan(error, 1e-2, precision.rawValue)
            XCTAssertGreaterThan(error, 1e-5, "\(precision.rawValue) looks unrounded")
        }
        model.precision = .fp32
    }
}
