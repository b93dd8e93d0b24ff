import Foundation
import Kernels

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
    /// A tensor holding NaN or infinite values (a diverged run's weights): loading it would train or evaluate NaN.
    case nonFinite(tensor: String, count: Int, elements: Int)

    /// True for values that are not finite numbers: a fault of the run that wrote the file, not a sign that
    /// the file belongs to another network (messages then hint at the architecture flags).
    public var isNonFinite: Bool {
        if case .nonFinite = self { return true }
        return false
    }

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
        case let .nonFinite(name, count, elements):
            return "tensor '\(name)' holds \(count) NaN or infinite value(s) of \(elements) (weights of a run that diverged?)"
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

    /// `data` must hold exactly the elements of `shape` (the readers below check files before building entries).
    public init(dtype: SafetensorsDType, shape: [Int], data: Data) {
        precondition(Safetensors.byteCount(shape: shape, elementSize: dtype.size) == data.count,
                     "\(data.count) bytes for a \(dtype) tensor of shape \(shape)")
        self.dtype = dtype; self.shape = shape; self.data = data
    }

    public init(floats: [Float], shape: [Int]) {
        precondition(floats.count == shape.reduce(1, *))
        self.init(dtype: .F32, shape: shape, data: floats.withUnsafeBufferPointer { Data(buffer: $0) })
    }

    public init(int64 value: Int64) {
        self.init(dtype: .I64, shape: [], data: withUnsafeBytes(of: value.littleEndian) { Data($0) })
    }

    public var elementCount: Int { data.count / dtype.size }

    /// Throws `SafetensorsError.nonFinite` naming `tensor` when `values` hold NaN or an infinity.
    public static func checkFinite(_ values: [Float], tensor: String) throws {
        let bad = values.reduce(0) { $0 + ($1.isFinite ? 0 : 1) }
        if bad > 0 { throw SafetensorsError.nonFinite(tensor: tensor, count: bad, elements: values.count) }
    }

    /// The values as Float: F32 as is, every other dtype converted (64-bit integers beyond 2^24 rounded).
    public func floats() -> [Float] {
        let n = elementCount
        return data.withUnsafeBytes { raw -> [Float] in
            if dtype == .F32 {
                return (0..<n).map { Float(bitPattern: UInt32(littleEndian: raw.loadUnaligned(fromByteOffset: 4 * $0, as: UInt32.self))) }
            }
            return (0..<n).map { Float(element($0, of: raw)) }
        }
    }

    /// The values as Int64: integer dtypes exactly (U64 above Int64.max saturates), floating-point ones
    /// rounded toward zero and saturated at the Int64 range, NaN as 0 (a file's values never trap).
    public func int64s() -> [Int64] {
        let n = elementCount
        return data.withUnsafeBytes { raw -> [Int64] in
            switch dtype {
            case .I64: return (0..<n).map { Int64(littleEndian: raw.loadUnaligned(fromByteOffset: 8 * $0, as: Int64.self)) }
            case .U64:
                return (0..<n).map { Int64(clamping: UInt64(littleEndian: raw.loadUnaligned(fromByteOffset: 8 * $0, as: UInt64.self))) }
            default:
                return (0..<n).map { i -> Int64 in
                    let v = element(i, of: raw)
                    if v.isNaN { return 0 }
                    // 2^63 is the first Double above Int64.max.
                    return v >= 0x1p63 ? .max : v < -0x1p63 ? .min : Int64(v)
                }
            }
        }
    }

    /// Element `i` of the data as a Double (exact except 64-bit integers beyond 2^53).
    private func element(_ i: Int, of raw: UnsafeRawBufferPointer) -> Double {
        func load<T: FixedWidthInteger>(_: T.Type) -> T { T(littleEndian: raw.loadUnaligned(fromByteOffset: i * T.bitWidth / 8, as: T.self)) }
        switch dtype {
        case .F64: return Double(bitPattern: load(UInt64.self))
        case .F32: return Double(Float(bitPattern: load(UInt32.self)))
        case .F16: return Double(Float(Float16(bitPattern: load(UInt16.self))))
        case .BF16: return Double(Float(bitPattern: UInt32(load(UInt16.self)) << 16))
        case .I64: return Double(load(Int64.self))
        case .I32: return Double(load(Int32.self))
        case .I16: return Double(load(Int16.self))
        case .I8: return Double(load(Int8.self))
        case .U64: return Double(load(UInt64.self))
        case .U32: return Double(load(UInt32.self))
        case .U16: return Double(load(UInt16.self))
        case .U8, .BOOL: return Double(load(UInt8.self))
        }
    }
}

/// Reads and writes the safetensors format: an 8-byte little-endian header length, a JSON header
/// `{name: {dtype, shape, data_offsets: [begin, end]}, "__metadata__": {...}}`, then the raw data.
public enum Safetensors {
    public static func read(contentsOf url: URL) throws -> (tensors: [String: SafetensorsEntry], metadata: [String: String]) {
        let data: Data
        do { data = try Data(contentsOf: url) } catch {
            throw SafetensorsError.unreadable(path: url.path, reason: SystemErrorText.reason(error))
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
            let given = "data_offsets [\(offsetValues.map { "\($0)" }.joined(separator: ", "))]"
            guard begin <= end else { throw SafetensorsError.badDataOffsets(tensor: name, reason: "\(given) end before they begin") }
            guard begin >= 0, end <= bodyCount else {
                throw SafetensorsError.badDataOffsets(tensor: name, reason: "\(given) lie outside the file's \(bodyCount) data bytes")
            }
            guard let expected = byteCount(shape: shape, elementSize: dtype.size) else {
                throw SafetensorsError.invalidHeader("entry '\(name)' has shape \(shape), more than \(Int.max) bytes of \(dtype)")
            }
            guard end - begin == expected else {
                throw SafetensorsError.badDataOffsets(tensor: name, reason: "holds \(end - begin) bytes, shape \(shape) of \(dtype) needs \(expected)")
            }
            tensors[name] = SafetensorsEntry(dtype: dtype, shape: shape, data: data.subdata(in: (bodyStart + begin)..<(bodyStart + end)))
        }
        return (tensors, metadata)
    }

    /// Bytes of a tensor of `shape` with elements of `elementSize` bytes; nil when a dimension is negative or
    /// the product does not fit in an `Int` (a file can claim any shape: none may trap).
    public static func byteCount(shape: [Int], elementSize: Int) -> Int? {
        var total = elementSize
        for dimension in shape {
            guard dimension >= 0 else { return nil }
            let (product, overflow) = total.multipliedReportingOverflow(by: dimension)
            if overflow { return nil }
            total = product
        }
        return total
    }

    /// The whole numbers of a header array, nil when one is not a whole number. One too large for an `Int`
    /// (2^60 fits; 1e300 does not) becomes Int.max or Int.min, which every range check after this refuses:
    /// the file then gets the message of the check ("outside the data bytes"), not "not an integer".
    private static func integers(_ values: [Any]) -> [Int]? {
        var out: [Int] = []
        for v in values {
            guard let n = v as? NSNumber else { return nil }
            let d = n.doubleValue
            guard d.isFinite, d == d.rounded() else { return nil }
            if abs(d) < 9e15 { out.append(Int(d)) }
            else if let exact = Int(n.stringValue) { out.append(exact) }   // JSON integers are parsed exactly
            else { out.append(d > 0 ? Int.max : Int.min) }
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
