/// A batch of feature maps stored channel-major: `[channels, batch, height, width]` ("CNHW").
///
/// Why CNHW and not PyTorch's NCHW: with every channel one contiguous block, a convolution over
/// the whole batch is a single GEMM `W[out, in*k*k] x columns[in*k*k, batch*h*w]` whose result is
/// already the next layer's input, and batch-norm statistics are reductions over contiguous
/// memory. Images enter as NCHW and are converted once (`FeatureMap.fromNCHW`).
public struct FeatureMap {
    public let tensor: Tensor
    public let channels: Int
    public let batch: Int
    public let height: Int
    public let width: Int

    public init(tensor: Tensor, channels: Int, batch: Int, height: Int, width: Int) {
        precondition(tensor.count == channels * batch * height * width,
                     "feature map \(channels)x\(batch)x\(height)x\(width) does not match tensor of \(tensor.count)")
        self.tensor = tensor
        self.channels = channels
        self.batch = batch
        self.height = height
        self.width = width
    }

    /// Elements per channel: batch * height * width.
    public var planeCount: Int { batch * height * width }
    public var shapeCNHW: [Int] { [channels, batch, height, width] }
}

/// Layout conversions between PyTorch's NCHW and our CNHW.
public enum Layout {
    /// `source` [N, C, H, W] -> `destination` [C, N, H, W].
    public static func nchwToCNHW(_ source: Tensor, into destination: Tensor, n: Int, c: Int, hw: Int) {
        precondition(source.count == n * c * hw && destination.count == n * c * hw)
        let src = source.base, dst = destination.base
        Parallel.forEach(c) { ci in
            for ni in 0..<n {
                (dst + (ci * n + ni) * hw).update(from: src + (ni * c + ci) * hw, count: hw)
            }
        }
    }

    /// `source` [C, N, H, W] -> `destination` [N, C, H, W].
    public static func cnhwToNCHW(_ source: Tensor, into destination: Tensor, n: Int, c: Int, hw: Int) {
        precondition(source.count == n * c * hw && destination.count == n * c * hw)
        let src = source.base, dst = destination.base
        Parallel.forEach(n) { ni in
            for ci in 0..<c {
                (dst + (ni * c + ci) * hw).update(from: src + (ci * n + ni) * hw, count: hw)
            }
        }
    }

    /// Row-major matrix transpose: `source` [rows, cols] -> `destination` [cols, rows].
    public static func transpose(_ source: Tensor, into destination: Tensor, rows: Int, cols: Int) {
        precondition(source.count >= rows * cols && destination.count >= rows * cols)
        let src = source.base, dst = destination.base
        for r in 0..<rows { for c in 0..<cols { dst[c * rows + r] = src[r * cols + c] } }
    }
}
