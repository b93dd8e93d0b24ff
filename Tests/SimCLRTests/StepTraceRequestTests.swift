import Training
import XCTest

/// Which steps `--trace-steps N` records: N steps after the run's first (warm-up) step, fewer at the end of a
/// short run, from the first step when the run has no room to skip it, and counted from where a resumed run goes on.
final class StepTraceRequestTests: XCTestCase {
    func testRecordedStepsSkipTheRunsFirstStepWhenThereIsRoom() {
        let three = StepTraceRequest(path: "t.json", steps: 3)
        XCTAssertEqual(three.recordedSteps(after: 0, total: 100), 2...4)
        XCTAssertEqual(three.recordedSteps(after: 0, total: 4), 2...4)
        XCTAssertEqual(three.recordedSteps(after: 0, total: 3), 1...3)
        XCTAssertEqual(three.recordedSteps(after: 0, total: 1), 1...1)
        XCTAssertEqual(three.recordedSteps(after: 50, total: 100), 52...54, "a resumed run warms up again")
        XCTAssertEqual(StepTraceRequest(path: "t.json", steps: 10).recordedSteps(after: 0, total: 6), 1...6)
    }
}
