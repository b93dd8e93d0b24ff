import Checkpoints
import Datasets
import Foundation
import Kernels
import NeuralNet
import Optimizers
import Pretraining
import RunFiles
import Runs
import Training
import XCTest

/// The training loop on a tiny configuration: 16 px synthetic images, width 0.125, a small head.
final class PretrainerTests: XCTestCase {
    private var root: URL!

    override func setUpWithError() throws {
        TinyPretraining.configureThreads()
        root = FileManager.default.temporaryDirectory.appendingPathComponent("pretrain-tests-\(UUID().uuidString)")
    }

    override func tearDownWithError() throws { try? FileManager.default.removeItem(at: root) }

    private func tinySettings(steps: Int) -> PretrainSettings { TinyPretraining.settings(steps: steps) }

    private func tinyData(_ count: Int = 64) -> LabeledImages { TinyPretraining.data(count) }

    func testInterruptedAndResumedRunEqualsUninterruptedRun() throws {
        let data = tinyData()
        let straight = try Pretrainer(settings: tinySettings(steps: 7), dataset: data, runDirectory: root.appendingPathComponent("a"),
                                      workers: 1, log: { _ in })
        try straight.run()

        let dirB = root.appendingPathComponent("b")
        let first = try Pretrainer(settings: tinySettings(steps: 7), dataset: data, runDirectory: dirB, workers: 2, log: { _ in })
        let halted = try first.run(stop: HaltAfterStep(3))
        XCTAssertTrue(halted.stoppedEarly)
        // A new process would start from a fresh (differently initialized) model: use another seed to be sure.
        let second = try Pretrainer(settings: tinySettings(steps: 7), dataset: data, runDirectory: dirB, workers: 0, log: { _ in })
        let summary = try second.run(resume: true)
        XCTAssertEqual(summary.steps, 7)

        let a = try Safetensors.read(contentsOf: straight.finalModelURL).tensors
        let b = try Safetensors.read(contentsOf: second.finalModelURL).tensors
        XCTAssertEqual(Set(a.keys), Set(b.keys))
        for (name, t) in a { XCTAssertEqual(t.data, b[name]!.data, "\(name) differs after resume") }
        // Training moved the weights (the comparison is not between two untouched models).
        let initial = ResNet(config: tinySettings(steps: 1).model, seed: 0)
        XCTAssertNotEqual(a["layer1.0.conv1.weight"]!.floats(), initial.parameter(named: "layer1.0.conv1.weight")!.value.array)

        // metrics.csv of the resumed run has each step once, in order.
        let rows = try String(contentsOf: dirB.appendingPathComponent("metrics.csv"), encoding: .utf8)
            .split(separator: "\n").dropFirst().map { Int($0.split(separator: ",")[0])! }
        XCTAssertEqual(rows, Array(1...7))
    }

    /// A learning rate far too high: the first update blows the weights up (the loss stays finite, at chance),
    /// the run stops at step 1 with no checkpoint of the diverged weights and says how to start again.
    func testALearningRateThatBlowsTheWeightsUpStopsAtOnce() throws {
        var settings = tinySettings(steps: 5)
        settings.lr = 1e6
        settings.warmupEpochs = 0
        settings.saveEvery = 1
        let dir = root.appendingPathComponent("blown")
        let trainer = try Pretrainer(settings: settings, dataset: tinyData(), runDirectory: dir, workers: 0, log: { _ in })
        XCTAssertThrowsError(try trainer.run()) { error in
            guard case let TrainingError.diverged(divergence, kept) = error else { return XCTFail("unexpected \(error)") }
            XCTAssertEqual(divergence.step, 1)
            XCTAssertTrue(divergence.reason?.hasPrefix("weight norm") == true, "\(divergence)")
            XCTAssertNil(kept)
            XCTAssertTrue("\(error)".contains("No checkpoint was written before it: start again with a lower `lr` and `overwrite`"), "\(error)")
        }
        XCTAssertFalse(FileManager.default.fileExists(atPath: trainer.checkpointURL.path))
        XCTAssertFalse(FileManager.default.fileExists(atPath: trainer.finalModelURL.path))
        XCTAssertEqual(RunDivergence.read(from: dir)?.step, 1)
    }

