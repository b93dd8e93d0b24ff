import Foundation
import Kernels
import Optimizers
import XCTest

/// SGD and AdamW against torch.optim, LARS against the reference formula, four steps each;
/// Fixtures/make_fixtures.py wrote Fixtures/optimizers.json.
final class OptimizerFixtureTests: XCTestCase {
    struct Fixture: Decodable {
        struct Segment: Decodable {
            var name: String
            var shape: [Int]
            var excluded: Bool
        }
        struct Settings: Decodable {
            var momentum: Float?
            var nesterov: Bool?
            var weightDecay: Float
            var decayExcluded: Bool?
            var beta1: Float?
            var beta2: Float?
            var eps: Float?
            var trustCoefficient: Float?
        }
        struct Step: Decodable {
            var parameters: [Float]
            var state: [String: [Float]]
        }
        struct Case: Decodable {
            var name: String
            var optimizer: String
            var settings: Settings
            var initial: [Float]
            var steps: [Step]
        }
        struct Schedule: Decodable {
            var baseLR: Float
            var warmupSteps: Int
            var totalSteps: Int
            var finalLR: Float
            var lrs: [Double]
        }
        var segments: [Segment]
        var learningRates: [Float]
        var gradients: [[Float]]
        var cases: [Case]
        var schedules: [Schedule]
    }

    static func loadFixture() throws -> Fixture {
        let url = try XCTUnwrap(Bundle.module.url(forResource: "optimizers", withExtension: "json",
                                                  subdirectory: "Fixtures"))
        return try JSONDecoder().decode(Fixture.self, from: Data(contentsOf: url))
    }

    static func segments(_ fixture: Fixture) -> [ParameterSegment] {
        var offset = 0
        return fixture.segments.map { s in
            let count = s.shape.reduce(1, *)
            defer { offset += count }
            return ParameterSegment(name: s.name, offset: offset, count: count, excludedFromDecayAndAdaptation: s.excluded)
        }
    }

    static func makeOptimizer(_ c: Fixture.Case, _ segments: [ParameterSegment]) -> Optimizer {
        let s = c.settings
        switch c.optimizer {
        case "sgd":
            return SGD(momentum: s.momentum!, nesterov: s.nesterov!, weightDecay: s.weightDecay,
                       decayExcluded: s.decayExcluded!, segments: segments)
        case "adamw":
            return AdamW(beta1: s.beta1!, beta2: s.beta2!, eps: s.eps!, weightDecay: s.weightDecay,
                         decayExcluded: s.decayExcluded!, segments: segments)
        case "lars":
            return LARS(momentum: s.momentum!, weightDecay: s.weightDecay, trustCoefficient: s.trustCoefficient!,
                        segments: segments)
        default:
            fatalError("unknown optimizer \(c.optimizer) in fixture")
        }
    }

    func testOptimizersMatchReferenceStepByStep() throws {
        let fixture = try Self.loadFixture()
        let segments = Self.segments(fixture)
        XCTAssertEqual(fixture.cases.map(\.optimizer).sorted(),
                       ["adamw", "adamw", "lars", "lars", "lars", "sgd", "sgd", "sgd", "sgd"])
        for c in fixture.cases {
            let optimizer = Self.makeOptimizer(c, segments)
            let parameters = Tensor(shape: [c.initial.count], values: c.initial)
            let gradients = Tensor(shape: [c.initial.count])
            for (step, expected) in c.steps.enumerated() {
                gradients.copy(from: fixture.gradients[step])
                optimizer.step(parameters: parameters, gradients: gradients, learningRate: fixture.learningRates[step])
                let label = "\(c.name) step \(step + 1)"
                // Same float32 operations as the reference, in possibly another order or fused: a few ulps
                // per step, compounded over four steps.
                assertClose(parameters.array, expected.parameters, label)
                let state = Dictionary(uniqueKeysWithValues: optimizer.stateTensors.map { ($0.name, $0.tensor.array) })
                XCTAssertEqual(Set(state.keys), Set(expected.state.keys), label)
                for (name, values) in expected.state { assertClose(state[name] ?? [], values, "\(label) \(name)") }
            }
            XCTAssertEqual(optimizer.stepCount, c.steps.count)
        }
    }

    func testScheduleMatchesPyTorchSequentialLR() throws {
        for s in try Self.loadFixture().schedules {
            let schedule = LearningRateSchedule(baseLR: s.baseLR, warmupSteps: s.warmupSteps,
                                                totalSteps: s.totalSteps, finalLR: s.finalLR)
            for (step, lr) in s.lrs.enumerated() {
                // PyTorch keeps the lr in float64 and its cosine is recursive; ours is Float.
                XCTAssertEqual(Double(schedule.learningRate(atStep: step)), lr, accuracy: 1e-6 * Double(s.baseLR),
                               "base \(s.baseLR) step \(step)")
            }
        }
    }

    func assertClose(_ ours: [Float], _ theirs: [Float], _ label: String,
                     file: StaticString = #filePath, line: UInt = #line) {
        XCTAssertEqual(ours.count, theirs.count, label, file: file, line: line)
        for (i, (a, b)) in zip(ours, theirs).enumerated() {
            XCTAssertEqual(a, b, accuracy: 1e-6 + 1e-5 * abs(b), "\(label) element \(i)", file: file, line: line)
        }
    }
}
