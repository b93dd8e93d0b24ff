import Classification
import Pretraining
import XCTest

/// The default warm-up suits the run it is given: SimCLR's 10 epochs, but never more than a tenth of the run.
final class WarmupDefaultTests: XCTestCase {
    func testDefaultWarmupIsShortenedToATenthOfAShortRun() {
        let settings = PretrainSettings()               // no warm-up asked for
        let short = settings.warmup(totalSteps: 50, stepsPerEpoch: 10)    // 5 epochs
        XCTAssertEqual(short.steps, 5)
        XCTAssertEqual(settings.schedule(totalSteps: 50, stepsPerEpoch: 10).warmupSteps, 5)
        XCTAssertTrue(short.note?.contains("shortened to a tenth of this 5-epoch run") == true, short.note ?? "no note")
        // The learning rate decays after the warm-up instead of peaking at the last step.
        let schedule = settings.schedule(totalSteps: 50, stepsPerEpoch: 10)
        XCTAssertGreaterThan(schedule.learningRate(atStep: 5), schedule.learningRate(atStep: 49) * 10)

        let long = settings.warmup(totalSteps: 2000, stepsPerEpoch: 10)  // 200 epochs: the full 10 epochs
        XCTAssertEqual(long.steps, 100)
        XCTAssertNil(long.note)
    }

    func testAnExplicitWarmupIsKeptAndOneCoveringTheRunIsNamed() {
        var settings = PretrainSettings()
        settings.warmupEpochs = 1
        XCTAssertEqual(settings.warmup(totalSteps: 50, stepsPerEpoch: 10).steps, 10)
        XCTAssertNil(settings.warmup(totalSteps: 50, stepsPerEpoch: 10).note)
        settings.warmupEpochs = 1e20                   // no trap converting to Int
        let whole = settings.warmup(totalSteps: 50, stepsPerEpoch: 10)
        XCTAssertEqual(whole.steps, 49)
        XCTAssertTrue(whole.note?.contains("covers the whole 5-epoch run") == true, whole.note ?? "no note")
        let line = settings.describeSchedule(totalSteps: 50, stepsPerEpoch: 10)
        XCTAssertTrue(line.contains("warm-up 49 steps"), line)
    }

    func testClassifiersHaveNoWarmupByDefault() {
        let settings = ClassifierSettings()
        XCTAssertEqual(settings.warmup(totalSteps: 50, stepsPerEpoch: 10).steps, 0)
        XCTAssertTrue(settings.describeSchedule(totalSteps: 50, stepsPerEpoch: 10).contains("no warm-up"))
    }
}
