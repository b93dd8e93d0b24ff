import Kernels
import Optimizers
import XCTest

/// A segment's `learningRateScale` acts as a PyTorch parameter group with its own lr: the same as a separate
/// optimizer over that segment stepped with the scaled rate.
final class SegmentLearningRateTests: XCTestCase {
    private func make(_ name: String, _ segments: [ParameterSegment]) -> Optimizer {
        switch name {
        case "sgd": return SGD(momentum: 0.9, weightDecay: 5e-4, segments: segments)
        case "adamw": return AdamW(weightDecay: 0.01, segments: segments)
        default: return LARS(weightDecay: 1e-4, segments: segments)
        }
    }

    func testScaledSegmentEqualsItsOwnOptimizerAtTheScaledRate() {
        let n = 300, lr: Float = 0.05, scale: Float = 0.25
        let head = ParameterSegment(name: "fc.weight", offset: 0, count: 100)
        let backbone = ParameterSegment(name: "conv.weight", offset: 100, count: 200)
        var scaled = backbone
        scaled.learningRateScale = scale
        for name in ["sgd", "adamw", "lars"] {
            let together = make(name, [head, scaled])
            let headAlone = make(name, [head]), backboneAlone = make(name, [backbone])
            let p1 = Tensor(shape: [n], values: (0..<n).map { Float(sin(Double($0) * 0.3)) })
            let p2 = Tensor(shape: [n], values: p1.array)
            for step in 0..<3 {
                let g = Tensor(shape: [n], values: (0..<n).map { Float(cos(Double($0 * (step + 2)) * 0.11)) })
                together.step(parameters: p1, gradients: g, learningRate: lr)
                headAlone.step(parameters: p2, gradients: g, learningRate: lr)
                backboneAlone.step(parameters: p2, gradients: g, learningRate: lr * scale)
            }
            XCTAssertEqual(p1.array, p2.array, name)
            // And the scale mattered: the unscaled optimizer moves the backbone elsewhere.
            let unscaled = make(name, [head, backbone])
            let p3 = Tensor(shape: [n], values: (0..<n).map { Float(sin(Double($0) * 0.3)) })
            for step in 0..<3 {
                let g = Tensor(shape: [n], values: (0..<n).map { Float(cos(Double($0 * (step + 2)) * 0.11)) })
                unscaled.step(parameters: p3, gradients: g, learningRate: lr)
            }
            XCTAssertEqual(Array(p3.array[..<100]), Array(p1.array[..<100]), name)
            XCTAssertNotEqual(Array(p3.array[100...]), Array(p1.array[100...]), name)
        }
    }
}
