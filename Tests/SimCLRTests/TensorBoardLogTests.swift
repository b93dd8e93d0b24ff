import Classification
import Datasets
import Foundation
import Kernels
import NeuralNet
import Pretraining
import RunFiles
import TestSupport
import Training
import XCTest

/// The trainers' TensorBoard files hold exactly metrics.csv's numbers, also across an interruption and resume.
final class TensorBoardLogTests: XCTestCase {
    private var root: URL!

    override func setUpWithError() throws {
        Parallel.threadCount = 2
        BLAS.setThreads(1)
        root = FileManager.default.temporaryDirectory.appendingPathComponent("tb-log-tests-\(UUID().uuidString)")
    }

    override func tearDownWithError() throws { try? FileManager.default.removeItem(at: root) }

    private var shapes: (train: LabeledImages, test: LabeledImages) {
        let s = SyntheticShapes.generate(trainCount: 32, testCount: 16, imageSize: 16, seed: 3)
        return (s.train, s.test)
    }

    /// metrics.csv as tag -> step -> value, numeric cells only, as the TensorBoard file should hold them.
    private func csvCurves(_ dir: URL, stepColumn: String) throws -> [String: [Int64: Float]] {
        let lines = try String(contentsOf: dir.appendingPathComponent("metrics.csv"), encoding: .utf8).split(separator: "\n")
        let header = lines[0].split(separator: ",").map(String.init)
        let s = try XCTUnwrap(header.firstIndex(of: stepColumn))
        var curves: [String: [Int64: Float]] = [:]
        for line in lines.dropFirst() {
            let cells = line.split(separator: ",", omittingEmptySubsequences: false)
            let step = try XCTUnwrap(Int64(cells[s]))
            for (i, tag) in header.enumerated() where i != s {
                if let v = Double(cells[i]) { curves[tag, default: [:]][step] = Float(v) }
            }
        }
        return curves
    }

    func testPretrainingCurvesEqualMetricsCSVAcrossAResume() throws {
        var settings = PretrainSettings()
        settings.steps = 5
        settings.batchSize = 16
        settings.model = ResNetConfig(stem: .cifar, width: 0.125, headDims: [32, 16])
        settings.augmentation = AugmentationConfig.simclr(outputSize: 16)
        settings.logEvery = 1000
        let dir = root.appendingPathComponent("pretrain")
        let data = shapes
        let monitor = try KNNMonitor(every: 2, train: data.train, test: data.test)
        let first = try Pretrainer(settings: settings, dataset: data.train, runDirectory: dir, workers: 1,
                                   knnMonitor: monitor, log: { _ in })
        try first.run(stop: HaltAfterStep(3))
        let second = try Pretrainer(settings: settings, dataset: data.train, runDirectory: dir, workers: 1,
                                    knnMonitor: monitor, log: { _ in })
        try second.run(resume: true)

        let tb = dir.appendingPathComponent("tb")
        let files = TFEventReader.eventFiles(in: tb)
        XCTAssertEqual(files.count, 2)
        // The resumed run's file says where it restarted, so points an interrupted run logged past its
        // checkpoint would be dropped by the reader.
        let restart = try TFEventReader.events(at: files[1])[1]
        XCTAssertEqual(restart.sessionStatus, 1)
        XCTAssertEqual(restart.step, 4)
        let curves = try TFEventReader.curves(in: tb)
        let expected = try csvCurves(dir, stepColumn: "step")
        XCTAssertEqual(Set(curves.keys), Set(PretrainMetricsRow.columns.dropFirst()))
        XCTAssertEqual(curves, expected)
        XCTAssertEqual(curves["loss"]?.keys.sorted(), Array(1...5))
        XCTAssertEqual(curves["knn_top1"]?.keys.sorted(), [2, 4, 5])  // empty cells are not points
    }

    func testClassifierCurvesAndTheSwitchOff() throws {
        var settings = ClassifierSettings()
        settings.epochs = 2
        settings.batchSize = 16
        settings.model = ResNetConfig(stem: .cifar, width: 0.125, headDims: [])
        settings.hiddenDim = 32
        settings.augmentation = .supervised(outputSize: 16)
        settings.logEvery = 1000
        let data = shapes
        let dir = root.appendingPathComponent("supervised")
        let trainer = try ClassifierTrainer(settings: settings, train: data.train, test: data.test, runDirectory: dir,
                                            workers: 1, log: { _ in })
        try trainer.run()
        let curves = try TFEventReader.curves(in: dir.appendingPathComponent("tb"))
        XCTAssertEqual(curves, try csvCurves(dir, stepColumn: "step"))
        XCTAssertEqual(curves["test_top1"]?.count, 2)
        XCTAssertEqual(curves["epoch"]?.values.sorted(), [1, 2])

        let off = root.appendingPathComponent("off")
        let quiet = try ClassifierTrainer(settings: settings, train: data.train, test: data.test, runDirectory: off,
                                          workers: 1, log: { _ in })
        quiet.writesTensorBoard = false
        try quiet.run()
        XCTAssertTrue(FileManager.default.fileExists(atPath: off.appendingPathComponent("metrics.csv").path))
        XCTAssertFalse(FileManager.default.fileExists(atPath: off.appendingPathComponent("tb").path))
    }
}
