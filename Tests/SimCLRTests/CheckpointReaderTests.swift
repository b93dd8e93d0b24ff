import Checkpoints
import Foundation
import Kernels
import NeuralNet
import Optimizers
import XCTest

/// The checkpoint reader on crafted bytes: everything a file claims is checked before the model or the
/// optimizer changes.
final class CheckpointReaderTests: XCTestCase {
    private let config = ResNetConfig(stem: .cifar, width: 0.0625, headDims: [8])
    private var directory: URL!

    override func setUpWithError() throws {
        directory = FileManager.default.temporaryDirectory.appendingPathComponent("checkpoint-reader-\(UUID().uuidString)")
        try FileManager.default.createDirectory(at: directory, withIntermediateDirectories: true)
    }

    override func tearDownWithError() throws { try? FileManager.default.removeItem(at: directory) }

    private func sgd(for model: ResNet) -> SGD {
        SGD(momentum: 0.9, segments: [ParameterSegment(name: "all", offset: 0, count: model.flatParameters.count)])
    }

    /// A checkpoint of a seeded model whose momentum buffer holds 0.25 everywhere, as bytes.
    private func savedCheckpoint(step: Int = 3) throws -> Data {
        let model = ResNet(config: config, seed: 1)
        let optimizer = sgd(for: model)
        for (_, t) in optimizer.stateTensors { t.copy(from: [Float](repeating: 0.25, count: t.count)) }
        let url = directory.appendingPathComponent("checkpoint.safetensors")
        try Checkpoint.save(to: url, model: model, optimizer: optimizer,
                            position: TrainingPosition(step: step, optimizerStepCount: step), settingsJSON: "{}",
                            run: RunIdentity(worldSize: 2, dataset: nil))
        return try Data(contentsOf: url)
    }

    /// The same file with its metadata or tensors edited and, unless `keepChecksum`, a checksum that matches
    /// the edits (FNV-1a 64 over the header, each key and value in key order followed by a zero byte, then the
    /// data bytes: model entries, then optimizer state, in state_dict order).
    private func rewritten(_ data: Data, position: String? = nil, metadata edits: [String: String?] = [:],
                           replacing: [String: SafetensorsEntry] = [:], keepChecksum: Bool = false) throws -> Data {
        let file = try Safetensors.parse(data)
        let model = ResNet(config: config, seed: 1)
        let names = model.stateEntries().map { "model." + $0.0 } + sgd(for: model).stateTensors.map { "optimizer." + $0.name }
        let entries = names.map { ($0, replacing[$0] ?? file.tensors[$0]!) }
        var metadata = file.metadata
        if let position { metadata["position"] = position }
        for (k, v) in edits { metadata[k] = v }
        let stored = metadata.removeValue(forKey: "checksum")
        var hash = FNV1a64()
        for key in metadata.keys.sorted() { hash.combine(bytes: Array(key.utf8) + [0] + Array(metadata[key]!.utf8) + [0]) }
        for (_, e) in entries { hash.combine(bytes: e.data) }
        metadata["checksum"] = keepChecksum ? stored : String(hash.value, radix: 16)
        return Safetensors.serialize(entries, metadata: metadata)
    }

    /// Loads `data` into a fresh model and optimizer; expects an error containing `mentions` and no change.
    private func expectRefused(_ data: Data, mentions: String, file: StaticString = #filePath, line: UInt = #line) {
        let model = ResNet(config: config, seed: 7)
        let optimizer = sgd(for: model)
        let before = model.flatParameters.array
        XCTAssertThrowsError(try Checkpoint.load(data, path: "crafted.ckpt", model: model, optimizer: optimizer),
                             file: file, line: line) { error in
            XCTAssertTrue("\(error)".contains(mentions) && "\(error)".contains("crafted.ckpt"), "\(error)", file: file, line: line)
        }
        XCTAssertTrue(model.flatParameters.array == before, "a refused checkpoint changed the model", file: file, line: line)
        XCTAssertTrue(optimizer.stateTensors.allSatisfy { $0.tensor.array.allSatisfy { $0 == 0 } },
                      "a refused checkpoint changed the optimizer", file: file, line: line)
    }

