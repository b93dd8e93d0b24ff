import Foundation

/// Errors reading a safetensors file or matching it to a model. Each names the problem.
public enum SafetensorsError: Error, CustomStringConvertible, Equatable {
    case unreadable(path: String, reason: String)
    case truncated(size: Int)
    case headerLengthBeyondFile(headerLength: UInt64, fileSize: Int)
    case invalidHeader(String)
    case unknownDType(tensor: String, dtype: String)
    case badDataOffsets(tensor: String, reason: String)
    case missingKey(String)
    case unexpectedKey(String)
    case shapeMismatch(tensor: String, expected: [Int], found: [Int])
    case dtypeMismatch(tensor: String, expected: String, found: String)

    public var description: String {
        switch self {
        case let .unreadable(path, reason): return "cannot read \(path): \(reason)"
        case let .truncated(size): return "file of \(size) bytes is too short for a safetensors header (needs at least 8 bytes)"
        case let .headerLengthBeyondFile(len, size):
            return "header length \(len) runs past the end of the file (\(size) bytes)"
        case let .invalidHeader(reason): return "invalid safetensors header: \(reason)"
        case let .unknownDType(name, dtype): return "tensor '\(name)' has unknown dtype '\(dtype)'"
        case let .badDataOffsets(name, reason): return "tensor '\(name)': \(reason)"
        case let .missingKey(name): return "missing tensor '\(name)'"
        case let .unexpectedKey(name): return "unexpected tensor '\(name)' (not part of this model)"
        case let .shapeMismatch(name, expected, found): return "tensor '\(name)' has shape \(found), expected \(expected)"
        case let .dtypeMismatch(name, expected, found): return "tensor '\(name)' has dtype \(found), expected \(expected)"
        }
    }
}

/// The element types safetensors names, with their sizes in bytes.
public enum SafetensorsDType: String {
    case F64, F32, F16, BF16, I64, I32, I16, I8, U8, BOOL, U16, U32, U64
    public var size: Int {
        switch self {
        case .F64, .I64, .U64: return 8
        case .F32, .I32, .U32: return 4
        case .F16, .BF16, .I16, .U16: return 2
        case .I8, .U8, .BOOL: return 1
        }
    }
}

/// One tensor of a safetensors file: dtype, shape and its raw little-endian bytes.
public struct SafetensorsEntry {
    public let dtype: SafetensorsDType
    public let shape: [Int]
    public let data: Data

    public init(dtype: SafetensorsDType, shape: [Int], data: Data) {
        self.dtype = dtype; self.shape = shape; self.data = data
    }

    public init(floats: [Float], shape: [Int]) {
        precondition(floats.count == shape.reduce(1, *))
        self.init(dtype: .F32, shape: shape, data: floats.withUnsafeBufferPointer { Data(buffer: $0) })
    }

    public init(int64 value: Int64) {
        self.init(dtype: .I64, shape: [], data: withUnsafeBytes(of: value.littleEndian) { Data($0) })
    }

    public var elementCount: Int { shape.reduce(1, *) }

    /// The values as Float (F32 as is; F64, F16, BF16 and integer types converted).
    public func floats() -> [Float] {
        data.withUnsafeBytes { raw -> [Float] in
            let n = elementCount
            switch dtype {
            case .F32: return (0..<n).map { Float(bitPattern: UInt32(littleEndian: raw.loadUnaligned(fromByteOffset: 4 * $0, as: UInt32.self))) }
            case .F64: return (0..<n).map { Float(Double(bitPattern: UInt64(littleEndian: raw.loadUnaligned(fromByteOffset: 8 * $0, as: UInt64.self)))) }
            case .F16: return (0..<n).map { Float(Float16(bitPattern: UInt16(littleEndian: raw.loadUnaligned(fromByteOffset: 2 * $0, as: UInt16.self)))) }
            case .BF16: return (0..<n).map { Float(bitPattern: UInt32(UInt16(littleEndian: raw.loadUnaligned(fromByteOffset: 2 * $0, as: UInt16.self))) << 16) }
            case .I64: return (0..<n).map { Float(Int64(littleEndian: raw.loadUnaligned(fromByteOffset: 8 * $0, as: Int64.self))) }
            case .I32: return (0..<n).map { Float(Int32(littleEndian: raw.loadUnaligned(fromByteOffset: 4 * $0, as: Int32.self))) }
            case .U8, .BOOL: return (0..<n).map { Float(raw[$0]) }
            default: return (0..<n).map { _ in .nan }
            }
        }
    }

    public func int64s() -> [Int64] {
        guard dtype == .I64 else { return floats().map { Int64($0) } }
        return data.withUnsafeBytes { raw in
            (0..<elementCount).map { Int64(littleEndian: raw.loadUnaligned(fromByteOffset: 8 * $0, as: Int64.self)) }
        }
    }
}

/// Reads and writes the safetensors format: an 8-byte little-endian header length, a JSON header
/// `{name: {dtype, shape, data_offsets: [begin, end]}, "__metadata__": {...}}`, then the raw data.
public enum Safetensors {
    public static func read(contentsOf url: URL) throws -> (tensors: [String: SafetensorsEntry], metadata: [String: String]) {
        let data: Data
        do { data = try Data(contentsOf: url) } catch {
            throw SafetensorsError.unreadable(path: url.path, reason: error.localizedDescription)
        }
        return try parse(data)
    }

