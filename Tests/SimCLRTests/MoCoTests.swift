import Contrastive
import Datasets
import Foundation
import Kernels
import NeuralNet
import Pretraining
import Training
import XCTest

/// MoCo's training loop in one process on a tiny configuration (16 px synthetic images, width 0.125, a small
/// head): the key encoder is a moving average that gets no gradient, and checkpoints carry it and the queue.
final class MoCoTests: XCTestCase {
    private var root: URL!

    override func setUpWithError() throws {
        TinyPretraining.configureThreads()
        root = FileManager.default.temporaryDirectory.appendingPathComponent("moco-tests-\(UUID().uuidString)")
    }

    override func tearDownWithError() throws { try? FileManager.default.removeItem(at: root) }

    private func settings(steps: Int, queueSize: Int = 32) -> PretrainSettings {
        var s = TinyPretraining.settings(steps: steps)
        s.temperature = MoCoSettings.defaultTemperature
        s.moco = MoCoSettings(momentum: 0.9, queueSize: queueSize)
        return s
    }

    private func tinyData(_ count: Int = 64) -> LabeledImages { TinyPretraining.data(count) }

    /// After each step the key encoder's parameters are exactly m * k + (1 - m) * q of the parameters before
    /// the step (MoCo updates the key encoder before computing the keys, from the query encoder as the last
    /// optimizer step left it); its gradient buffer stays zero, and its BatchNorm statistics are its own.
    func testKeyEncoderIsAMovingAverageAndGetsNoGradient() throws {
        let trainer = try Pretrainer(settings: settings(steps: 3), dataset: tinyData(), runDirectory: root, workers: 0, log: { _ in })
        let moco = try XCTUnwrap(trainer.moco)
        let key = moco.keyEncoder
        XCTAssertEqual(key.flatParameters.array, trainer.model.flatParameters.array, "the key encoder starts as a copy")
        XCTAssert(trainer.step is MoCoStep)
        var generator = SplitMix64(seed: 5)
        let views = Tensor(shape: [32, 3, 16, 16], values: (0..<(32 * 3 * 16 * 16)).map { _ in Float(generator.nextNormal()) })
        let (m, c) = (Float(0.9), Float(1 - 0.9))
        for step in 1...3 {
            let k0 = key.flatParameters.array, q0 = trainer.model.flatParameters.array
            let result = try trainer.step.run(views: views, smallViews: nil, learningRate: 0.05, localStop: false)
            XCTAssert(result.loss.isFinite)
            XCTAssertEqual(key.flatParameters.array, zip(k0, q0).map { $0 * m + $1 * c }, "step \(step)")
            XCTAssertNotEqual(trainer.model.flatParameters.array, q0, "the query encoder trained (step \(step))")
            XCTAssert(key.flatGradients.array.allSatisfy { $0 == 0 }, "the key encoder got a gradient")
            XCTAssertEqual(moco.queue.pointer, (16 * step) % 32)
        }
        XCTAssertNotEqual(key.flatParameters.array, trainer.model.flatParameters.array)
        XCTAssertNotEqual(key.registry.flatBuffers.array, trainer.model.registry.flatBuffers.array,
                          "the key encoder's running statistics come from its own forwards of view 2")
    }

    func testHaltAndResumeEqualsTheUninterruptedRunQueueIncluded() throws {
        let data = tinyData()
        let straight = try Pretrainer(settings: settings(steps: 5), dataset: data, runDirectory: root.appendingPathComponent("a"),
                                      workers: 1, log: { _ in })
        try straight.run()
        let dirB = root.appendingPathComponent("b")
        XCTAssertTrue(try Pretrainer(settings: settings(steps: 5), dataset: data, runDirectory: dirB, workers: 0, log: { _ in })
            .run(stop: HaltAfterStep(3)).stoppedEarly)
        let resumed = try Pretrainer(settings: settings(steps: 5), dataset: data, runDirectory: dirB, workers: 2, log: { _ in })
        XCTAssertEqual(try resumed.run(resume: true).steps, 5)

        let a = try Safetensors.read(contentsOf: straight.checkpointURL), b = try Safetensors.read(contentsOf: resumed.checkpointURL)
        XCTAssertEqual(Set(a.tensors.keys), Set(b.tensors.keys))
        XCTAssertNotNil(a.tensors["moco.queue"])
        XCTAssertNotNil(a.tensors["moco.key_encoder.layer1.0.conv1.weight"])
        XCTAssertNotNil(a.tensors["moco.key_encoder.bn1.running_mean"])
        for (name, t) in a.tensors { XCTAssertEqual(t.data, b.tensors[name]!.data, "\(name) differs after resume") }
        XCTAssertEqual(a.metadata["moco"], b.metadata["moco"])
        XCTAssertEqual(a.metadata["moco"], #"{"queuePointer":16}"#)  // 5 steps of 16 keys in a queue of 32
        XCTAssertEqual(try Data(contentsOf: straight.finalModelURL), try Data(contentsOf: resumed.finalModelURL))
        // The final model is the query encoder alone, loadable as any pretrained encoder.
        let model = ResNet(config: settings(steps: 1).model)
        XCTAssertNoThrow(try model.load(from: resumed.finalModelURL))
        XCTAssertEqual(model.flatParameters.array, resumed.model.flatParameters.array)
        let results = try JSONSerialization.jsonObject(with: Data(contentsOf: dirB.appendingPathComponent("results.json"))) as? [String: Any]
        XCTAssertEqual(results?["method"] as? String, "moco-pretrain")
    }

    func testResumeRefusesAnotherQueueSizeMomentumOrMethod() throws {
        let data = tinyData()
        try Pretrainer(settings: settings(steps: 4), dataset: data, runDirectory: root, workers: 0, log: { _ in }).run(stop: HaltAfterStep(1))
        var otherMomentum = settings(steps: 4)
        otherMomentum.moco?.momentum = 0.99
        var simclr = settings(steps: 4)
        simclr.moco = nil
        for (label, other) in [("queue size", settings(steps: 4, queueSize: 64)), ("momentum", otherMomentum), ("method", simclr)] {
            let trainer = try Pretrainer(settings: other, dataset: data, runDirectory: root, workers: 0, log: { _ in })
            XCTAssertThrowsError(try trainer.run(resume: true), label) { error in
                XCTAssert("\(error)".contains("does not fit this run"), "\(label): \(error)")
            }
        }
        // The same settings still resume.
        XCTAssertEqual(try Pretrainer(settings: settings(steps: 4), dataset: data, runDirectory: root, workers: 0, log: { _ in })
            .run(resume: true).steps, 4)
    }

    func testMultiCropIsRefusedWithMoCo() throws {
        var s = settings(steps: 1)
        s.multiCrop = MultiCropConfig(count: 2)
        XCTAssertThrowsError(try Pretrainer(settings: s, dataset: tinyData(), runDirectory: root, workers: 0, log: { _ in })) { error in
            XCTAssert("\(error)".contains("`multiCrop` works with the SimCLR method only"), "\(error)")
        }
    }

    func testQueueSizeMustBeAMultipleOfTheGlobalBatch() {
        XCTAssertThrowsError(try Pretrainer(settings: settings(steps: 1, queueSize: 40), dataset: tinyData(), runDirectory: root,
                                            workers: 0, log: { _ in })) { error in
            XCTAssert("\(error)".contains("multiple of the global batch"), "\(error)")
        }
    }
}
