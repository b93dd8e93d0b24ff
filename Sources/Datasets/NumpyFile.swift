import Foundation
import Kernels

/// NumPy `.npy` files (format version 1.0), C order, little endian: what `np.save` writes and `np.load` reads.
///
/// Layout: the magic `\x93NUMPY`, version bytes 1 0, the header length (uint16 LE), then an ASCII header
/// `{'descr': '<f4', 'fortran_order': False, 'shape': (N, D), }` padded with spaces and ended by `\n` so the
/// data starts at a multiple of 64 bytes, then the raw values.
public enum NumpyFile {
    public enum Error: Swift.Error, Equatable, CustomStringConvertible {
        case notNumpy(path: String)
        case badHeader(path: String, reason: String)
        case unsupportedType(path: String, descr: String)
        case sizeMismatch(path: String, expectedBytes: Int, foundBytes: Int)
        case shapeMismatch(values: Int, shape: [Int])
        case io(path: String, reason: String)

        public var description: String {
            switch self {
            case let .notNumpy(path): return "\(path): not a NumPy .npy file (no \\x93NUMPY magic)"
            case let .badHeader(path, reason): return "\(path): unreadable .npy header: \(reason)"
            case let .unsupportedType(path, descr):
                return "\(path): dtype '\(descr)' is not supported (expected '<f4', '<f8' or '<i8')"
            case let .sizeMismatch(path, expected, found):
                return "\(path): the header promises \(expected) data bytes, the file holds \(found)"
            case let .shapeMismatch(values, shape): return "\(values) values do not fill shape \(shape)"
            case let .io(path, reason): return "\(path): \(reason)"
            }
        }
    }

    static let magic: [UInt8] = [0x93] + Array("NUMPY".utf8)

    /// Writes float32 values (`'<f4'`) of the given shape.
    public static func write(floats: [Float], shape: [Int], to url: URL) throws {
        try check(floats.count, shape)
        var data = header(descr: "<f4", shape: shape)
        floats.withUnsafeBufferPointer { data.append(Data(buffer: $0)) }   // x86/ARM hosts are little endian
        try write(data, to: url)
    }

    /// Writes int64 values (`'<i8'`) of the given shape, e.g. labels.
    public static func write(int64s: [Int64], shape: [Int], to url: URL) throws {
        try check(int64s.count, shape)
        var data = header(descr: "<i8", shape: shape)
        int64s.withUnsafeBufferPointer { data.append(Data(buffer: $0)) }
        try write(data, to: url)
    }

    /// Reads a C-order `'<f4'`, `'<f8'` or `'<i8'` array (versions 1.0 to 3.0) as floats.
    public static func read(from url: URL) throws -> (shape: [Int], values: [Float]) {
        try decodeFloats(contents(of: url), path: url.path)
    }

    /// Reads a C-order `'<i8'` array exactly.
    public static func readInt64s(from url: URL) throws -> (shape: [Int], values: [Int64]) {
        try decodeInt64s(contents(of: url), path: url.path)
    }

    /// `read(from:)` on bytes already in memory; `path` only names them in errors.
    public static func decodeFloats(_ file: Data, path: String) throws -> (shape: [Int], values: [Float]) {
        let (shape, descr, body) = try parse(file, path: path)
        switch descr {
        case "<f4": return (shape, values(body, as: Float.self))
        case "<f8": return (shape, values(body, as: Double.self).map { Float($0) })
        default: return (shape, values(body, as: Int64.self).map { Float($0) })
        }
    }

    /// `readInt64s(from:)` on bytes already in memory; `path` only names them in errors.
    public static func decodeInt64s(_ file: Data, path: String) throws -> (shape: [Int], values: [Int64]) {
        let (shape, descr, body) = try parse(file, path: path)
        guard descr == "<i8" else { throw Error.unsupportedType(path: path, descr: descr) }
        return (shape, values(body, as: Int64.self))
    }

    /// The little-endian values of `body` (whose size `parse` checked), copied byte for byte: a `Data`'s
    /// storage need not be aligned for `T`.
    private static func values<T>(_ body: Data, as _: T.Type) -> [T] {
        let n = body.count / MemoryLayout<T>.stride
        return [T](unsafeUninitializedCapacity: n) { out, initialized in
            body.withUnsafeBytes { raw in
                UnsafeMutableRawBufferPointer(out).copyMemory(from: UnsafeRawBufferPointer(rebasing: raw.prefix(n * MemoryLayout<T>.stride)))
            }
            initialized = n
        }
    }

