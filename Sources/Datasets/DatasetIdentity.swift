import Kernels

/// What makes two datasets the same for training: where the images come from (format and split, never a
/// path, since ranks may mount the data at different places), how many there are, their shape and a hash of
/// every pixel and label. Ranks compare it before the first step and checkpoints record it, so different data
/// on different ranks, or a resumption on other data, is refused instead of training on a mixture.
public struct DatasetIdentity: Codable, Equatable, Sendable, CustomStringConvertible {
    /// Format and split, e.g. "cifar10/train" or "image-folder/train@32".
    public var source: String
    public var count: Int
    public var height: Int
    public var width: Int
    public var channels: Int
    /// 64-bit hash of all pixel bytes and labels, in hexadecimal.
    public var fingerprint: String

    public init(of images: LabeledImages, source: String) {
        self.source = source
        count = images.count
        height = images.height
        width = images.width
        channels = images.channels
        fingerprint = String(Self.fingerprint(pixels: images.pixels, labels: images.labels), radix: 16)
    }

    public var description: String {
        "\(source), \(count) images of \(height)x\(width)x\(channels), fingerprint \(fingerprint)"
    }

    /// FNV-1a over 8-byte words (then the tail bytes and the labels): one multiply per word keeps CIFAR-10's
    /// 150 MB to tens of milliseconds, cheap enough for every start.
    static func fingerprint(pixels: [UInt8], labels: [Int]) -> UInt64 {
        var h = FNV1a64()
        pixels.withUnsafeBytes { raw in
            let words = raw.count / 8
            for i in 0..<words { h.combine(raw.loadUnaligned(fromByteOffset: i * 8, as: UInt64.self)) }
            for i in (words * 8)..<raw.count { h.combine(UInt64(raw[i])) }
        }
        for l in labels { h.combine(UInt64(bitPattern: Int64(l))) }
        return h.value
    }
}
