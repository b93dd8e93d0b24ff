import Kernels

/// One training or evaluation step's input.
public struct Batch {
    public let epoch: Int
    public let step: Int
    /// NCHW floats `[views * n, 3, S, S]`: with two views, rows `0..<n` are view 1 of the n images and
    /// rows `n..<2n` view 2 of the same images in the same order.
    public let images: Tensor
    /// Labels of the n images (-1 for unlabeled); row `i` and row `i + n` share `labels[i]`.
    public let labels: [Int]
    /// Dataset indices of the n images.
    public let indices: [Int]
    public let views: Int
    /// Multi-crop's small views `[N * n, 3, s, s]`: rows `k*n..<(k+1)*n` are small view k of the n images, in
    /// the same order (docs/multi-crop.md); nil without multi-crop.
    public internal(set) var smallImages: Tensor? = nil
    /// Seconds the consumer waited for this batch (0 when it was ready).
    public internal(set) var waitSeconds: Double

    public var count: Int { indices.count }
}

extension Batch {
    /// A batch made by hand (benchmarks, tests, a step run outside the loader): `images` hold `views` views of
    /// `images.shape[0] / views` images.
    public init(images: Tensor, views: Int, labels: [Int] = [], smallImages: Tensor? = nil) {
        let n = images.shape[0] / views
        self.init(epoch: 0, step: 0, images: images, labels: labels.isEmpty ? [Int](repeating: -1, count: n) : labels,
                  indices: Array(0..<n), views: views, smallImages: smallImages, waitSeconds: 0)
    }
}
