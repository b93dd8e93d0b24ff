import NeuralNet
import RunFiles
import Runs
import Studies
import XCTest

final class SweepPlanTests: XCTestCase {
    private func plan(studies: [String], temperatures: [String] = ["0.1", "0.5"], batchSizes: [String] = ["64"],
                      ablations: [String] = ["flip", "blur"], heads: [String] = ["128", "512,128"]) -> SweepPlan {
        SweepPlan(studies: studies, temperatures: temperatures, batchSizes: batchSizes, ablations: ablations, heads: heads)
    }

    func testSettingsOfEachStudyInStudyOrder() throws {
        let p = plan(studies: ["similarity", "temperature", "augmentation", "head", "batch-size"])
        try p.validate()
        XCTAssertEqual(p.settings.map { "\($0.study) \($0.setting) \($0.arguments.joined(separator: " "))" }, [
            "similarity cosine --similarity cosine", "similarity l2 --similarity l2",
            "temperature 0.1 --temperature 0.1", "temperature 0.5 --temperature 0.5",
            "augmentation full ", "augmentation no-flip --no-flip", "augmentation no-blur --no-blur",
            "head 128 --proj-dims 128", "head 512,128 --proj-dims 512,128",
            "batch-size 64 --batch-size 64",
        ])
    }

    func testMethodStudyPretrainsWithEachMethod() throws {
        let p = plan(studies: ["method"])
        try p.validate()
        XCTAssertEqual(p.settings.map { "\($0.study) \($0.setting) \($0.arguments.joined(separator: " "))" },
                       ["method simclr --method simclr", "method moco --method moco"])
    }

    func testCompressionStudyPretrainsWithEachGradientCompression() throws {
        let p = plan(studies: ["compression"])
        try p.validate()
        XCTAssertEqual(p.settings.map { "\($0.setting): \($0.arguments.joined(separator: " "))" }, [
            "none: --grad-compression none", "bf16: --grad-compression bf16",
            "powersgd R=4: --grad-compression powersgd --powersgd-rank 4",
            "powersgd R=8: --grad-compression powersgd --powersgd-rank 8",
        ])
    }

    func testL2TemperatureGivesTheL2SettingItsOwnTemperature() throws {
        var p = plan(studies: ["similarity"])
        p.l2Temperature = "0.5"
        try p.validate()
        XCTAssertEqual(p.settings.map(\.setting), ["cosine", "l2 T=0.5"])
        XCTAssertEqual(p.settings.map(\.arguments), [["--similarity", "cosine"], ["--similarity", "l2", "--temperature", "0.5"]])
        p.l2Temperature = "-1"
        XCTAssertThrowsError(try p.validate()) { XCTAssertEqual("\($0)", "--l2-temperature: '-1' is not a positive number (try 0.5)") }
    }

    func testValidationNamesTheOption() {
        func message(_ p: SweepPlan) -> String? {
            do { try p.validate(); return nil } catch { return "\(error)" }
        }
        XCTAssertEqual(message(plan(studies: [])), "--studies is empty")
        XCTAssert(message(plan(studies: ["colour"]))?.hasPrefix("--studies: unknown 'colour'") == true)
        XCTAssert(message(plan(studies: ["head"], ablations: ["rotate"]))?.hasPrefix("--ablations: unknown 'rotate'") == true)
        XCTAssertEqual(message(plan(studies: ["temperature"], temperatures: ["0"])), "--temperatures: '0' is not a positive number")
        XCTAssertEqual(message(plan(studies: ["batch-size"], batchSizes: ["1"])), "--batch-sizes: '1' is not a batch size of at least 2")
        XCTAssertEqual(message(plan(studies: ["head"], heads: ["512,x"])), "--heads: '512,x' is not a list of positive layer sizes")
    }

    /// A head is its run's --proj-dims value, checked as pretraining checks it: "none" (no projection head, the
    /// paper's baseline) is a head, and a size pretraining refuses is refused before the sweep's first run.
    func testHeadsAreReadAsPretrainingReadsThem() {
        XCTAssertNoThrow(try plan(studies: ["head"], heads: ["none", "512, 128"]).validate())
        XCTAssertThrowsError(try plan(studies: ["head"], heads: ["128", "70000"]).validate()) { error in
            XCTAssertEqual("\(error)", "--heads: '70000' is not a list of positive layer sizes")
        }
        XCTAssertThrowsError(try ResNetConfig.headDims(parsing: "70000"))
    }

    func testSweepRowLines() {
        let row = SweepRow(study: "temperature", setting: "0.5",
                           contrastive: PretrainMetricsSummary(epoch: 2, loss: 4.5, top1: 0.25, top5: 0.5),
                           probeTop1: 0.125, probeTop5: 0.75, knnTop1: nil)
        XCTAssertEqual(row.csvLine, "temperature,\"0.5\",2,4.5,0.25,0.5,0.125,0.75,\n")
        XCTAssertEqual(row.markdownCells, ["temperature", "0.5", "4.500", "25.0%", "50.0%", "12.5%", "75.0%", "-"])
        XCTAssertEqual(SweepRow.csvHeader.split(separator: ",").count, row.csvLine.split(separator: ",", omittingEmptySubsequences: false).count)
    }

    func testMulticropStudy() throws {
        var p = plan(studies: ["multicrop"])
        try p.validate()
        XCTAssertEqual(p.settings.map { "\($0.setting): \($0.arguments.joined(separator: " "))" },
                       ["0: --small-crops 0", "2: --small-crops 2", "4: --small-crops 4"])
        p.smallCropCounts = ["6", "x"]
        XCTAssertThrowsError(try p.validate()) {
            XCTAssertEqual("\($0)", "--small-crop-counts: 'x' is not a count of small crops (0 or more)")
        }
    }
}