    /// Weights that blow up after healthy steps (scaled by 1e4 before step 3, as a far too high learning rate
    /// would): the run stops at step 3, the checkpoint of step 2 stays as it was, and the run continues from it
    /// with a lower learning rate; any other change is still refused.
    func testADivergedRunKeepsItsLastGoodCheckpointAndResumesWithALowerLearningRate() throws {
        var settings = tinySettings(steps: 5)
        settings.saveEvery = 1
        let dir = root.appendingPathComponent("diverged")
        let trainer = try Pretrainer(settings: settings, dataset: tinyData(), runDirectory: dir, workers: 0, log: { _ in })
        XCTAssertThrowsError(try trainer.run(stop: BlowUpBeforeStep(3, model: trainer.model))) { error in
            guard case let TrainingError.diverged(divergence, kept) = error else { return XCTFail("unexpected \(error)") }
            XCTAssertEqual(divergence.step, 3)
            XCTAssertEqual(kept, 2)
            XCTAssertTrue("\(error)".contains("The checkpoint of step 2 is kept: continue it with `resume` and a lower `lr`"), "\(error)")
        }
        XCTAssertEqual(RunDivergence.read(from: dir)?.step, 3)
        // The checkpoint on disk is step 2's and loads (finite weights).
        let probe = ResNet(config: settings.model, seed: 1)
        let sgd = SGD(momentum: settings.momentum, weightDecay: settings.weightDecay, segments: parameterSegments(of: probe))
        XCTAssertEqual(try Checkpoint.load(from: trainer.checkpointURL, model: probe, optimizer: sgd).position.step, 2)

        var other = settings
        other.temperature = 0.5
        XCTAssertThrowsError(try Pretrainer(settings: other, dataset: tinyData(), runDirectory: dir, workers: 0, log: { _ in })
            .run(resume: true), "only the learning rate may change after a divergence")
        var lower = settings
        lower.lr = settings.lr / 10
        var said: [String] = []
        let resumed = try Pretrainer(settings: lower, dataset: tinyData(), runDirectory: dir, workers: 0, log: { said.append($0) })
        XCTAssertEqual(try resumed.run(resume: true).steps, 5)
        XCTAssertTrue(said.contains { $0.hasPrefix("the run diverged at step 3 (weight norm") && $0.hasSuffix("continuing with learning rate 0.05 (it had 0.5)") },
                      said.joined(separator: "\n"))
        XCTAssertNil(RunDivergence.read(from: dir), "a continued run is no longer a diverged one")
        XCTAssertTrue(FileManager.default.fileExists(atPath: resumed.finalModelURL.path))
    }

    /// A running variance that overflowed (here: set to infinity before step 3) leaves the loss, the gradient and
    /// the weights finite, because training normalizes with the batch's own statistics; the model it would save
    /// evaluates to NaN. The run stops at step 3 and keeps step 2's checkpoint.
    func testBatchNormRunningStatisticsThatAreNotFiniteStopTheRun() throws {
        var settings = tinySettings(steps: 5)
        settings.saveEvery = 1
        let dir = root.appendingPathComponent("running-stats")
        let trainer = try Pretrainer(settings: settings, dataset: tinyData(), runDirectory: dir, workers: 0, log: { _ in })
        let poison = PoisonRunningVarianceBeforeStep(3, buffer: try XCTUnwrap(trainer.model.buffers.first { $0.name.hasSuffix("running_var") }))
        XCTAssertThrowsError(try trainer.run(stop: poison)) { error in
            guard case let TrainingError.diverged(divergence, kept) = error else { return XCTFail("unexpected \(error)") }
            XCTAssertEqual(divergence.step, 3)
            XCTAssertTrue(Double(divergence.loss)?.isFinite == true, "the loss does not see the running statistics: \(divergence)")
            XCTAssertEqual(divergence.reason, "BatchNorm running statistics are not finite (inf)")
            XCTAssertEqual(kept, 2)
        }
        XCTAssertEqual(RunDivergence.read(from: dir)?.step, 3)
        XCTAssertFalse(FileManager.default.fileExists(atPath: trainer.finalModelURL.path))
    }

    func testCorruptCheckpointIsRefused() throws {
        let dir = root.appendingPathComponent("corrupt")
        let trainer = try Pretrainer(settings: tinySettings(steps: 2), dataset: tinyData(), runDirectory: dir, workers: 0, log: { _ in })
        try trainer.run(stop: HaltAfterStep(1))
        var bytes = try Data(contentsOf: trainer.checkpointURL)
        bytes[bytes.count - 3] ^= 0xFF
        try bytes.write(to: trainer.checkpointURL)
        let again = try Pretrainer(settings: tinySettings(steps: 2), dataset: tinyData(), runDirectory: dir, workers: 0, log: { _ in })
        XCTAssertThrowsError(try again.run(resume: true)) { error in
            XCTAssertTrue("\(error)".contains("checksum"), "\(error)")
        }
    }

