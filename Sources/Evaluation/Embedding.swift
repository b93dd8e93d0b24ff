import Datasets
import Foundation
import Kernels
import NeuralNet
import Runs

/// `simclr embed`: a trained model in eval mode (BatchNorm running statistics) and every image of a split
/// through it, in dataset order, with the plain preprocessing (value / 255): the pooled backbone features, or
/// the projection head's output.
public struct Embedding {
    public enum Features: String, CaseIterable, Sendable {
        /// The pooled encoder features (512*width-d; ResNet-50 2048*width-d); only the backbone is loaded.
        case backbone
        /// The projection head's output; the whole model is loaded.
        case projection
    }

    /// The weights file (safetensors, torchvision names).
    public var weights: String
    /// The model's shape; its head only matters for projection features.
    public var model: ResNetConfig
    public var features = Features.backbone
    public var precision = ComputePrecision.fp32
    /// How convolutions choose their algorithms.
    public var convAlgorithm = ConvAlgorithmChoice.auto
    /// Images per forward pass.
    public var batchSize = 256

    public init(weights: String, model: ResNetConfig) {
        self.weights = weights
        self.model = model
    }

    public var dim: Int { features == .projection ? model.outputDim : model.featureDim }

    /// The model with the file's weights, in eval mode. A file that does not fit, or holds non-finite weights
    /// (they would give NaN features and a file that looks fine), is refused, naming the problem.
    public func loadModel() throws -> ResNet {
        let resnet = ResNet(config: model, seed: 0)
        do {
            try resnet.load(from: URL(fileURLWithPath: weights), scope: features == .projection ? .all : .backbone)
        } catch let error as SafetensorsError where error.isNonFinite {
            throw EvaluationError("\(weights): \(error); the features would be NaN")
        } catch {
            let head = features == .projection ? " and `model.headDims` \(model.headDims.map(String.init).joined(separator: ","))" : ""
            throw EvaluationError("\(weights): \(error) (do `model.arch` \(model.arch.rawValue), `model.stem` \(model.stem.rawValue), "
                                  + "`model.width` \(model.width)\(head) describe this file?)")
        }
        resnet.isTraining = false
        resnet.precision = precision
        resnet.convAlgorithm = convAlgorithm
        return resnet
    }

    /// Row i is image i of `images` ([N, dim]); `progress` gets the number of images done.
    public func embed(_ images: LabeledImages, with model: ResNet, progress: ((Int) -> Void)? = nil) throws -> Tensor {
        if images.channels != 3 { throw EvaluationError("the model takes 3-channel images, the dataset has \(images.channels)") }
        let extractor = FeatureExtractor(model: model, batchSize: batchSize)
        try extractor.checkMemory(imageSize: max(images.height, images.width), count: images.count,
                                  smallerWith: "`batchSize`, `model.width`")
        return extractor.features(of: images, throughHead: features == .projection, progress: progress)
    }

    /// `embed` with a progress line per tenth of the images on stderr (stdout is for what a command writes);
    /// `log` gets the time it took.
    public func embedShowingProgress(_ images: LabeledImages, with model: ResNet, log: (String) -> Void) throws -> Tensor {
        let n = images.count
        let progress = ProgressReporter(total: n, logEvery: max(1, n / 10), unit: "embedded", startingAfter: 0, to: .standardError)
        let start = Date()
        let output = try embed(images, with: model) {
            progress.update(step: $0, fields: String(format: "images, %.1f img/s", Double($0) / Date().timeIntervalSince(start)))
        }
        progress.finishLine()
        let elapsed = Date().timeIntervalSince(start)
        log(String(format: "embedded %d images in %.1f s (%.1f img/s)", n, elapsed, Double(n) / max(elapsed, 1e-9)))
        return output
    }

    /// `embedShowingProgress`, then the embeddings written to `out` (.npy, float32 N x dim) and with `labels` the
    /// images' labels (.npy, int64 N), `say` telling each file as it is written. Row i is image i of `images`.
    public func write(_ images: LabeledImages, with model: ResNet, to out: String, labels: String?, split: String,
                      log: (String) -> Void, say: (String) -> Void) throws {
        let n = images.count
        let output = try embedShowingProgress(images, with: model, log: log)
        try NumpyFile.write(floats: output.array, shape: [n, dim], to: URL(fileURLWithPath: out))
        say("wrote \(out): \(n) x \(dim) float32 (\(features.rawValue) features, \(split) split)")
        if let labels {
            try NumpyFile.write(int64s: images.labels.map { Int64($0) }, shape: [n], to: URL(fileURLWithPath: labels))
            say("wrote \(labels): \(n) int64 labels")
        }
    }
}
