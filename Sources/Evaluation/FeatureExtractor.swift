import Cluster
import Datasets
import Foundation
import Kernels
import NeuralNet
import Runs

/// Frozen-encoder features: the pooled backbone output (512*width-d) of every image, in dataset order,
/// in eval mode (BatchNorm running statistics) with the plain preprocessing (value/255, no augmentation).
public struct FeatureExtractor {
    public let model: ResNet
    public var batchSize: Int

    public init(model: ResNet, batchSize: Int = 256) {
        precondition(batchSize >= 1, "batch size must be at least 1")
        self.model = model
        self.batchSize = batchSize
    }

    public var featureDim: Int { model.config.featureDim }

    /// Refuses a pass over `count` images of side `imageSize` (batches of at most `batchSize`) whose forward
    /// cannot fit this machine's memory with the ranks on this host, before anything large is allocated;
    /// `smallerWith` names the settings that shrink it. A batch larger than the data set runs it all at once.
    public func checkMemory(imageSize: Int, count: Int, smallerWith: String) throws {
        let estimate = StepMemoryEstimate(inferenceOf: model.config, imageSize: imageSize, batch: max(1, min(batchSize, count)),
                                          smallerWith: smallerWith)
        _ = try estimate.check(ranksOnThisHost: MPILauncher.ranksOnThisHost)
    }

    /// Features of every image of `data` as a [N, D] tensor: the pooled backbone output, or with
    /// `throughHead` the head's output. `progress` receives the number of images done.
    /// The model is left in eval mode.
    public func features(of data: LabeledImages, throughHead: Bool = false, progress: ((Int) -> Void)? = nil) -> Tensor {
        precondition(data.channels == 3, "the model takes 3-channel images, the dataset has \(data.channels)")
        model.isTraining = false
        let n = data.count, h = data.height, w = data.width
        let dim = throughHead ? model.config.outputDim : featureDim
        let output = Tensor(shape: [n, dim])
        let imageValues = 3 * h * w
        for start in stride(from: 0, to: n, by: batchSize) {
            let count = min(batchSize, n - start)
            let batch = Tensor(shape: [count, 3, h, w])
            batch.withUnsafeMutableBufferPointer { dst in
                for i in 0..<count {
                    let image = data.floatImage(at: start + i)
                    image.data.withUnsafeBufferPointer { src in
                        for k in 0..<imageValues { dst[i * imageValues + k] = src[k] }
                    }
                }
            }
            let result = model.forward(batch, throughHead: throughHead)
            precondition(result.shape == [count, dim], "model output \(result.shape), expected [\(count), \(dim)]")
            result.withUnsafeBufferPointer { src in
                output.withUnsafeMutableBufferPointer { dst in
                    for k in 0..<(count * dim) { dst[start * dim + k] = src[k] }
                }
            }
            progress?(start + count)
        }
        return output
    }

    /// A copy of the [N, D] `features` with every row scaled to unit L2 norm (zero rows stay zero).
    public static func l2Normalized(_ features: Tensor) -> Tensor {
        precondition(features.shape.count == 2, "expected [N, D] features, got \(features.shape)")
        let n = features.shape[0], d = features.shape[1]
        let out = Tensor(shape: [n, d])
        features.withUnsafeBufferPointer { src in
            out.withUnsafeMutableBufferPointer { dst in
                for i in 0..<n {
                    var sq: Float = 0
                    for k in 0..<d { sq += src[i * d + k] * src[i * d + k] }
                    let scale: Float = sq > 0 ? 1 / sq.squareRoot() : 0
                    for k in 0..<d { dst[i * d + k] = src[i * d + k] * scale }
                }
            }
        }
        return out
    }
}

extension FeatureExtractor {
    /// The rows of an `n`-image split that `rank` of `size` computes: a contiguous slice, the first
    /// `n % size` ranks taking one image more.
    public static func shard(count n: Int, rank: Int, size: Int) -> Range<Int> {
        let base = n / size, extra = n % size
        let start = rank * base + min(rank, extra)
        return start..<(start + base + (rank < extra ? 1 : 0))
    }

    /// Features of every image of `data`, computed data-parallel: each rank of `communicator` runs its
    /// shard through the encoder and an all-gather puts the [N, D] result, in dataset order, on every rank.
    public func features(of data: LabeledImages, communicator: any ProcessGroup) throws -> Tensor {
        let n = data.count, d = featureDim, size = communicator.size
        let mine = Self.shard(count: n, rank: communicator.rank, size: size)
        let local = features(of: data.subset(Array(mine)))
        let result = Tensor(shape: [n, d])
        let counts = (0..<size).map { Self.shard(count: n, rank: $0, size: size).count * d }
        try communicator.allGatherV(local, counts: counts, into: result)
        return result
    }
}