    public static func parse(_ data: Data) throws -> (tensors: [String: SafetensorsEntry], metadata: [String: String]) {
        guard data.count >= 8 else { throw SafetensorsError.truncated(size: data.count) }
        let headerLength = data.prefix(8).enumerated().reduce(UInt64(0)) { $0 | UInt64($1.element) << (8 * UInt64($1.offset)) }
        guard headerLength <= UInt64(data.count - 8) else {
            throw SafetensorsError.headerLengthBeyondFile(headerLength: headerLength, fileSize: data.count)
        }
        let start = data.startIndex
        let headerData = data.subdata(in: (start + 8)..<(start + 8 + Int(headerLength)))
        let json: Any
        do { json = try JSONSerialization.jsonObject(with: headerData) } catch {
            throw SafetensorsError.invalidHeader("not valid JSON (\(error.localizedDescription))")
        }
        guard let header = json as? [String: Any] else { throw SafetensorsError.invalidHeader("not a JSON object") }
        let bodyStart = start + 8 + Int(headerLength)
        let bodyCount = data.count - 8 - Int(headerLength)
        var tensors: [String: SafetensorsEntry] = [:]
        var metadata: [String: String] = [:]
        for (name, value) in header {
            if name == "__metadata__" {
                guard let m = value as? [String: Any] else { throw SafetensorsError.invalidHeader("__metadata__ is not an object") }
                for (k, v) in m {
                    guard let s = v as? String else { throw SafetensorsError.invalidHeader("__metadata__ value '\(k)' is not a string") }
                    metadata[k] = s
                }
                continue
            }
            guard let info = value as? [String: Any] else { throw SafetensorsError.invalidHeader("entry '\(name)' is not an object") }
            guard let dtypeName = info["dtype"] as? String else { throw SafetensorsError.invalidHeader("entry '\(name)' has no dtype") }
            guard let dtype = SafetensorsDType(rawValue: dtypeName) else {
                throw SafetensorsError.unknownDType(tensor: name, dtype: dtypeName)
            }
            guard let shapeValues = info["shape"] as? [Any], let shape = integers(shapeValues), shape.allSatisfy({ $0 >= 0 }) else {
                throw SafetensorsError.invalidHeader("entry '\(name)' has no valid shape")
            }
            guard let offsetValues = info["data_offsets"] as? [Any], let offsets = integers(offsetValues), offsets.count == 2 else {
                throw SafetensorsError.badDataOffsets(tensor: name, reason: "data_offsets must be two integers")
            }
            let (begin, end) = (offsets[0], offsets[1])
            guard begin >= 0, begin <= end, end <= bodyCount else {
                throw SafetensorsError.badDataOffsets(tensor: name, reason: "data_offsets [\(begin), \(end)] outside the \(bodyCount) data bytes")
            }
            let expected = shape.reduce(1, *) * dtype.size
            guard end - begin == expected else {
                throw SafetensorsError.badDataOffsets(tensor: name, reason: "holds \(end - begin) bytes, shape \(shape) of \(dtype) needs \(expected)")
            }
            tensors[name] = SafetensorsEntry(dtype: dtype, shape: shape, data: data.subdata(in: (bodyStart + begin)..<(bodyStart + end)))
        }
        return (tensors, metadata)
    }

    private static func integers(_ values: [Any]) -> [Int]? {
        var out: [Int] = []
        for v in values {
            guard let n = v as? NSNumber, n.doubleValue == n.doubleValue.rounded(), abs(n.doubleValue) < 9e15 else { return nil }
            out.append(n.intValue)
        }
        return out
    }

    /// Serializes tensors in the given order (PyTorch does not care about order; we keep the model's).
    public static func serialize(_ tensors: [(String, SafetensorsEntry)], metadata: [String: String] = [:]) -> Data {
        var headerFields: [String] = []
        if !metadata.isEmpty {
            let fields = metadata.sorted { $0.key < $1.key }.map { "\(jsonString($0.key)):\(jsonString($0.value))" }
            headerFields.append("\"__metadata__\":{\(fields.joined(separator: ","))}")
        }
        var offset = 0
        for (name, t) in tensors {
            let shape = t.shape.map(String.init).joined(separator: ",")
            headerFields.append("\(jsonString(name)):{\"dtype\":\"\(t.dtype.rawValue)\",\"shape\":[\(shape)],\"data_offsets\":[\(offset),\(offset + t.data.count)]}")
            offset += t.data.count
        }
        var header = Data(("{" + headerFields.joined(separator: ",") + "}").utf8)
        // Pad with spaces so the data starts 8-byte aligned, as the reference writer does.
        while header.count % 8 != 0 { header.append(0x20) }
        var out = Data(capacity: 8 + header.count + offset)
        withUnsafeBytes(of: UInt64(header.count).littleEndian) { out.append(contentsOf: $0) }
        out.append(header)
        for (_, t) in tensors { out.append(t.data) }
        return out
    }

    private static func jsonString(_ s: String) -> String {
        var out = "\""
        for scalar in s.unicodeScalars {
            switch scalar {
            case "\"": out += "\\\""
            case "\\": out += "\\\\"
            case "\n": out += "\\n"
            default:
                if scalar.value < 0x20 { out += String(format: "\\u%04x", scalar.value) } else { out.unicodeScalars.append(scalar) }
            }
        }
        return out + "\""
    }
}
