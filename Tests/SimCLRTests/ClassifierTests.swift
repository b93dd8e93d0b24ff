import Classification
import Datasets
import Evaluation
import Foundation
import Kernels
import NeuralNet
import Runs
import Training
import XCTest

/// The supervised / fine-tuning trainer in process, on tiny inputs: 16 px images, width 0.125.
final class ClassifierTests: XCTestCase {
    private var root: URL!

    override func setUpWithError() throws {
        Parallel.threadCount = 2
        BLAS.setThreads(1)
        root = FileManager.default.temporaryDirectory.appendingPathComponent("classifier-tests-\(UUID().uuidString)")
    }

    override func tearDownWithError() throws { try? FileManager.default.removeItem(at: root) }

    /// An easy two-class task: horizontal (class 0) or vertical (class 1) stripes of period 4, with random
    /// colours and phase. Crops and horizontal flips keep the orientation, so the label stays learnable.
    private func stripes(count: Int, size: Int = 16, seed: UInt64) -> LabeledImages {
        var rng = RandomStream(seed: seed)
        var pixels: [UInt8] = []
        var labels: [Int] = []
        for i in 0..<count {
            let label = i % 2, phase = rng.int(below: 4)
            let a = (0..<3).map { _ in UInt8(rng.int(below: 256)) }, b = (0..<3).map { _ in UInt8(rng.int(below: 256)) }
            for y in 0..<size {
                for x in 0..<size {
                    let along = label == 0 ? y : x
                    pixels += ((along + phase) / 2) % 2 == 0 ? a : b
                }
            }
            labels.append(label)
        }
        return LabeledImages(height: size, width: size, pixels: pixels, labels: labels, classNames: ["horizontal", "vertical"])
    }

    private func tinySettings(epochs: Int = 1) -> ClassifierSettings {
        var s = ClassifierSettings()
        s.epochs = epochs
        s.batchSize = 16
        s.model = ResNetConfig(stem: .cifar, width: 0.125, headDims: [])
        s.hiddenDim = 32
        s.augmentation = .supervised(outputSize: 16)
        s.logEvery = 1000
        return s
    }

    // MARK: the loss kernel

    /// Central differences of the cross-entropy w.r.t. the logits themselves, with a normalization other than
    /// the row count (what a data-parallel rank uses). Tolerance as the probe's check: rounding ~1e-7 / 2h
    /// plus truncation h^2/6 |f'''| stays below 1e-4; wrong gradients are off by ~1e-2 or more.
    func testCrossEntropyGradientWithGlobalNormalization() {
        let n = 5, c = 4, normalization = 12
        var rng = RandomStream(seed: 21)
        let z = Tensor(shape: [n, c], values: (0..<(n * c)).map { _ in rng.uniformFloat(-2, 2) })
        let labels = [0, 3, 1, 1, 2]
        let g = Tensor(shape: [n, c])
        SoftmaxCrossEntropy.loss(logits: z, labels: labels, normalization: normalization, gradient: g)
        let analytic = g.array
        let h: Float = 1e-2
        for i in 0..<(n * c) {
            let original = z[i]
            z.withUnsafeMutableBufferPointer { $0[i] = original + h }
            let plus = SoftmaxCrossEntropy.loss(logits: z, labels: labels, normalization: normalization)
            z.withUnsafeMutableBufferPointer { $0[i] = original - h }
            let minus = SoftmaxCrossEntropy.loss(logits: z, labels: labels, normalization: normalization)
            z.withUnsafeMutableBufferPointer { $0[i] = original }
            let numeric = Float((plus - minus) / Double(2 * h))
            XCTAssertEqual(numeric, analytic[i], accuracy: 1e-4, "logit \(i)")
        }
        XCTAssertGreaterThan(analytic.map(abs).max()!, 0.01)
    }

