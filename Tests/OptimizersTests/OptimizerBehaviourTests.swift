import Foundation
import Kernels
import Optimizers
import XCTest

final class OptimizerBehaviourTests: XCTestCase {
    /// Large enough that steps and LARS norms split over threads (and several norm chunks).
    static let layout = [
        ParameterSegment(name: "conv.weight", offset: 0, count: 150_001),
        ParameterSegment(name: "bn.weight", offset: 150_001, count: 64, excludedFromDecayAndAdaptation: true),
        ParameterSegment(name: "fc.weight", offset: 150_065, count: 70_000),
        ParameterSegment(name: "fc.bias", offset: 220_065, count: 10, excludedFromDecayAndAdaptation: true),
    ]
    static let total = 220_075

    static let names = ["sgd", "adamw", "lars"]

    static func make(_ name: String) -> Optimizer {
        switch name {
        case "sgd": return SGD(momentum: 0.9, nesterov: true, weightDecay: 5e-4, segments: layout)
        case "adamw": return AdamW(segments: layout)
        default: return LARS(weightDecay: 1e-6, segments: layout)
        }
    }

    static func values(_ seed: Int, count: Int = total) -> Tensor {
        Tensor(shape: [count], values: (0..<count).map { Float(sin(Double($0 * 7 + seed) * 0.37)) })
    }

    func run(_ optimizer: Optimizer, steps: Range<Int>, parameters: Tensor) {
        for step in steps {
            optimizer.step(parameters: parameters, gradients: Self.values(step + 100), learningRate: 0.1 * Float(step + 1))
        }
    }

    /// Steps with two threads give bit-identical results to one thread (LARS norms use fixed chunks).
    func testThreadCountDoesNotChangeResults() {
        defer { Parallel.threadCount = 1 }
        for name in Self.names {
            let results = [1, 2].map { threads -> [Float] in
                Parallel.threadCount = threads
                let parameters = Self.values(1)
                run(Self.make(name), steps: 0..<3, parameters: parameters)
                return parameters.array
            }
            XCTAssertEqual(results[0], results[1], name)
        }
    }

    /// Saving `stateTensors` and `stepCount` after two steps and restoring them into a fresh optimizer
    /// continues exactly like the uninterrupted run.
    func testStateTensorsResumeExactly() {
        for name in Self.names {
            let straight = Self.values(2)
            run(Self.make(name), steps: 0..<4, parameters: straight)

            let resumed = Self.values(2)
            let first = Self.make(name)
            run(first, steps: 0..<2, parameters: resumed)
            let second = Self.make(name)
            XCTAssertEqual(first.stateTensors.map(\.name), second.stateTensors.map(\.name), name)
            for (saved, target) in zip(first.stateTensors, second.stateTensors) { target.tensor.copy(from: saved.tensor) }
            second.stepCount = first.stepCount
            run(second, steps: 2..<4, parameters: resumed)

            XCTAssertEqual(straight.array, resumed.array, name)
            XCTAssertEqual(second.stepCount, 4, name)
        }
    }

    /// Elements between segments are never touched.
    func testGapsBetweenSegmentsStayUntouched() {
        let segments = [ParameterSegment(name: "a", offset: 0, count: 3),
                        ParameterSegment(name: "b", offset: 5, count: 2, excludedFromDecayAndAdaptation: true)]
        for optimizer: Optimizer in [SGD(momentum: 0.9, weightDecay: 0.1, segments: segments),
                                     AdamW(segments: segments), LARS(weightDecay: 0.1, segments: segments)] {
            let parameters = Tensor(shape: [8], values: [1, 2, 3, 9, 9, 4, 5, 9])
            optimizer.step(parameters: parameters, gradients: Tensor(shape: [8], repeating: 1), learningRate: 0.5)
            XCTAssertEqual([parameters[3], parameters[4], parameters[7]], [9, 9, 9])
            XCTAssertNotEqual(parameters[0], 1)
            XCTAssertNotEqual(parameters[6], 5)
        }
    }

    /// LARS: an excluded segment is plain momentum SGD (v = m v + lr g, w -= v); an adapted one moves by
    /// lr * eta * ||w|| / ||g + wd w|| * (g + wd w) on its first step.
    func testLARSFirstStepByHand() {
        let segments = [ParameterSegment(name: "w", offset: 0, count: 2),
                        ParameterSegment(name: "b", offset: 2, count: 1, excludedFromDecayAndAdaptation: true)]
        let lars = LARS(momentum: 0.9, weightDecay: 0.5, trustCoefficient: 0.1, segments: segments)
        let parameters = Tensor(shape: [3], values: [3, 4, 1])
        // g + wd*w = [1.5, 2] + 0.5*[3, 4] = [3, 4]: ||w|| = 5 = ||g'||, trust = 0.1.
        lars.step(parameters: parameters, gradients: Tensor(shape: [3], values: [1.5, 2, 2]), learningRate: 2)
        XCTAssertEqual(parameters.array[0], 3 - 2 * 0.1 * 3, accuracy: 1e-6)
        XCTAssertEqual(parameters.array[1], 4 - 2 * 0.1 * 4, accuracy: 1e-6)
        XCTAssertEqual(parameters.array[2], 1 - 2 * 2, accuracy: 1e-6)
        XCTAssertEqual(lars.stateTensors[0].tensor.array, [0.6, 0.8, 4], accuracy: 1e-6)
    }
}

private func XCTAssertEqual(_ a: [Float], _ b: [Float], accuracy: Float, file: StaticString = #filePath, line: UInt = #line) {
    XCTAssertEqual(a.count, b.count, file: file, line: line)
    for (x, y) in zip(a, b) { XCTAssertEqual(x, y, accuracy: accuracy, file: file, line: line) }
}
