import Checkpoints
import Datasets
import Foundation
import Kernels
import NeuralNet
import Optimizers
import TestSupport
import XCTest

/// The committed inputs of the fuzz targets (Tests/Fuzz/Corpus/<target>/, run by deploy/fuzz.sh).
///
/// Files named `seed-*` are valid inputs written by the project's own writers, so the fuzzer starts from
/// inputs that reach every check; the others are inputs that once crashed a reader. Every file goes
/// through the reader of its target here, without the fuzzer: none may trap, every seed must be accepted.
/// `SIMCLR_WRITE_FUZZ_SEEDS=1 swift test -c release --filter FuzzCorpusTests` rewrites the seeds (after a
/// format change; the images seeds are copies of Tests/DatasetsTests/Fixtures/images).
final class FuzzCorpusTests: XCTestCase {
    private static let corpus = ProcessHarness.packageRoot.appendingPathComponent("Tests/Fuzz/Corpus")

    /// The model and optimizer Tests/Fuzz/Targets/checkpoint.swift and safetensors.swift load into.
    private static func fuzzModel() -> ResNet {
        ResNet(config: ResNetConfig(stem: .cifar, width: 1.0 / 64, headDims: [2]), seed: 0)
    }

    private static func fuzzOptimizer(_ model: ResNet) -> SGD {
        SGD(momentum: 0.9, segments: [ParameterSegment(name: "all", offset: 0, count: model.flatParameters.count)])
    }

    /// What each target does with one input (as its Tests/Fuzz/Targets file does); throws when the reader refuses it.
    private static let readers: [String: (Data) throws -> Void] = [
        "safetensors": { data in
            let file = try Safetensors.parse(data)
            for (_, entry) in file.tensors { _ = entry.floats(); _ = entry.int64s() }
            let model = fuzzModel()
            if file.tensors.keys.contains("conv1.weight") { try model.load(tensors: file.tensors) }
        },
        "checkpoint": { data in
            let model = fuzzModel()
            _ = try Checkpoint.load(data, path: "corpus", model: model, optimizer: fuzzOptimizer(model))
        },
        "cifar10": { data in _ = try CIFAR10.decodeBatch(data, file: "corpus") },
        "stl10": { data in
            let bytes = [UInt8](data)
            guard bytes.count >= 2 else { throw DatasetError.invalidConfiguration("shorter than the label count") }
            let labelCount = Int(bytes[0]) | Int(bytes[1]) << 8
            let rest = bytes.dropFirst(2)
            let labels = labelCount == 0xFFFF ? nil : (bytes: Data(rest.prefix(labelCount)), file: "labels")
            _ = try STL10.decode(images: Data(labelCount == 0xFFFF ? rest : rest.dropFirst(labelCount)),
                                 file: "images", labels: labels)
        },
        "npy": { data in _ = try NumpyFile.decodeFloats(data, path: "corpus") },
        "images": { data in _ = ImageFolder.resizedCenterCrop(try ImageDecoder.decode(data, file: "corpus"), size: 8) },
    ]

    func testEveryCommittedInputIsReadWithoutATrapAndEverySeedIsAccepted() throws {
        if ProcessInfo.processInfo.environment["SIMCLR_WRITE_FUZZ_SEEDS"] == "1" { try Self.writeSeeds() }
        for (target, read) in Self.readers.sorted(by: { $0.key < $1.key }) {
            let directory = Self.corpus.appendingPathComponent(target)
            let names = try FileManager.default.contentsOfDirectory(atPath: directory.path).sorted()
            XCTAssertTrue(names.contains { $0.hasPrefix("seed-") }, "\(target) has no seeds")
            for name in names {
                let data = try Data(contentsOf: directory.appendingPathComponent(name))
                do {
                    try read(data)
                } catch {
                    XCTAssertFalse(name.hasPrefix("seed-"), "seed \(target)/\(name) is refused (\(error)); rewrite the seeds "
                                   + "with SIMCLR_WRITE_FUZZ_SEEDS=1")
                }
            }
        }
    }

    // MARK: the seeds

    /// Running sums of half an epoch, so the seed's position carries every field.
    private static var fuzzEpochTotals: EpochTotals {
        var totals = EpochTotals()
        (totals.lossSum, totals.steps, totals.top1Hits, totals.images, totals.seconds) = (0.5, 1, 3, 8, 0.25)
        return totals
    }

