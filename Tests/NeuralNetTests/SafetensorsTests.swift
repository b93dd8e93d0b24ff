import Foundation
import Kernels
import NeuralNet
import XCTest

final class SafetensorsTests: XCTestCase {
    private let small = ResNetConfig(stem: .cifar, width: 0.125, headDims: [32, 16])
    private var dir: URL!

    override func setUpWithError() throws {
        dir = FileManager.default.temporaryDirectory.appendingPathComponent("safetensors-tests-\(UUID().uuidString)")
        try FileManager.default.createDirectory(at: dir, withIntermediateDirectories: true)
    }

    override func tearDownWithError() throws { try? FileManager.default.removeItem(at: dir) }

    func testRoundTripRestoresParametersBuffersAndCounters() throws {
        let a = ResNet18(config: small, seed: 1)
        // Make running statistics and counters non-trivial.
        let images = Tensor(shape: [4, 3, 8, 8], values: (0..<(4 * 192)).map { Float($0 % 17) / 17 })
        a.forward(images)
        let url = dir.appendingPathComponent("model.safetensors")
        try a.save(to: url, metadata: ["format": "pt"])
        let b = ResNet18(config: small, seed: 2)
        XCTAssertNotEqual(a.flatParameters.array, b.flatParameters.array)
        try b.load(from: url)
        XCTAssertEqual(a.flatParameters.array, b.flatParameters.array)
        XCTAssertEqual(a.registry.flatBuffers.array, b.registry.flatBuffers.array)
        XCTAssertEqual(b.batchNorms.map(\.numBatchesTracked), a.batchNorms.map { _ in 1 })
        let file = try Safetensors.read(contentsOf: url)
        XCTAssertEqual(file.metadata["format"], "pt")
        XCTAssertEqual(file.tensors["bn1.num_batches_tracked"]?.dtype, .I64)
        XCTAssertEqual(file.tensors["bn1.num_batches_tracked"]?.shape, [])
        XCTAssertEqual(file.tensors["layer2.0.downsample.0.weight"]?.shape, [16, 8, 1, 1]) // width 0.125: 8 -> 16 channels
        XCTAssertEqual(file.tensors["fc.2.weight"]?.shape, [16, 32])
        // 60 backbone parameters + 20 BNs x 3 buffers + 4 head parameters.
        XCTAssertEqual(file.tensors.count, 60 + 60 + 4)
    }

    func testBackboneScopeIgnoresHead() throws {
        let a = ResNet18(config: small, seed: 1)
        let url = dir.appendingPathComponent("model.safetensors")
        try a.save(to: url)
        let b = ResNet18(config: ResNetConfig(stem: .cifar, width: 0.125, headDims: [10]), seed: 3)
        XCTAssertThrowsError(try b.load(from: url)) // the heads differ
        try b.load(from: url, scope: .backbone)
        XCTAssertEqual(a.parameter(named: "layer4.1.conv2.weight")!.value.array, b.parameter(named: "layer4.1.conv2.weight")!.value.array)
    }

    // MARK: malformed files: each is refused with an error naming the problem, and the model is unchanged.

    private func expectError(_ data: Data, _ check: (SafetensorsError) -> Bool, file: StaticString = #filePath, line: UInt = #line) {
        let url = dir.appendingPathComponent("bad-\(UUID().uuidString).safetensors")
        FileManager.default.createFile(atPath: url.path, contents: data)
        let model = ResNet18(config: small, seed: 5)
        let before = model.flatParameters.array
        do {
            try model.load(from: url)
            XCTFail("loaded a malformed file", file: file, line: line)
        } catch let error as SafetensorsError {
            XCTAssertTrue(check(error), "unexpected error: \(error)", file: file, line: line)
            XCTAssertFalse(error.description.isEmpty)
        } catch {
            XCTFail("unexpected error type \(error)", file: file, line: line)
        }
        XCTAssertEqual(model.flatParameters.array, before, "a failed load must not change the model", file: file, line: line)
    }

    private func header(_ json: String, body: Data = Data()) -> Data {
        var d = Data()
        withUnsafeBytes(of: UInt64(json.utf8.count).littleEndian) { d.append(contentsOf: $0) }
        d.append(Data(json.utf8))
        d.append(body)
        return d
    }

    private func validFile(mutating: (inout [(String, SafetensorsEntry)]) -> Void = { _ in }) -> Data {
        var entries = ResNet18(config: small, seed: 9).stateEntries()
        mutating(&entries)
        return Safetensors.serialize(entries)
    }

    func testTruncatedFile() {
        expectError(Data([1, 2, 3])) { if case .truncated = $0 { return true }; return false }
        let full = validFile()
        expectError(full.prefix(full.count - 10)) { if case .badDataOffsets = $0 { return true }; return false }
    }

    func testHeaderLengthBeyondFile() {
        var d = Data()
        withUnsafeBytes(of: UInt64(1_000_000).littleEndian) { d.append(contentsOf: $0) }
        d.append(Data("{}".utf8))
        expectError(d) { if case .headerLengthBeyondFile(1_000_000, _) = $0 { return true }; return false }
    }

    func testBadJSON() {
        expectError(header("{\"conv1.weight\": {\"dtype\": ")) { if case .invalidHeader = $0 { return true }; return false }
        expectError(header("[1, 2]")) { if case .invalidHeader = $0 { return true }; return false }
    }

    func testUnknownDType() {
        expectError(header("{\"conv1.weight\":{\"dtype\":\"F128\",\"shape\":[1],\"data_offsets\":[0,16]}}", body: Data(count: 16))) {
            if case .unknownDType("conv1.weight", "F128") = $0 { return true }; return false
        }
    }

    func testMissingAndUnexpectedKeys() {
        expectError(validFile { $0.removeAll { $0.0 == "layer3.1.bn2.running_var" } }) { $0 == .missingKey("layer3.1.bn2.running_var") }
        expectError(validFile { $0.append(("layer5.0.conv1.weight", SafetensorsEntry(floats: [1], shape: [1]))) }) {
            $0 == .unexpectedKey("layer5.0.conv1.weight")
        }
    }

    func testWrongShapeAndDType() {
        expectError(validFile { e in
            let i = e.firstIndex { $0.0 == "fc.0.bias" }!
            e[i] = ("fc.0.bias", SafetensorsEntry(floats: [Float](repeating: 0, count: 31), shape: [31]))
        }) { $0 == .shapeMismatch(tensor: "fc.0.bias", expected: [32], found: [31]) }
        expectError(validFile { e in
            let i = e.firstIndex { $0.0 == "bn1.num_batches_tracked" }!
            e[i] = ("bn1.num_batches_tracked", SafetensorsEntry(floats: [0], shape: []))
        }) { $0 == .dtypeMismatch(tensor: "bn1.num_batches_tracked", expected: "I64", found: "F32") }
    }

    func testDataOffsetsThatDoNotMatchTheShape() {
        expectError(header("{\"conv1.weight\":{\"dtype\":\"F32\",\"shape\":[2,2],\"data_offsets\":[0,8]}}", body: Data(count: 8))) {
            if case .badDataOffsets("conv1.weight", _) = $0 { return true }; return false
        }
    }
}