    /// A job script that always passes --resume works on its first start: same result as a plain start.
    func testResumeWithoutACheckpointStartsFresh() throws {
        let plain = try Pretrainer(settings: tinySettings(steps: 2), dataset: tinyData(), runDirectory: root.appendingPathComponent("plain"),
                                   workers: 0, log: { _ in })
        try plain.run()
        var lines: [String] = []
        let first = try Pretrainer(settings: tinySettings(steps: 2), dataset: tinyData(), runDirectory: root.appendingPathComponent("first"),
                                   workers: 0, log: { lines.append($0) })
        XCTAssertEqual(try first.run(resume: true).steps, 2)
        XCTAssertTrue(lines.contains { $0.contains("no checkpoint") && $0.contains("starting a fresh run") }, "\(lines)")
        let a = try Safetensors.read(contentsOf: plain.finalModelURL).tensors
        let b = try Safetensors.read(contentsOf: first.finalModelURL).tensors
        for (name, t) in a { XCTAssertEqual(t.data, b[name]!.data, name) }

        // The finished run started again with --resume: nothing to train, the same files again.
        let again = try Pretrainer(settings: tinySettings(steps: 2), dataset: tinyData(), runDirectory: root.appendingPathComponent("first"),
                                   workers: 0, log: { _ in })
        XCTAssertEqual(try again.run(resume: true).steps, 2)
        let results = try XCTUnwrap(JSONSerialization.jsonObject(
            with: Data(contentsOf: root.appendingPathComponent("first/results.json"))) as? [String: Any])
        let lastRow = try String(contentsOf: root.appendingPathComponent("first/metrics.csv"), encoding: .utf8)
            .split(separator: "\n").last!.split(separator: ",")
        XCTAssertEqual(try XCTUnwrap(results["final_loss"] as? Double), Double(lastRow[2])!, accuracy: 1e-6)
    }

    func testResumeRefusesDifferentSettings() throws {
        let dir = root.appendingPathComponent("settings")
        try Pretrainer(settings: tinySettings(steps: 3), dataset: tinyData(), runDirectory: dir, workers: 0, log: { _ in })
            .run(stop: HaltAfterStep(1))
        var other = tinySettings(steps: 3)
        other.temperature = 0.5
        other.model.width = 0.25
        other.logEvery = 7   // may change: not named
        let trainer = try Pretrainer(settings: other, dataset: tinyData(), runDirectory: dir, workers: 0, log: { _ in })
        XCTAssertThrowsError(try trainer.run(resume: true)) { error in
            XCTAssertTrue("\(error)".hasSuffix("it was written with other settings: `model.width` 0.125 (this run: 0.25), `temperature` 0.07 (this run: 0.5)"),
                          "\(error)")
        }
        // A shorter run is refused; a longer one continues, with its schedule recomputed for the new length.
        XCTAssertThrowsError(try Pretrainer(settings: tinySettings(steps: 2), dataset: tinyData(), runDirectory: dir, workers: 0,
                                            log: { _ in }).run(resume: true)) { error in
            XCTAssertTrue("\(error)".contains("it was written by a run of 3 steps and this run has 2: a resumed run may be made longer, not shorter"), "\(error)")
        }
        var said: [String] = []
        let longer = try Pretrainer(settings: tinySettings(steps: 6), dataset: tinyData(), runDirectory: dir, workers: 0, log: { said.append($0) })
        XCTAssertEqual(try longer.run(resume: true).steps, 6)
        XCTAssertTrue(said.contains("the run is made longer: 3 -> 6 steps; the learning-rate schedule is recomputed for 6"), said.joined(separator: "\n"))
        XCTAssertEqual(longer.schedule.totalSteps, 6)
    }

    /// The checkpoint of a halted run, rewritten (with a valid checksum) to hold `settingsJSON` instead.
    private func checkpoint(of trainer: Pretrainer, withSettings settingsJSON: String) throws {
        let settings = trainer.settings
        let sgd = SGD(momentum: settings.momentum, weightDecay: settings.weightDecay, segments: parameterSegments(of: trainer.model))
        let header = try Checkpoint.load(from: trainer.checkpointURL, model: trainer.model, optimizer: sgd)
        try Checkpoint.save(to: trainer.checkpointURL, model: trainer.model, optimizer: sgd, position: header.position,
                            settingsJSON: settingsJSON, run: header.run)
    }