    /// Two halves of a batch, each normalized by the whole batch, add up to the whole batch's mean loss and
    /// gradient: the identity data-parallel classifier training relies on.
    func testHalvesNormalizedByTheGlobalBatchAddUpToTheWhole() {
        let n = 6, c = 3
        var rng = RandomStream(seed: 5)
        let values = (0..<(n * c)).map { _ in rng.uniformFloat(-3, 3) }
        let labels = [2, 0, 1, 1, 0, 2]
        let whole = Tensor(shape: [n, c], values: values), wholeGradient = Tensor(shape: [n, c])
        let total = SoftmaxCrossEntropy.loss(logits: whole, labels: labels, gradient: wholeGradient)
        var sum = 0.0, gradients: [Float] = []
        for half in 0..<2 {
            let part = Tensor(shape: [3, c], values: Array(values[(half * 3 * c)..<((half + 1) * 3 * c)]))
            let g = Tensor(shape: [3, c])
            sum += SoftmaxCrossEntropy.loss(logits: part, labels: Array(labels[(half * 3)..<((half + 1) * 3)]),
                                            normalization: n, gradient: g)
            gradients += g.array
        }
        XCTAssertEqual(sum, total, accuracy: 1e-12)
        XCTAssertEqual(gradients, wholeGradient.array)
    }

    // MARK: training

    /// Horizontal vs vertical stripes: chance is 0.5. After 15 epochs of 4 steps the classifier gets
    /// at least 80% of 64 test images right (measured: 0.94 from epoch 7 on); a coin would reach 52 of 64 with
    /// probability ~2e-7.
    func testTrainerLearnsAnEasyTask() throws {
        var settings = tinySettings(epochs: 15)
        settings.lr = 0.05
        let dir = root.appendingPathComponent("learn")
        let trainer = try ClassifierTrainer(settings: settings, train: stripes(count: 64, seed: 1),
                                            test: stripes(count: 64, seed: 2), runDirectory: dir, workers: 1, log: { _ in })
        let summary = try trainer.run()
        let test = try XCTUnwrap(summary.test)
        XCTAssertGreaterThanOrEqual(test.top1, 0.8, "test top-1 \(test.top1) (train \(summary.trainTop1))")
        XCTAssertGreaterThan(summary.trainTop1, 0.85)
        XCTAssertEqual(test.top5, 1)                 // two classes: the label is always in the top 5

        let lines = try String(contentsOf: dir.appendingPathComponent("metrics.csv"), encoding: .utf8).split(separator: "\n")
        XCTAssertEqual(String(lines[0]), "epoch,step,train_loss,train_top1,test_loss,test_top1,test_top5,lr,img_per_s")
        XCTAssertEqual(lines.count, 16)
        let first = lines[1].split(separator: ","), last = lines[15].split(separator: ",")
        XCTAssertEqual(first[0], "1"); XCTAssertEqual(first[1], "4")
        XCTAssertEqual(last[0], "15"); XCTAssertEqual(last[1], "60")
        XCTAssertLessThan(Double(last[2])!, Double(first[2])!, "train loss should fall")
        let results = try EvaluationResults.read(trainer.resultsURL)
        XCTAssertEqual(results["test_top1"] as? Double, test.top1)
        XCTAssertEqual(results["method"] as? String, "supervised")
        XCTAssertEqual(results["encoder"] as? String, "random-init")
        // The model file holds the classifier head under torchvision's Sequential keys.
        let model = try Safetensors.read(contentsOf: trainer.finalModelURL).tensors
        XCTAssertEqual(model["fc.0.weight"]?.shape, [32, 64])   // 512 * 0.125 features
        XCTAssertEqual(model["fc.2.weight"]?.shape, [2, 32])
    }

