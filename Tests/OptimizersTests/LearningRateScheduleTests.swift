import Foundation
import Optimizers
import XCTest

final class LearningRateScheduleTests: XCTestCase {
    func testWarmupAndCosineAtChosenSteps() {
        let schedule = LearningRateSchedule(baseLR: 0.8, warmupSteps: 4, totalSteps: 14)
        XCTAssertEqual(schedule.learningRate(atStep: 0), 0.2, accuracy: 1e-7)   // 0.8 * 1/4
        XCTAssertEqual(schedule.learningRate(atStep: 3), 0.8, accuracy: 1e-7)   // warmup's last step: full
        XCTAssertEqual(schedule.learningRate(atStep: 4), 0.8, accuracy: 1e-7)   // cosine starts at base
        XCTAssertEqual(schedule.learningRate(atStep: 9), 0.4, accuracy: 1e-7)   // halfway: (1 + cos(pi/2)) / 2
        XCTAssertEqual(schedule.learningRate(atStep: 13), Float(0.8 * (1 + cos(Double.pi * 0.9)) / 2), accuracy: 1e-7)
        XCTAssertEqual(schedule.learningRate(atStep: 14), 0)
        XCTAssertEqual(schedule.learningRate(atStep: 100), 0)
    }

    func testNoWarmupStartsAtBaseAndFinalLRIsTheFloor() {
        let schedule = LearningRateSchedule(baseLR: 1, warmupSteps: 0, totalSteps: 10, finalLR: 0.1)
        XCTAssertEqual(schedule.learningRate(atStep: 0), 1)
        XCTAssertEqual(schedule.learningRate(atStep: 5), 0.55, accuracy: 1e-7)
        XCTAssertEqual(schedule.learningRate(atStep: 10), 0.1)
        let values = (0..<10).map { schedule.learningRate(atStep: $0) }
        XCTAssertEqual(values, values.sorted(by: >), "cosine decay is monotone")
    }

    func testBatchScalingRules() {
        XCTAssertEqual(LRScaling.linear.scaledLR(base: 0.3, globalBatch: 4096), 4.8, accuracy: 1e-6)
        XCTAssertEqual(LRScaling.linear.scaledLR(base: 0.3, globalBatch: 256), 0.3, accuracy: 1e-7)
        XCTAssertEqual(LRScaling.sqrt.scaledLR(base: 0.075, globalBatch: 4096), 4.8, accuracy: 1e-6)
        XCTAssertEqual(LRScaling.sqrt.scaledLR(base: 0.5, globalBatch: 2), Float(0.5 * 2.0.squareRoot()), accuracy: 1e-7)
        XCTAssertEqual(LRScaling.none.scaledLR(base: 0.3, globalBatch: 4096), 0.3)
        XCTAssertEqual(LRScaling(rawValue: "sqrt"), .sqrt)
    }
}
