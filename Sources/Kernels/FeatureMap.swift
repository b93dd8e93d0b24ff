import CKernels

/// A batch of feature maps in the blocked layout the convolution kernels read and write ("nChw16c"):
/// `[batch][channelBlocks][height][width][16]`, channel `c` in block `c / 16`, lane `c % 16`; lanes of
/// channels beyond `channels` (when it is not a multiple of 16) hold zeros.
///
/// Why blocked: one 64-byte vector holds 16 channels of one pixel, which is what the convolution
/// micro-kernels broadcast and accumulate, and per-channel work (batch norm) becomes whole-vector
/// arithmetic. Images enter as NCHW (the network's first convolution reads them directly) and the
/// pooled features leave as row-major `[batch, channels]`, so the layout never shows outside the network.
///
/// A map carries float32 values, a bf16 copy of them (what a bf16 convolution reads), or both.
public struct FeatureMap {
    public let channels: Int, batch: Int, height: Int, width: Int
    private let float32: Tensor?
    public let bf16: BF16Tensor?

    public init(tensor: Tensor?, bf16: BF16Tensor? = nil, channels: Int, batch: Int, height: Int, width: Int) {
        let count = FeatureMap.storageCount(channels: channels, batch: batch, height: height, width: width)
        precondition(tensor != nil || bf16 != nil, "a feature map needs float32 or bf16 values")
        precondition(tensor.map { $0.count == count } ?? true,
                     "blocked map \(channels)x\(batch)x\(height)x\(width) needs \(count) floats, got \(tensor!.count)")
        precondition(bf16.map { $0.count == count } ?? true, "bf16 copy of a blocked map has the wrong size")
        self.float32 = tensor; self.bf16 = bf16
        self.channels = channels; self.batch = batch; self.height = height; self.width = width
    }

    /// The float32 values; only maps that were given them have them.
    public var tensor: Tensor {
        guard let t = float32 else { preconditionFailure("this feature map holds bf16 values only") }
        return t
    }
    public var hasFloat32: Bool { float32 != nil }

    public static func storageCount(channels: Int, batch: Int, height: Int, width: Int) -> Int {
        batch * blocks(channels) * height * width * SK_BLOCK_COUNT
    }
    static func blocks(_ channels: Int) -> Int { (channels + SK_BLOCK_COUNT - 1) / SK_BLOCK_COUNT }

    public var channelBlocks: Int { FeatureMap.blocks(channels) }
    /// Planes of 16-lane vectors: one per (image, channel block); kernels split work by planes.
    public var planes: Int { batch * channelBlocks }
    public var pixels: Int { height * width }
    public var storageCount: Int { FeatureMap.storageCount(channels: channels, batch: batch, height: height, width: width) }
    /// The same shape with other storage.
    public func with(tensor: Tensor?, bf16: BF16Tensor? = nil) -> FeatureMap {
        FeatureMap(tensor: tensor, bf16: bf16, channels: channels, batch: batch, height: height, width: width)
    }
}

let SK_BLOCK_COUNT = Int(SK_BLOCK)

/// Conversions between PyTorch's layouts and the blocked one (inputs, tests, fixtures).
public enum Layout {
    /// `source` [N, C, H, W] -> a blocked map.
    public static func blocked(fromNCHW source: Tensor, channels c: Int, batch n: Int, height h: Int, width w: Int) -> FeatureMap {
        precondition(source.count == n * c * h * w, "NCHW tensor of \(source.count) is not \(n)x\(c)x\(h)x\(w)")
        let out = Tensor(shape: [FeatureMap.storageCount(channels: c, batch: n, height: h, width: w)])
        Parallel.forEach(n) { i in sk_nchw_to_blocked(source.base, out.base, Int32(n), Int32(c), Int32(h * w), Int32(i), Int32(i + 1)) }
        return FeatureMap(tensor: out, channels: c, batch: n, height: h, width: w)
    }

    /// `source` [C, N, H, W] -> a blocked map.
    public static func blocked(fromCNHW source: Tensor, channels c: Int, batch n: Int, height h: Int, width w: Int) -> FeatureMap {
        precondition(source.count == n * c * h * w, "CNHW tensor of \(source.count) is not \(c)x\(n)x\(h)x\(w)")
        let out = Tensor(shape: [FeatureMap.storageCount(channels: c, batch: n, height: h, width: w)])
        Parallel.forEach(n) { i in sk_cnhw_to_blocked(source.base, out.base, Int32(n), Int32(c), Int32(h * w), Int32(i), Int32(i + 1)) }
        return FeatureMap(tensor: out, channels: c, batch: n, height: h, width: w)
    }

    /// A blocked map's float32 values as [N, C, H, W].
    public static func nchw(_ map: FeatureMap) -> Tensor {
        let out = Tensor(shape: [map.batch, map.channels, map.height, map.width])
        let src = map.tensor.base
        Parallel.forEach(map.batch) { i in
            sk_blocked_to_nchw(src, out.base, Int32(map.batch), Int32(map.channels), Int32(map.pixels), Int32(i), Int32(i + 1))
        }
        return out
    }

    /// A blocked map's float32 values as [C, N, H, W].
    public static func cnhw(_ map: FeatureMap) -> Tensor {
        let out = Tensor(shape: [map.channels, map.batch, map.height, map.width])
        let src = map.tensor.base
        Parallel.forEach(map.batch) { i in
            sk_blocked_to_cnhw(src, out.base, Int32(map.batch), Int32(map.channels), Int32(map.pixels), Int32(i), Int32(i + 1))
        }
        return out
    }

    /// Row-major matrix transpose: `source` [rows, cols] -> `destination` [cols, rows].
    public static func transpose(_ source: Tensor, into destination: Tensor, rows: Int, cols: Int) {
        precondition(source.count >= rows * cols && destination.count >= rows * cols)
        let src = source.base, dst = destination.base
        for r in 0..<rows { for c in 0..<cols { dst[c * rows + r] = src[r * cols + c] } }
    }
}
