/// FNV-1a, 64 bit: the project's one non-cryptographic hash (configuration checks, checkpoint and
/// replica checksums, cache keys, the fixtures' per-name seeds). It guards against accidents, not attacks.
/// Inlinable: checksums run it over every byte of a model.
public struct FNV1a64: Sendable {
    public static let offsetBasis: UInt64 = 0xcbf2_9ce4_8422_2325
    public static let prime: UInt64 = 0x0000_0100_0000_01b3

    public var value = FNV1a64.offsetBasis

    @inlinable public init() {}

    /// Mixes one unit (a byte, or a wider word where a checksum goes word by word).
    @inlinable public mutating func combine(_ unit: UInt64) { value = (value ^ unit) &* Self.prime }

    @inlinable public mutating func combine(bytes: some Sequence<UInt8>) {
        for b in bytes { combine(UInt64(b)) }
    }

    @inlinable public mutating func combine(bytes: UnsafeRawBufferPointer) {
        for b in bytes { combine(UInt64(b)) }
    }

    @inlinable public mutating func combine(_ text: String) { combine(bytes: text.utf8) }

    /// The hash of a byte sequence (a string's UTF-8 bytes).
    @inlinable public static func hash(_ bytes: some Sequence<UInt8>) -> UInt64 {
        var h = FNV1a64()
        h.combine(bytes: bytes)
        return h.value
    }
}
