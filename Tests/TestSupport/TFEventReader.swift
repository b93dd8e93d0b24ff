import Foundation

/// An independent reader of TensorBoard event files for the tests: TFRecord framing with both CRCs checked
/// (bit by bit, not with the writer's table) and a generic protobuf field parser.
public enum TFEventReader {
    public struct Event: Equatable {
        public var wallTime: Double
        public var step: Int64
        public var fileVersion: String?
        public var scalars: [String: Float] = [:]
        public var sessionStatus: Int?
    }

    public enum Failure: Error, CustomStringConvertible {
        case truncated(offset: Int)
        case badLengthCRC(offset: Int)
        case badDataCRC(offset: Int)
        case badProtobuf(String)
        public var description: String {
            switch self {
            case let .truncated(o): return "record at byte \(o) is cut short"
            case let .badLengthCRC(o): return "length CRC of the record at byte \(o) does not match"
            case let .badDataCRC(o): return "data CRC of the record at byte \(o) does not match"
            case let .badProtobuf(why): return "bad protobuf: \(why)"
            }
        }
    }

    /// CRC-32C computed bit by bit, then masked as TFRecord does.
    public static func maskedCRC32C(_ bytes: ArraySlice<UInt8>) -> UInt32 {
        var crc: UInt32 = ~0
        for byte in bytes {
            crc ^= UInt32(byte)
            for _ in 0..<8 { crc = (crc >> 1) ^ (0x82F6_3B78 & (0 &- (crc & 1))) }
        }
        crc = ~crc
        return ((crc >> 15) | (crc << 17)) &+ 0xA282_EAD8
    }

    static func littleEndian<T: FixedWidthInteger>(_ bytes: ArraySlice<UInt8>, as: T.Type) -> T {
        bytes.reversed().reduce(T(0)) { $0 << 8 | T($1) }
    }

    /// The data of each record in the file.
    public static func records(_ file: [UInt8]) throws -> [[UInt8]] {
        var out: [[UInt8]] = []
        var i = 0
        while i < file.count {
            guard i + 12 <= file.count else { throw Failure.truncated(offset: i) }
            let length = Int(littleEndian(file[i..<i + 8], as: UInt64.self))
            guard littleEndian(file[i + 8..<i + 12], as: UInt32.self) == maskedCRC32C(file[i..<i + 8]) else {
                throw Failure.badLengthCRC(offset: i)
            }
            let start = i + 12
            guard start + length + 4 <= file.count else { throw Failure.truncated(offset: i) }
            let data = file[start..<start + length]
            guard littleEndian(file[start + length..<start + length + 4], as: UInt32.self) == maskedCRC32C(data) else {
                throw Failure.badDataCRC(offset: i)
            }
            out.append(Array(data))
            i = start + length + 4
        }
        return out
    }

    /// (field number, wire type, payload) of every field of a message; varints as their value in `payload`'s
    /// eight little-endian bytes.
    static func fields(_ message: [UInt8]) throws -> [(field: Int, wire: Int, payload: [UInt8])] {
        var out: [(Int, Int, [UInt8])] = []
        var i = 0
        func varint() throws -> UInt64 {
            var value: UInt64 = 0, shift: UInt64 = 0
            while true {
                guard i < message.count, shift < 64 else { throw Failure.badProtobuf("varint runs off the end") }
                let b = message[i]; i += 1
                value |= UInt64(b & 0x7F) << shift
                if b < 0x80 { return value }
                shift += 7
            }
        }
        func take(_ n: Int) throws -> [UInt8] {
            guard n >= 0, i + n <= message.count else { throw Failure.badProtobuf("field runs off the end") }
            defer { i += n }
            return Array(message[i..<i + n])
        }
        while i < message.count {
            let key = try varint()
            let field = Int(key >> 3), wire = Int(key & 7)
            switch wire {
            case 0: out.append((field, wire, withUnsafeBytes(of: try varint().littleEndian) { Array($0) }))
            case 1: out.append((field, wire, try take(8)))
            case 2: out.append((field, wire, try take(Int(try varint()))))
            case 5: out.append((field, wire, try take(4)))
            default: throw Failure.badProtobuf("wire type \(wire)")
            }
        }
        return out
    }

    public static func event(_ data: [UInt8]) throws -> Event {
        var event = Event(wallTime: .nan, step: 0)
        for f in try fields(data) {
            switch (f.field, f.wire) {
            case (1, 1): event.wallTime = Double(bitPattern: littleEndian(f.payload[...], as: UInt64.self))
            case (2, 0): event.step = Int64(bitPattern: littleEndian(f.payload[...], as: UInt64.self))
            case (3, 2): event.fileVersion = String(decoding: f.payload, as: UTF8.self)
            case (5, 2):
                for value in try fields(f.payload) where value.field == 1 && value.wire == 2 {
                    var tag: String?, number: Float?
                    for part in try fields(value.payload) {
                        if part.field == 1, part.wire == 2 { tag = String(decoding: part.payload, as: UTF8.self) }
                        if part.field == 2, part.wire == 5 {
                            number = Float(bitPattern: littleEndian(part.payload[...], as: UInt32.self))
                        }
                    }
                    guard let tag, let number else { throw Failure.badProtobuf("summary value without tag or simple_value") }
                    event.scalars[tag] = number
                }
            case (7, 2):
                event.sessionStatus = try fields(f.payload).first { $0.field == 1 }
                    .map { Int(littleEndian($0.payload[...], as: UInt64.self)) } ?? 0
            default: throw Failure.badProtobuf("unexpected field \(f.field) (wire \(f.wire)) in Event")
            }
        }
        return event
    }

    /// Every event of one file.
    public static func events(at url: URL) throws -> [Event] {
        try records(Array(try Data(contentsOf: url))).map(event)
    }

    /// The event files of a directory, in the order TensorBoard reads them (by name).
    public static func eventFiles(in directory: URL) -> [URL] {
        ((try? FileManager.default.contentsOfDirectory(atPath: directory.path)) ?? [])
            .filter { $0.hasPrefix("events.out.tfevents.") }.sorted().map { directory.appendingPathComponent($0) }
    }

    /// The scalar curves a reader shows for a directory: files in name order, a SessionLog START at step s drops
    /// the points at step >= s read before it (TensorBoard's handling of a restarted run). Each tag maps step -> value.
    public static func curves(in directory: URL) throws -> [String: [Int64: Float]] {
        var curves: [String: [Int64: Float]] = [:]
        for url in eventFiles(in: directory) {
            for event in try events(at: url) {
                if event.sessionStatus == 1 {
                    for tag in curves.keys { curves[tag] = curves[tag]!.filter { $0.key < event.step } }
                }
                for (tag, value) in event.scalars { curves[tag, default: [:]][event.step] = value }
            }
        }
        return curves
    }
}