    /// Magic, version, length and padded header, exactly as `np.save` writes them (checked against numpy 2.4, including
    /// its spare spaces for growing the first axis in place).
    public static func header(descr: String, shape: [Int]) -> Data {
        let shapeText: String
        switch shape.count {
        case 0: shapeText = "()"
        case 1: shapeText = "(\(shape[0]),)"
        default: shapeText = "(" + shape.map(String.init).joined(separator: ", ") + ")"
        }
        var dict = "{'descr': '\(descr)', 'fortran_order': False, 'shape': \(shapeText), }"
        // numpy leaves room for the first dimension to grow to 21 digits without moving the data.
        if let first = shape.first { dict += String(repeating: " ", count: max(0, 21 - String(first).count)) }
        let unpadded = magic.count + 2 + 2 + dict.utf8.count + 1
        // As numpy: 1...64 spaces (a full 64 when already aligned), then the newline.
        dict += String(repeating: " ", count: 64 - unpadded % 64) + "\n"
        var data = Data(magic)
        data.append(contentsOf: [1, 0])
        let length = UInt16(dict.utf8.count)
        data.append(contentsOf: [UInt8(length & 0xFF), UInt8(length >> 8)])
        data.append(contentsOf: Array(dict.utf8))
        return data
    }

    /// Bytes of an array of `shape`; nil when a dimension is negative or the size does not fit in an `Int`.
    static func byteCount(shape: [Int], elementSize: Int) -> Int? { Safe.product([elementSize] + shape) }

    private static func check(_ count: Int, _ shape: [Int]) throws {
        guard byteCount(shape: shape, elementSize: 1) == count else {
            throw Error.shapeMismatch(values: count, shape: shape)
        }
    }

    private static func write(_ data: Data, to url: URL) throws {
        do {
            try data.write(to: url, options: .atomic)
        } catch {
            throw Error.io(path: url.path, reason: "cannot write: \(SystemErrorText.reason(error))")
        }
    }

    private static func contents(of url: URL) throws -> Data {
        do { return try Data(contentsOf: url) } catch {
            throw Error.io(path: url.path, reason: "cannot read: \(SystemErrorText.reason(error))")
        }
    }

    /// Shape, dtype string and data bytes of a file. Every size the header claims is checked against the
    /// bytes that are there before anything is read.
    private static func parse(_ file: Data, path: String) throws -> (shape: [Int], descr: String, body: Data) {
        let file = file.startIndex == 0 ? file : Data(file)   // offsets below count from 0
        let bytes = [UInt8](file.prefix(12))
        guard bytes.count >= 10, Array(bytes[0..<6]) == magic else { throw Error.notNumpy(path: path) }
        let major = bytes[6]
        let lengthBytes = major == 1 ? 2 : 4
        guard (1...3).contains(major), bytes.count >= 8 + lengthBytes else {
            throw Error.badHeader(path: path, reason: "version \(major).\(bytes[7])")
        }
        let headerLength = bytes[8..<(8 + lengthBytes)].reversed().reduce(0) { $0 << 8 | Int($1) }
        let start = 8 + lengthBytes + headerLength
        guard start <= file.count, let text = String(data: file.subdata(in: (8 + lengthBytes)..<start), encoding: .utf8) else {
            throw Error.badHeader(path: path, reason: "header of \(headerLength) bytes runs past the file")
        }
        func value(_ key: String) throws -> Substring {
            guard let r = text.range(of: "'\(key)':") else { throw Error.badHeader(path: path, reason: "no '\(key)'") }
            return text[r.upperBound...].drop(while: { $0 == " " })
        }
        let descrText = try value("descr")
        guard descrText.first == "'", let close = descrText.dropFirst().firstIndex(of: "'") else {
            throw Error.badHeader(path: path, reason: "descr is not a string")
        }
        let descr = String(descrText[descrText.index(after: descrText.startIndex)..<close])
        guard ["<f4", "<f8", "<i8"].contains(descr) else { throw Error.unsupportedType(path: path, descr: descr) }
        let shape: [Int]
        if try value("fortran_order").hasPrefix("True") {
            throw Error.badHeader(path: path, reason: "Fortran-order arrays are not supported")
        }
        let shapeText = try value("shape")
        guard shapeText.first == "(", let end = shapeText.firstIndex(of: ")") else {
            throw Error.badHeader(path: path, reason: "shape is not a tuple")
        }
        let items = shapeText[shapeText.index(after: shapeText.startIndex)..<end]
            .split(separator: ",").map { $0.trimmingCharacters(in: .whitespaces) }.filter { !$0.isEmpty }
        guard items.allSatisfy({ (Int($0) ?? -1) >= 0 }) else {
            throw Error.badHeader(path: path, reason: "shape \(shapeText[...end]) (dimensions are integers >= 0)")
        }
        shape = items.map { Int($0)! }
        guard let expected = byteCount(shape: shape, elementSize: descr == "<f4" ? 4 : 8) else {
            throw Error.badHeader(path: path, reason: "shape \(shape) holds more than \(Int.max) bytes")
        }
        guard file.count - start == expected else {
            throw Error.sizeMismatch(path: path, expectedBytes: expected, foundBytes: file.count - start)
        }
        return (shape, descr, file.subdata(in: start..<file.count))
    }
}