    func testLabelFractionTrainsOnTheBalancedSubset() throws {
        // 3 classes with 30 / 18 / 12 images (label i % 5 folded so the classes are unbalanced).
        let base = stripes(count: 60, seed: 3)
        let labels = (0..<60).map { [0, 0, 1, 1, 2][$0 % 5] }
        let data = LabeledImages(height: 16, width: 16, pixels: base.pixels, labels: labels, classNames: ["a", "b", "c"])
        var settings = tinySettings()
        settings.labelFraction = 0.5
        settings.seed = 4
        let trainer = try ClassifierTrainer(settings: settings, train: data, test: stripes(count: 8, seed: 9),
                                            runDirectory: root.appendingPathComponent("fraction"), workers: 0, log: { _ in })
        let expected = LabelFraction.balancedSubset(labels: labels, fraction: 0.5, seed: 4)
        XCTAssertEqual(expected.count, 30)
        XCTAssertEqual(trainer.trainImages.count, 30)
        XCTAssertEqual(trainer.trainImages.classCounts, [12, 12, 6])
        XCTAssertEqual(trainer.trainImages.pixels, data.subset(expected).pixels)
        XCTAssertEqual(trainer.sampler.datasetCount, 30)
        XCTAssertEqual(trainer.classCount, 3)
        try trainer.run()
        XCTAssertEqual(try EvaluationResults.read(trainer.resultsURL)["train_count"] as? Int, 30)

        settings.labelFraction = 0
        XCTAssertThrowsError(try ClassifierTrainer(settings: settings, train: data, test: data,
                                                   runDirectory: root.appendingPathComponent("zero"), log: { _ in }))
    }

    /// Fine-tuning reads the backbone of a pretraining file (whose projection head has other shapes) and
    /// puts a fresh head on it.
    func testFinetuneLoadsTheBackboneAndAFreshHead() throws {
        let file = root.appendingPathComponent("pretrained.safetensors")
        try FileManager.default.createDirectory(at: root, withIntermediateDirectories: true)
        let pretrained = ResNet(config: ResNetConfig(stem: .cifar, width: 0.125, headDims: [32, 16]), seed: 77)
        try pretrained.save(to: file)
        var settings = tinySettings()
        settings.method = .finetune
        settings.encoder = file.path
        settings.seed = 5
        let trainer = try ClassifierTrainer(settings: settings, train: stripes(count: 32, seed: 1),
                                            test: stripes(count: 8, seed: 2), runDirectory: root.appendingPathComponent("ft"),
                                            workers: 0, log: { _ in })
        let fileTensors = try Safetensors.read(contentsOf: file).tensors
        let fresh = ResNet(config: trainer.settings.model, seed: 5)
        var backbone = 0
        for (name, entry) in trainer.model.stateEntries() {
            if name.hasPrefix("fc.") {
                XCTAssertEqual(entry.data, fresh.stateEntries().first { $0.0 == name }!.1.data, "\(name) is not a fresh head")
            } else {
                XCTAssertEqual(entry.data, fileTensors[name]?.data, "\(name) was not loaded from the file")
                backbone += 1
            }
        }
        XCTAssertGreaterThan(backbone, 100)
        // The random init of the same seed is a different backbone, so the comparison above means something.
        XCTAssertNotEqual(fresh.parameter(named: "conv1.weight")!.value.array,
                          trainer.model.parameter(named: "conv1.weight")!.value.array)
        try trainer.run()
        let results = try EvaluationResults.read(trainer.resultsURL)
        XCTAssertEqual(results["method"] as? String, "finetune")
        XCTAssertEqual(results["encoder"] as? String, file.path)

        // --backbone-lr-scale 0: the backbone's parameters stay the file's, the head trains.
        var frozen = settings
        frozen.backboneLRScale = 0
        let still = try ClassifierTrainer(settings: frozen, train: stripes(count: 32, seed: 1), test: stripes(count: 8, seed: 2),
                                          runDirectory: root.appendingPathComponent("frozen"), workers: 0, log: { _ in })
        let headBefore = still.model.parameter(named: "fc.2.weight")!.value.array
        try still.run()
        for p in still.model.parameters {
            if p.name.hasPrefix("fc.") { continue }
            XCTAssertEqual(p.value.array, fileTensors[p.name]?.floats(), "\(p.name) moved with a zero backbone rate")
        }
        XCTAssertNotEqual(still.model.parameter(named: "fc.2.weight")!.value.array, headBefore)
        XCTAssertNotEqual(trainer.model.parameter(named: "conv1.weight")!.value.array, fileTensors["conv1.weight"]?.floats(),
                          "with the default rate the backbone trains")

        // A file of another width is refused with a message naming the width.
        settings.model.width = 0.25
        XCTAssertThrowsError(try ClassifierTrainer(settings: settings, train: stripes(count: 32, seed: 1),
                                                   test: stripes(count: 8, seed: 2), runDirectory: root.appendingPathComponent("bad"),
                                                   log: { _ in })) { error in
            XCTAssertTrue("\(error)".contains("width"), "\(error)")
        }
    }