    private static func writeSeeds() throws {
        func write(_ target: String, _ name: String, _ data: Data) throws {
            let directory = corpus.appendingPathComponent(target)
            try FileManager.default.createDirectory(at: directory, withIntermediateDirectories: true)
            try data.write(to: directory.appendingPathComponent("seed-" + name))
        }
        let temporary = FileManager.default.temporaryDirectory.appendingPathComponent("fuzz-seeds-\(UUID().uuidString)")
        try FileManager.default.createDirectory(at: temporary, withIntermediateDirectories: true)
        defer { try? FileManager.default.removeItem(at: temporary) }

        // safetensors: the fuzz model's file, and one tensor of each other dtype with metadata.
        let model = fuzzModel()
        try write("safetensors", "model", Safetensors.serialize(model.stateEntries(), metadata: ["format": "pt"]))
        let mixed: [(String, SafetensorsEntry)] = [
            ("f64", SafetensorsEntry(dtype: .F64, shape: [2], data: Data(count: 16))),
            ("f16", SafetensorsEntry(dtype: .F16, shape: [1, 2], data: Data([0x00, 0x3C, 0x00, 0xC0]))),
            ("bf16", SafetensorsEntry(dtype: .BF16, shape: [1], data: Data([0x80, 0x3F]))),
            ("i64", SafetensorsEntry(int64: -7)),
            ("u8", SafetensorsEntry(dtype: .U8, shape: [3], data: Data([1, 2, 255]))),
            ("empty", SafetensorsEntry(dtype: .F32, shape: [0, 4], data: Data())),
        ]
        try write("safetensors", "dtypes", Safetensors.serialize(mixed, metadata: ["note": "seed"]))

        // checkpoint: the fuzz model and optimizer after one update, so every tensor holds non-zero bytes.
        let optimizer = fuzzOptimizer(model)
        let gradients = Tensor(shape: [model.flatParameters.count],
                               values: (0..<model.flatParameters.count).map { Float($0 % 7) - 3 })
        optimizer.step(parameters: model.flatParameters, gradients: gradients, learningRate: 0.01)
        let checkpoint = temporary.appendingPathComponent("checkpoint.safetensors")
        try Checkpoint.save(to: checkpoint, model: model, optimizer: optimizer,
                            position: TrainingPosition(step: 1, optimizerStepCount: 1, epochTotals: fuzzEpochTotals),
                            settingsJSON: #"{"steps":2}"#, run: RunIdentity(worldSize: 1, dataset: nil))
        try write("checkpoint", "step1", try Data(contentsOf: checkpoint))

        // cifar10: two records (labels 3 and 9).
        var rng = RandomStream(seed: 11)
        func pixels(_ n: Int) -> [UInt8] { (0..<n).map { _ in UInt8(truncatingIfNeeded: rng.next()) } }
        let cifar = LabeledImages(height: 32, width: 32, pixels: pixels(2 * 3072), labels: [3, 9],
                                  classNames: CIFAR10.defaultClassNames)
        let batch = temporary.appendingPathComponent("batch.bin").path
        try CIFAR10.writeBatch(cifar, to: batch)
        try write("cifar10", "two-records", try Data(contentsOf: URL(fileURLWithPath: batch)))

        // stl10: one labelled image, and one image without a labels file.
        let stl = LabeledImages(height: 96, width: 96, pixels: pixels(STL10.imageBytes), labels: [4],
                                classNames: STL10.defaultClassNames)
        let x = temporary.appendingPathComponent("x.bin").path, y = temporary.appendingPathComponent("y.bin").path
        try STL10.write(stl, imagesPath: x, labelsPath: y)
        let imageBytes = try Data(contentsOf: URL(fileURLWithPath: x))
        try write("stl10", "labelled", Data([1, 0]) + (try Data(contentsOf: URL(fileURLWithPath: y))) + imageBytes)
        try write("stl10", "unlabelled", Data([0xFF, 0xFF]) + imageBytes)

        // npy: float32 2x3, float64 vector, int64 scalar, and a version 2.0 header (4-byte length).
        let npy = temporary.appendingPathComponent("a.npy")
        try NumpyFile.write(floats: [1.5, -2, 0.25, 3, 1e-3, -0], shape: [2, 3], to: npy)
        try write("npy", "f4", try Data(contentsOf: npy))
        try NumpyFile.write(int64s: [42], shape: [], to: npy)
        try write("npy", "i8-scalar", try Data(contentsOf: npy))
        var f8 = Data([0x93] + Array("NUMPY".utf8) + [2, 0])
        let header = "{'descr': '<f8', 'fortran_order': False, 'shape': (2,), }" + String(repeating: " ", count: 3) + "\n"
        f8.append(contentsOf: withUnsafeBytes(of: UInt32(header.utf8.count).littleEndian, Array.init))
        f8.append(Data(header.utf8))
        f8.append(contentsOf: [0.5, -8.0].flatMap { (v: Double) in withUnsafeBytes(of: v.bitPattern.littleEndian, Array.init) })
        try write("npy", "f8-version2", f8)
    }
}