    func testBytesRoundTrip() throws {
        let data = try savedCheckpoint(step: 5)
        let model = ResNet(config: config, seed: 2)
        let optimizer = sgd(for: model)
        let header = try Checkpoint.load(data, path: "c", model: model, optimizer: optimizer)
        XCTAssertEqual(header.position, TrainingPosition(step: 5, optimizerStepCount: 5))
        XCTAssertEqual(header.settingsJSON, "{}")
        XCTAssertEqual(header.run, RunIdentity(worldSize: 2, dataset: nil))
        XCTAssertEqual(model.flatParameters.array, ResNet(config: config, seed: 1).flatParameters.array)
        XCTAssertEqual(optimizer.stepCount, 5)
        XCTAssertTrue(optimizer.stateTensors[0].tensor.array.allSatisfy { $0 == 0.25 })
        // The rewriting helper itself keeps a file valid.
        XCTAssertNoThrow(try Checkpoint.load(try rewritten(data), path: "c", model: model, optimizer: optimizer))
    }

    /// Editing "step":3 to 4 in the header (or the settings, or the rank count) was accepted: the checksum
    /// covered the tensors only.
    func testEditedHeaderFailsTheChecksum() throws {
        let data = try savedCheckpoint()
        expectRefused(try rewritten(data, position: #"{"step":4,"optimizerStepCount":3}"#, keepChecksum: true), mentions: "checksum")
        expectRefused(try rewritten(data, metadata: ["settings": #"{"lr":1}"#], keepChecksum: true), mentions: "checksum")
        expectRefused(try rewritten(data, metadata: ["run": #"{"worldSize":1}"#], keepChecksum: true), mentions: "checksum")
        expectRefused(try rewritten(data, metadata: ["note": "added"], keepChecksum: true), mentions: "checksum")
    }

    /// A checkpoint of the earlier format (no format key, header not covered) is refused with the reason.
    func testCheckpointOfTheEarlierFormatIsRefused() throws {
        expectRefused(try rewritten(try savedCheckpoint(), metadata: ["format": nil]), mentions: "older version")
    }

    /// A negative step was accepted before (the checksum covers tensors only) and the training loop
    /// computed a negative epoch from it.
    func testNegativeOrNonFinitePositionIsRefused() throws {
        let data = try savedCheckpoint()
        expectRefused(try rewritten(data, position: #"{"step":-3,"optimizerStepCount":0}"#), mentions: "negative")
        expectRefused(try rewritten(data, position: #"{"step":3,"optimizerStepCount":-1}"#), mentions: "negative")
        expectRefused(try rewritten(data, position: #"{"step":3,"optimizerStepCount":3,"epochTotals":[1e999]}"#),
                      mentions: "position")
    }

    /// Optimizer state of another dtype was converted (or read as NaN) silently, and a wrong size was
    /// found only after the model had already been overwritten.
    func testOptimizerStateOfAnotherTypeOrSizeIsRefusedBeforeAnythingChanges() throws {
        let data = try savedCheckpoint()
        let count = ResNet(config: config, seed: 1).flatParameters.count
        let ints = SafetensorsEntry(dtype: .I32, shape: [count], data: Data(count: 4 * count))
        expectRefused(try rewritten(data, replacing: ["optimizer.momentum_buffer": ints]), mentions: "I32")
        let short = SafetensorsEntry(floats: [Float](repeating: 1, count: count - 1), shape: [count - 1])
        expectRefused(try rewritten(data, replacing: ["optimizer.momentum_buffer": short]), mentions: "momentum_buffer")
    }

    /// A tensor whose shape overflows (2^40 x 2^40 x 8 x 3) trapped in the safetensors parser.
    func testOverflowingShapeIsAnError() throws {
        let json = #"{"model.conv1.weight":{"dtype":"F32","shape":[1099511627776,1099511627776,8,3],"data_offsets":[0,0]}}"#
        var data = Data()
        withUnsafeBytes(of: UInt64(json.utf8.count).littleEndian) { data.append(contentsOf: $0) }
        data.append(Data(json.utf8))
        expectRefused(data, mentions: "conv1.weight")
    }
}
