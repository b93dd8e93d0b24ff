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
        let a = ResNet(config: small, seed: 1)
        // Make running statistics and counters non-trivial.
        let images = Tensor(shape: [4, 3, 8, 8], values: (0..<(4 * 192)).map { Float($0 % 17) / 17 })
        a.forward(images)
        let url = dir.appendingPathComponent("model.safetensors")
        try a.save(to: url, metadata: ["format": "pt"])
        let b = ResNet(config: small, seed: 2)
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
        let a = ResNet(config: small, seed: 1)
        let url = dir.appendingPathComponent("model.safetensors")
        try a.save(to: url)
        let b = ResNet(config: ResNetConfig(stem: .cifar, width: 0.125, headDims: [10]), seed: 3)
        XCTAssertThrowsError(try b.load(from: url)) // the heads differ
        try b.load(from: url, scope: .backbone)
        XCTAssertEqual(a.parameter(named: "layer4.1.conv2.weight")!.value.array, b.parameter(named: "layer4.1.conv2.weight")!.value.array)
    }

    // MARK: malformed files: each is refused with an error naming the problem, and the model is unchanged.

    private func expectError(_ data: Data, _ check: (SafetensorsError) -> Bool, file: StaticString = #filePath, line: UInt = #line) {
        let url = dir.appendingPathComponent("bad-\(UUID().uuidString).safetensors")
        XCTAssertTrue(FileManager.default.createFile(atPath: url.path, contents: data), "could not write \(url.path)")
        let model = ResNet(config: small, seed: 5)
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
        var entries = ResNet(config: small, seed: 9).stateEntries()
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

    // MARK: sizes a file claims: none may overflow (each of these trapped before the checks were added).

    func testShapeWhoseElementCountOverflowsIsRefused() {
        // 2^40 * 2^40 * 8 * 3 elements: the product wraps past Int.max.
        let shape = "[1099511627776,1099511627776,8,3]"
        expectError(header("{\"conv1.weight\":{\"dtype\":\"F32\",\"shape\":\(shape),\"data_offsets\":[0,0]}}")) {
            if case let .invalidHeader(reason) = $0 { return reason.contains("conv1.weight") && reason.contains("bytes") }
            return false
        }
    }

    func testShapeWhoseByteCountOverflowsIsRefused() {
        // 2^31 * 2^31 = 2^62 elements fit an Int; their 2^65 bytes of F64 do not.
        expectError(header("{\"w\":{\"dtype\":\"F64\",\"shape\":[2147483648,2147483648],\"data_offsets\":[0,0]}}")) {
            if case let .invalidHeader(reason) = $0 { return reason.contains("'w'") }
            return false
        }
    }

    func testByteCount() {
        XCTAssertEqual(Safetensors.byteCount(shape: [], elementSize: 8), 8)
        XCTAssertEqual(Safetensors.byteCount(shape: [2, 0, 5], elementSize: 4), 0)
        XCTAssertEqual(Safetensors.byteCount(shape: [3, 5], elementSize: 2), 30)
        XCTAssertNil(Safetensors.byteCount(shape: [-1, -4], elementSize: 4))
        XCTAssertNil(Safetensors.byteCount(shape: [1 << 32, 1 << 30], elementSize: 2))
        XCTAssertEqual(Safetensors.byteCount(shape: [1 << 32, 1 << 29], elementSize: 2), 1 << 62)
    }

    /// `int64s()` of a float tensor holding NaN or -3e38 trapped (found by deploy/fuzz.sh); `floats()` of
    /// I8, I16, U16, U32 and U64 tensors gave NaN.
    func testEveryDTypeConvertsWithoutTrapping() {
        let floats = SafetensorsEntry(floats: [.nan, -3e38, 3e38, -2.75, 7.5], shape: [5])
        XCTAssertEqual(floats.int64s(), [0, .min, .max, -2, 7])
        let f64 = SafetensorsEntry(dtype: .F64, shape: [2], data: [-0x1p63, 0x1p63].withUnsafeBufferPointer { Data(buffer: $0) })
        XCTAssertEqual(f64.int64s(), [.min, .max])
        func entry(_ dtype: SafetensorsDType, _ bytes: [UInt8]) -> SafetensorsEntry {
            SafetensorsEntry(dtype: dtype, shape: [bytes.count / dtype.size], data: Data(bytes))
        }
        XCTAssertEqual(entry(.I8, [0xFE, 0x05]).floats(), [-2, 5])
        XCTAssertEqual(entry(.I16, [0xFE, 0xFF, 0x00, 0x01]).floats(), [-2, 256])
        XCTAssertEqual(entry(.U16, [0xFE, 0xFF]).floats(), [65534])
        XCTAssertEqual(entry(.U32, [0x00, 0x00, 0x00, 0x80]).int64s(), [1 << 31])
        XCTAssertEqual(entry(.U64, [UInt8](repeating: 0xFF, count: 8)).int64s(), [.max])
        XCTAssertEqual(entry(.U64, [UInt8](repeating: 0xFF, count: 8)).floats(), [0x1p64])
        XCTAssertEqual(entry(.BOOL, [1, 0]).int64s(), [1, 0])
        XCTAssertEqual(entry(.F16, [0x00, 0x3C, 0x00, 0xC0]).floats(), [1, -2])
        XCTAssertEqual(entry(.BF16, [0x80, 0x3F]).int64s(), [1])
        XCTAssertEqual(entry(.I64, [0xF9] + [UInt8](repeating: 0xFF, count: 7)).int64s(), [-7])
    }
}
