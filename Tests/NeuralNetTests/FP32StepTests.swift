import Foundation
import Kernels
import NeuralNet
import XCTest

/// One float32 SimCLR step (identical views, T = 0.07) against the same step in float64
/// (Fixtures/make_fp32_step_fixture.py): the convolution algorithms' rounding must keep the update about as
/// close to float64 as PyTorch's own float32 step is.
final class FP32StepTests: XCTestCase {
    override func setUp() { Parallel.threadCount = 2; BLAS.setThreads(1) }

    struct Fixture {
        let width: Double, views: Tensor, reference: [String: [Float]]
        let torchGlobal: Double, torchWorst: Double
        var temperature: Float = 0.07

        init(_ f: [String: SafetensorsEntry], duplicate: Bool = true) {
            let x = f["input"]!
            let n = x.shape[0], per = x.shape.dropFirst().reduce(1, *)
            let one = x.floats()
            views = duplicate ? Tensor(shape: [2 * n] + Array(x.shape.dropFirst()), values: one + one) : Tensor(shape: x.shape, values: one)
            reference = OneStepUpdate.reference(in: f)
            width = Double(reference["conv1.weight"]!.count / 27) / 64
            torchGlobal = Double(f["deviation.fp32"]!.floats()[0])
            torchWorst = Double(f["deviation.fp32_max_tensor"]!.floats()[0])
            precondition(one.count == n * per)
        }
    }

    static func deviation(_ fixture: Fixture, configure: (ResNet) -> Void) -> OneStepUpdate.Deviation {
        deviationAndForwardAlgorithms(fixture, configure: configure).deviation
    }

    /// Also says which algorithms the forward passes ran.
    static func deviationAndForwardAlgorithms(_ fixture: Fixture, configure: (ResNet) -> Void)
        -> (deviation: OneStepUpdate.Deviation, forward: Set<ConvAlgorithm>) {
        let model = ResNet(config: ResNetConfig(stem: .cifar, width: fixture.width, headDims: [512, 256]))
        GeneratedWeights.apply(to: model)
        configure(model)
        let update = OneStepUpdate.update(of: model, views: fixture.views, temperature: fixture.temperature)
        let forward = Set(model.namedConvolutions.compactMap { $0.layer.lastKernel?.algorithm(of: .forward) })
        return (OneStepUpdate.deviation(update, from: fixture.reference), forward)
    }

    /// The committed width-0.25 fixture, or the file SIMCLR_FP32_STEP_FIXTURE names (e.g. the full-width step,
    /// too large to commit: `make_fp32_step_fixture.py --width 1 --out FILE`).
    private func fixture() throws -> Fixture {
        if let path = ProcessInfo.processInfo.environment["SIMCLR_FP32_STEP_FIXTURE"] {
            return Fixture(try Safetensors.read(contentsOf: URL(fileURLWithPath: path)).tensors)
        }
        return Fixture(try loadFixture("fp32_step"))
    }

    private func report(_ name: String, _ d: OneStepUpdate.Deviation, _ f: Fixture) {
        print(String(format: "width %.4g, %@: deviation from float64 %.6e (worst tensor %.6e, %@); PyTorch fp32 %.3e (%.3e): %.2fx, %.2fx",
                     f.width, name, d.global, d.worst, d.worstTensor, f.torchGlobal, f.torchWorst,
                     d.global / f.torchGlobal, d.worst / f.torchWorst))
    }

    /// `auto`, the default: within 1.5x PyTorch fp32's own deviation, on the whole update and on the worst tensor.
    func testAutoChoiceStaysNearPyTorchFloat32() throws {
        let f = try fixture()
        let d = Self.deviation(f) { $0.convAlgorithm = .auto }
        report("auto", d, f)
        XCTAssertLessThanOrEqual(d.global, 1.5 * f.torchGlobal, "whole update")
        XCTAssertLessThanOrEqual(d.worst, 1.5 * f.torchWorst, "worst tensor (\(d.worstTensor))")
    }

    /// Direct convolutions everywhere round as an ordinary float32 convolution: the same bound holds.
    func testDirectStaysNearPyTorchFloat32() throws {
        let f = try fixture()
        let d = Self.deviation(f) { $0.convAlgorithm = .direct }
        report("direct", d, f)
        XCTAssertLessThanOrEqual(d.global, 1.5 * f.torchGlobal, "whole update")
        XCTAssertLessThanOrEqual(d.worst, 1.5 * f.torchWorst, "worst tensor (\(d.worstTensor))")
    }

    /// The same bound on a well-conditioned step (fixture of BF16StepTests: distinct views, T = 0.2, 16 px), where
    /// the harness shows it can tell: Winograd in every pass, forward included, lands well outside it.
    func testAutoChoiceStaysNearPyTorchFloat32OnDistinctViews() throws {
        var f = Fixture(try loadFixture("bf16_step"), duplicate: false)
        f.temperature = 0.2
        let auto = Self.deviation(f) { $0.convAlgorithm = .auto }
        let (winograd, forward) = Self.deviationAndForwardAlgorithms(f) { $0.convAlgorithm = .winograd }
        report("auto, distinct views", auto, f)
        report("winograd, distinct views", winograd, f)
        XCTAssertLessThanOrEqual(auto.global, 1.5 * f.torchGlobal, "whole update")
        // Where oneDNN has Winograd (AVX-512), its forward rounding shows.
        if forward.contains(.winograd4x4) { XCTAssertGreaterThan(winograd.global, 1.5 * f.torchGlobal, "Winograd's forward rounding") }
    }
}
