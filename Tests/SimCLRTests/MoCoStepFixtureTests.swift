import Contrastive
import Foundation
import Kernels
import NeuralNet
import Pretraining
import XCTest

/// Two whole MoCo steps of our `MoCoStep` (through the pretrainer, as a run takes them) against the same two
/// steps in PyTorch (Fixtures/make_moco_step_fixture.py: MoCo v2's order of query forward, momentum update,
/// key forward in train mode, loss against the queue, SGD, enqueue). ContrastiveTests check each piece alone;
/// this checks how the step puts them together: the key encoder's parameters, its BatchNorm statistics, the
/// queue and the query encoder after two steps, whose second starts from a key encoder unlike the query's.
final class MoCoStepFixtureTests: XCTestCase {
    override func setUp() { TinyPretraining.configureThreads() }

    private func fixture() throws -> [String: SafetensorsEntry] {
        let url = try XCTUnwrap(Bundle.module.url(forResource: "moco_step", withExtension: "safetensors", subdirectory: "Fixtures"))
        return try Safetensors.read(contentsOf: url).tensors
    }

    private func tensor(_ f: [String: SafetensorsEntry], _ name: String) throws -> Tensor {
        let e = try XCTUnwrap(f[name], name)
        return Tensor(shape: e.shape, values: e.floats())
    }

    /// The fixture's entries under `prefix`, by model name.
    private func entries(_ f: [String: SafetensorsEntry], _ prefix: String) -> [String: SafetensorsEntry] {
        var out: [String: SafetensorsEntry] = [:]
        for (name, e) in f where name.hasPrefix(prefix) { out[String(name.dropFirst(prefix.count))] = e }
        return out
    }

    func testTwoStepsMatchPyTorch() throws {
        let f = try fixture()
        var settings = TinyPretraining.settings(steps: 2)
        settings.batchSize = 8
        settings.model = ResNetConfig(stem: .cifar, width: 0.0625, headDims: [16, 8])
        settings.optimizer = .sgd
        settings.momentum = 0.9
        settings.weightDecay = 0
        settings.temperature = 0.2
        settings.moco = MoCoSettings(momentum: 0.9, queueSize: 16)
        let root = FileManager.default.temporaryDirectory.appendingPathComponent("moco-step-\(UUID().uuidString)")
        defer { try? FileManager.default.removeItem(at: root) }
        let trainer = try Pretrainer(settings: settings, dataset: TinyPretraining.data(16), runDirectory: root, workers: 0, log: { _ in })
        let moco = try XCTUnwrap(trainer.moco)
        let query = trainer.model, key = moco.keyEncoder
        try query.load(tensors: entries(f, "init."))
        try key.load(tensors: entries(f, "init."))
        moco.queue.keys.copy(from: try tensor(f, "queue.init").array)
        XCTAssertEqual(moco.queue.pointer, 0)
        let initial = query.flatParameters.array

        let expectedLosses = try tensor(f, "loss").array
        for step in 1...2 {
            let v1 = try tensor(f, "view1.step\(step)"), v2 = try tensor(f, "view2.step\(step)")
            let views = Tensor(shape: [16] + Array(v1.shape.dropFirst()), values: v1.array + v2.array)
            let result = try trainer.step.run(views: views, smallViews: nil, learningRate: 0.1, localStop: false)
            XCTAssertEqual(result.loss, Double(expectedLosses[step - 1]), accuracy: 1e-4 * Double(expectedLosses[step - 1]),
                           "loss of step \(step)")
        }
        XCTAssertEqual(moco.queue.pointer, 0, "two steps of 8 keys in a queue of 16")

        // Parameters: the changes from the start (query and key encoder together) against the float64 steps',
        // within twice PyTorch fp32's own deviation on the same steps.
        let expectedQuery = entries(f, "query."), expectedKey = entries(f, "key.")
        var ours: [Double] = [], reference: [Double] = []
        for model in [query, key] {
            let expected = model === query ? expectedQuery : expectedKey
            let values = model.flatParameters.array
            for p in model.parameters {
                let change = try XCTUnwrap(expected["change." + p.name], p.name).floats()
                for i in 0..<p.count {
                    ours.append(Double(values[p.offset + i]) - Double(initial[p.offset + i]))
                    reference.append(Double(change[i]))
                }
            }
        }
        var num = 0.0, den = 0.0
        for (a, b) in zip(ours, reference) { num += (a - b) * (a - b); den += b * b }
        let deviation = (num / den).squareRoot(), torch = Double(try tensor(f, "deviation.fp32").array[0])
        print(String(format: "MoCo step: deviation from float64 %.3e (PyTorch fp32 %.3e)", deviation, torch))
        XCTAssertGreaterThan(den, 0)
        XCTAssertLessThanOrEqual(deviation, 2 * torch, "parameter changes of the two steps")

        // BatchNorm running statistics: each encoder's from its own forwards (the key encoder's from view 2).
        for (model, expected, what) in [(query, expectedQuery, "query"), (key, expectedKey, "key")] {
            for b in model.buffers {
                let want = try XCTUnwrap(expected[b.name], b.name).floats()
                XCTAssertLessThan(relativeError(b.value.array, want), 1e-4, "\(what) \(b.name)")
            }
        }
        // The queue: step 1's keys in rows 0-7, step 2's in rows 8-15 (unit rows, compared absolutely).
        let queue = moco.queue.keys.array, wantQueue = try tensor(f, "queue.after").array
        XCTAssertLessThan(zip(queue, wantQueue).map { abs($0 - $1) }.max()!, 1e-3, "queue after two steps")
    }

    /// max |a - b| / max |b|.
    private func relativeError(_ a: [Float], _ b: [Float]) -> Double {
        let diff = zip(a, b).map { Double(abs($0 - $1)) }.max() ?? 0
        return diff / max(Double(b.map { abs($0) }.max() ?? 0), 1e-12)
    }
}
