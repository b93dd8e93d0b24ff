/// One record of a TensorBoard event file: tensorflow's `Event` message, with the three kinds we write.
public struct TensorBoardEvent: Equatable {
    public enum Content: Equatable {
        /// Must be the file's first event; tells readers the format ("brain.Event:2").
        case fileVersion(String)
        /// `Summary { value { tag, simple_value } ... }`: scalar curves, one point per tag at `step`.
        case scalars([Scalar])
        /// `SessionLog { status: START }`: a (re)start at `step`; readers drop points at or after it from
        /// earlier files, which is what a resumed run needs.
        case sessionStart
    }

    public struct Scalar: Equatable {
        public var tag: String
        public var value: Float
        public init(tag: String, value: Float) { self.tag = tag; self.value = value }
    }

    public var wallTime: Double
    public var step: Int64
    public var content: Content

    public init(wallTime: Double, step: Int64, content: Content) {
        self.wallTime = wallTime; self.step = step; self.content = content
    }

    // Field numbers of tensorflow/core/util/event.proto and framework/summary.proto.
    private enum Field {
        static let wallTime = 1, step = 2, fileVersion = 3, summary = 5, sessionLog = 7
        static let summaryValue = 1, valueTag = 1, valueSimple = 2
        static let sessionStatus = 1, sessionStart: Int64 = 1
    }

    /// The protobuf encoding of the `Event`.
    public var encoded: [UInt8] {
        var event = ProtobufEncoder()
        event.double(Field.wallTime, wallTime)
        event.int64(Field.step, step)
        switch content {
        case let .fileVersion(version):
            event.string(Field.fileVersion, version)
        case let .scalars(scalars):
            var summary = ProtobufEncoder()
            for scalar in scalars {
                var value = ProtobufEncoder()
                value.string(Field.valueTag, scalar.tag)
                value.float(Field.valueSimple, scalar.value)
                summary.bytes(Field.summaryValue, value.bytes)
            }
            event.bytes(Field.summary, summary.bytes)
        case .sessionStart:
            var log = ProtobufEncoder()
            log.int64(Field.sessionStatus, Field.sessionStart)
            event.bytes(Field.sessionLog, log.bytes)
        }
        return event.bytes
    }
}

/// TFRecord framing: little-endian UInt64 length, masked CRC-32C of those 8 bytes, the data, masked CRC-32C of
/// the data.
public enum TFRecord {
    public static func frame(_ data: [UInt8]) -> [UInt8] {
        var record: [UInt8] = []
        record.reserveCapacity(data.count + 16)
        let length = withUnsafeBytes(of: UInt64(data.count).littleEndian) { Array($0) }
        record += length
        withUnsafeBytes(of: CRC32C.masked(length).littleEndian) { record += $0 }
        record += data
        withUnsafeBytes(of: CRC32C.masked(data).littleEndian) { record += $0 }
        return record
    }
}
