import Foundation
import NeuralNet
import XCTest

/// `WeightsFile`: what a weights file shows about its network, checkpoints read as model files, and directories
/// refused with a useful message.
final class WeightsFileTests: XCTestCase {
    private func temporaryDirectory() throws -> URL {
        let url = FileManager.default.temporaryDirectory.appendingPathComponent("WeightsFileTests-\(UUID().uuidString)")
        try FileManager.default.createDirectory(at: url, withIntermediateDirectories: true)
        addTeardownBlock { try? FileManager.default.removeItem(at: url) }
        return url
    }

    /// The width read back from a file gives the channel counts the file has, for every architecture; a width
    /// whose stages round unevenly (0.26: 17/33/67/133 channels) is found as well.
    func testWidthAndArchitectureAreReadFromTheChannels() throws {
        let dir = try temporaryDirectory()
        for (arch, width) in [(Architecture.resnet18, 0.0625), (.resnet18, 0.26), (.resnet18, 1.0), (.resnet34, 0.125),
                              (.resnet50, 0.0625), (.resnet50, 0.26)] {
            let config = ResNetConfig(arch: arch, stem: .cifar, width: width, headDims: [8])
            let url = dir.appendingPathComponent("\(arch.rawValue)-\(width).safetensors")
            try ResNet(config: config, seed: 1).save(to: url)
            let file = try WeightsFile(path: url.path)
            XCTAssertEqual(file.architecture, arch)
            let found = try XCTUnwrap(file.width, "\(arch) \(width)")
            XCTAssertEqual(ResNetConfig(arch: arch, stem: .cifar, width: found, headDims: []).stageChannels,
                           config.stageChannels, "\(arch) \(width) read as \(found)")
            XCTAssertFalse(file.isCheckpoint)
        }
    }

    /// A training checkpoint's `model.` tensors load like a model file's; its other tensors are ignored.
    func testACheckpointReadsAsItsModel() throws {
        let dir = try temporaryDirectory()
        let config = ResNetConfig(arch: .resnet18, stem: .cifar, width: 0.0625, headDims: [8])
        let source = ResNet(config: config, seed: 3)
        var entries = source.stateEntries().map { ("model." + $0.0, $0.1) }
        entries.append(("optimizer.momentum", SafetensorsEntry(floats: [1, 2, 3], shape: [3])))
        let url = dir.appendingPathComponent("checkpoint.safetensors")
        try Safetensors.serialize(entries, metadata: ["format": "test"]).write(to: url)
        let file = try WeightsFile(path: url.path)
        XCTAssertTrue(file.isCheckpoint)
        XCTAssertEqual(file.width, 0.0625)
        let loaded = ResNet(config: config, seed: 99)
        try loaded.load(from: url)
        XCTAssertEqual(loaded.flatParameters.array, source.flatParameters.array)
    }

    func testDirectoriesAndMissingFilesAreNamed() throws {
        let dir = try temporaryDirectory()
        XCTAssertThrowsError(try WeightsFile.checkIsFile(dir.path)) {
            XCTAssertEqual($0 as? WeightsFileError, .directory(path: dir.path, weightsInside: nil))
        }
        let model = dir.appendingPathComponent("model.safetensors")
        try ResNet(config: ResNetConfig(arch: .resnet18, stem: .cifar, width: 0.0625, headDims: []), seed: 0).save(to: model)
        XCTAssertThrowsError(try WeightsFile.checkIsFile(dir.path + "/")) {
            XCTAssertEqual("\($0)", "\(dir.path)/ is a directory; did you mean \(dir.path)/model.safetensors?")
        }
        XCTAssertThrowsError(try WeightsFile.checkIsFile(dir.path + "/nothing")) {
            XCTAssertEqual("\($0)", "\(dir.path)/nothing: file not found")
        }
    }
}

/// Loading weights refuses values that are not finite numbers, naming the tensor, and leaves the model as it was.
final class NonFiniteWeightsTests: XCTestCase {
    func testALoadWithNaNOrInfinityChangesNothingAndNamesTheTensor() throws {
        let config = ResNetConfig(arch: .resnet18, stem: .cifar, width: 0.0625, headDims: [8])
        let target = ResNet(config: config, seed: 1), before = target.flatParameters.array
        for bad in [Float.nan, .infinity, -.infinity] {
            var tensors = Dictionary(uniqueKeysWithValues: ResNet(config: config, seed: 2).stateEntries())
            let entry = try XCTUnwrap(tensors["bn1.running_var"])
            var values = entry.floats()
            values[values.count - 1] = bad
            tensors["bn1.running_var"] = SafetensorsEntry(floats: values, shape: entry.shape)
            XCTAssertThrowsError(try target.load(tensors: tensors)) { error in
                XCTAssertEqual(error as? SafetensorsError, .nonFinite(tensor: "bn1.running_var", count: 1, elements: values.count))
            }
            XCTAssertEqual(target.flatParameters.array, before, "a refused load changed the model (\(bad))")
        }
    }
}