    /// The monitor took its class count from the training labels and trapped on a larger test label.
    func testKNNMonitorCountsTheClassesOfBothSplits() throws {
        let data = SyntheticShapes.generate(trainCount: 12, testCount: 6, imageSize: 16, seed: 3)
        let train = data.train.subset(data.train.labels.indices.filter { data.train.labels[$0] < 3 })
        let test = data.test.subset(data.test.labels.indices.filter { data.test.labels[$0] >= 3 })
        XCTAssertFalse(test.labels.isEmpty)
        var monitor = try KNNMonitor(every: 1, train: LabeledImages(height: 16, width: 16, pixels: train.pixels,
                                                                    labels: train.labels, classNames: []), test: test)
        monitor.k = 3
        XCTAssertEqual(monitor.classCount, test.labels.max()! + 1)
        let result = monitor.evaluate(ResNet(config: tinySettings(steps: 1).model, seed: 0))
        XCTAssertEqual(result.top1, 0)   // no training image has a test image's class
        let unlabelled = LabeledImages(height: 16, width: 16, pixels: train.pixels, labels: train.labels.map { _ in -1 },
                                       classNames: [])
        XCTAssertThrowsError(try KNNMonitor(every: 1, train: unlabelled, test: test))
    }

    /// Settings that did not decode were taken for an "older format" and accepted.
    func testResumeRefusesSettingsThatDoNotDecode() throws {
        let dir = root.appendingPathComponent("undecodable")
        let first = try Pretrainer(settings: tinySettings(steps: 3), dataset: tinyData(), runDirectory: dir, workers: 0, log: { _ in })
        try first.run(stop: HaltAfterStep(1))
        try checkpoint(of: first, withSettings: #"{"epochs":"many"}"#)
        let again = try Pretrainer(settings: tinySettings(steps: 3), dataset: tinyData(), runDirectory: dir, workers: 0, log: { _ in })
        XCTAssertThrowsError(try again.run(resume: true)) { error in
            XCTAssertTrue("\(error)".contains("do not decode"), "\(error)")
        }
    }

    /// The checkpoint records the rank count and the data; a resumption on other images (same count and
    /// shape) was accepted and trained on them.
    func testCheckpointRecordsTheRunAndResumeRefusesOtherData() throws {
        let dir = root.appendingPathComponent("other-data")
        let first = try Pretrainer(settings: tinySettings(steps: 3), dataset: tinyData(), runDirectory: dir, workers: 0, log: { _ in })
        try first.run(stop: HaltAfterStep(1))
        let settings = first.settings
        let sgd = SGD(momentum: settings.momentum, weightDecay: settings.weightDecay, segments: parameterSegments(of: first.model))
        let run = try Checkpoint.load(from: first.checkpointURL, model: first.model, optimizer: sgd).run
        XCTAssertEqual(run, RunIdentity(worldSize: 1, dataset: DatasetIdentity(of: tinyData(), source: "in memory")))

        let other = SyntheticShapes.generate(trainCount: 64, testCount: 1, imageSize: 16, seed: 4).train
        let again = try Pretrainer(settings: tinySettings(steps: 3), dataset: other, runDirectory: dir, workers: 0, log: { _ in })
        XCTAssertThrowsError(try again.run(resume: true)) { error in
            XCTAssertTrue("\(error)".contains("other data"), "\(error)")
        }
        // The same images under another source name (another format or split) are other data too.
        let renamed = try Pretrainer(settings: tinySettings(steps: 3), dataset: tinyData(), runDirectory: dir, workers: 0,
                                     dataSource: "cifar10/test", log: { _ in })
        XCTAssertThrowsError(try renamed.run(resume: true))
        let same = try Pretrainer(settings: tinySettings(steps: 3), dataset: tinyData(), runDirectory: dir, workers: 0, log: { _ in })
        XCTAssertEqual(try same.run(resume: true).steps, 3)
    }

    func testKNNMonitorLogsAccuracy() throws {
        let dir = root.appendingPathComponent("knn")
        let data = SyntheticShapes.generate(trainCount: 64, testCount: 20, imageSize: 16, seed: 3)
        let monitor = try KNNMonitor(every: 2, train: data.train, test: data.test)
        let trainer = try Pretrainer(settings: tinySettings(steps: 3), dataset: data.train, runDirectory: dir, workers: 0,
                                     knnMonitor: monitor, log: { _ in })
        try trainer.run()
        let rows = try String(contentsOf: dir.appendingPathComponent("metrics.csv"), encoding: .utf8)
            .split(separator: "\n").dropFirst().map { $0.split(separator: ",", omittingEmptySubsequences: false).last.map(String.init)! }
        XCTAssertEqual(rows[0], "")                 // step 1: not monitored
        for row in [rows[1], rows[2]] {             // step 2 (every 2) and the last step
            let top1 = try XCTUnwrap(Double(row))
            XCTAssertTrue((0...1).contains(top1))
        }
        // results.json carries the final kNN accuracy as the run's test accuracy, marked as kNN.
        let results = try XCTUnwrap(JSONSerialization.jsonObject(
            with: Data(contentsOf: dir.appendingPathComponent("results.json"))) as? [String: Any])
        XCTAssertEqual(try XCTUnwrap(results["test_top1"] as? Double), try XCTUnwrap(Double(rows[2])), accuracy: 1e-5)
        let top5 = try XCTUnwrap(results["test_top5"] as? Double)
        XCTAssert(top5 >= (results["test_top1"] as? Double ?? 2) && top5 <= 1, "\(results)")
        XCTAssertEqual(results["test_evaluation"] as? String, "knn")
        XCTAssertEqual(results["test_count"] as? Int, 20)
        XCTAssertEqual(results["steps"] as? Int, 3)
    }

    func testConfigAndMetricsFiles() throws {
        let dir = root.appendingPathComponent("files")
        let trainer = try Pretrainer(settings: tinySettings(steps: 2), dataset: tinyData(), runDirectory: dir, workers: 1,
                                     runInfo: ["git_commit": "abc"], log: { _ in })
        try trainer.run()
        let config = try JSONSerialization.jsonObject(with: Data(contentsOf: dir.appendingPathComponent("config.json"))) as! [String: Any]
        XCTAssertEqual(config["git_commit"] as? String, "abc")
        XCTAssertEqual((config["settings"] as? [String: Any])?["batchSize"] as? Int, 16)
        let lines = try String(contentsOf: dir.appendingPathComponent("metrics.csv"), encoding: .utf8).split(separator: "\n")
        XCTAssertEqual(String(lines[0]), "step,epoch,loss,acc_top1,acc_top5,mean_pos,lr,img_per_s,data_wait_s,knn_top1")
        XCTAssertEqual(lines.count, 3)
        let loss = Double(lines[1].split(separator: ",")[2])!
        // A fresh network's embeddings are nearly random: the loss starts near log(2N - 1) = log(31).
        XCTAssertEqual(loss, log(31), accuracy: 1.0)
        // Without the kNN monitor, results.json has the contrastive metrics of the last epoch and no test accuracy.
        let results = try XCTUnwrap(JSONSerialization.jsonObject(
            with: Data(contentsOf: dir.appendingPathComponent("results.json"))) as? [String: Any])
        XCTAssertEqual(results["method"] as? String, "simclr-pretrain")
        XCTAssertNil(results["test_top1"])
        let losses = lines.dropFirst().map { Double($0.split(separator: ",")[2])! }
        XCTAssertEqual(try XCTUnwrap(results["contrastive_loss"] as? Double), losses.reduce(0, +) / 2, accuracy: 1e-5)
    }
}

/// A test's stand-in for a learning rate that blows the weights up: before step `step` it multiplies every
/// weight by 1e4 (BatchNorm makes the loss blind to it, as it is to weights a huge learning rate inflated).
private struct BlowUpBeforeStep: StopPolicy {
    let step: Int
    let model: ResNet

    init(_ step: Int, model: ResNet) { self.step = step; self.model = model }

    func wantsStop(afterStep step: Int) -> Bool {
        if step == self.step { model.flatParameters.copy(from: model.flatParameters.array.map { $0 * 1e4 }) }
        return false
    }

    func outcome(afterStep step: Int) -> StopOutcome? { nil }
}

/// A test's stand-in for activations so large that a running variance overflows: before step `step` one
/// BatchNorm's running variance becomes infinite (its momentum update keeps it so).
private struct PoisonRunningVarianceBeforeStep: StopPolicy {
    let step: Int
    let buffer: Buffer

    init(_ step: Int, buffer: Buffer) { self.step = step; self.buffer = buffer }

    func wantsStop(afterStep step: Int) -> Bool {
        if step == self.step { buffer.value.fill(.infinity) }
        return false
    }

    func outcome(afterStep step: Int) -> StopOutcome? { nil }
}