    /// Halted in the middle of epoch 2 and resumed in a new trainer: same weights bit for bit and the same
    /// metrics rows (the epoch's running sums travel in the checkpoint) as a run without a stop.
    func testInterruptedAndResumedRunEqualsUninterruptedRun() throws {
        let train = stripes(count: 48, seed: 1), test = stripes(count: 8, seed: 2)
        let settings = tinySettings(epochs: 3)
        let straight = try ClassifierTrainer(settings: settings, train: train, test: test,
                                             runDirectory: root.appendingPathComponent("a"), workers: 1, log: { _ in })
        try straight.run()
        let dirB = root.appendingPathComponent("b")
        let halted = try ClassifierTrainer(settings: settings, train: train, test: test, runDirectory: dirB, workers: 2,
                                           log: { _ in }).run(stop: HaltAfterStep(4))
        XCTAssertTrue(halted.stoppedEarly)
        XCTAssertFalse(FileManager.default.fileExists(atPath: dirB.appendingPathComponent("model.safetensors").path))
        let second = try ClassifierTrainer(settings: settings, train: train, test: test, runDirectory: dirB, workers: 0,
                                           log: { _ in })
        let summary = try second.run(resume: true)
        XCTAssertEqual(summary.steps, 9)
        let a = try Safetensors.read(contentsOf: straight.finalModelURL).tensors
        let b = try Safetensors.read(contentsOf: second.finalModelURL).tensors
        XCTAssertEqual(Set(a.keys), Set(b.keys))
        for (name, t) in a { XCTAssertEqual(t.data, b[name]!.data, "\(name) differs after resume") }
        func rows(_ dir: URL) throws -> [String] {   // without img_per_s, which is timing
            try String(contentsOf: dir.appendingPathComponent("metrics.csv"), encoding: .utf8).split(separator: "\n")
                .map { $0.split(separator: ",").dropLast().joined(separator: ",") }
        }
        XCTAssertEqual(try rows(root.appendingPathComponent("a")), try rows(dirB))
        XCTAssertEqual(try rows(dirB).count, 4)

        var other = settings
        other.lr = 0.2
        XCTAssertThrowsError(try ClassifierTrainer(settings: other, train: train, test: test, runDirectory: dirB,
                                                   workers: 0, log: { _ in }).run(resume: true))
    }

    func testNonFiniteLossStops() throws {
        var settings = tinySettings(epochs: 2)
        settings.lr = 1e30
        let trainer = try ClassifierTrainer(settings: settings, train: stripes(count: 32, seed: 1),
                                            test: stripes(count: 8, seed: 2), runDirectory: root.appendingPathComponent("nan"),
                                            workers: 0, log: { _ in })
        XCTAssertThrowsError(try trainer.run()) { error in
            guard case let TrainingError.diverged(divergence, _) = error else { return XCTFail("unexpected \(error)") }
            XCTAssertEqual(divergence.step, 1, "the first update blows the weights up")
            XCTAssertTrue("\(error)".contains("stopping"), "\(error)")
        }
    }
}
