import Datasets
import Foundation

/// The points `simclr tsne` maps: embeddings read from .npy files, or an encoder's pooled backbone features of a
/// dataset split, with their labels and the legend's class names.
public struct FeatureMapInput {
    /// N x `dim`, row-major.
    public var features: [Float]
    public var dim: Int
    public var labels: [Int]
    public var classNames: [String]
    /// What the points are, for the plot's title.
    public var description: String

    /// Embeddings (.npy, float32 or float64, N x D) and their labels (.npy, int64, N) if given; without labels every
    /// point is of one class, named "points" unless `classNames` says otherwise.
    public static func embeddings(_ path: String, labels labelsPath: String?, classNames: [String],
                                  log: (String) -> Void) throws -> FeatureMapInput {
        let url = URL(fileURLWithPath: DataSelection.expand(path))
        let (shape, values) = try NumpyFile.read(from: url)
        guard shape.count == 2, shape[0] >= 1, shape[1] >= 1 else {
            throw EvaluationError("\(path): expected an N x D array, found shape \(shape)")
        }
        var labels = [Int](repeating: 0, count: shape[0])
        var names = classNames
        if let labelsPath {
            let l = try NumpyFile.readInt64s(from: URL(fileURLWithPath: DataSelection.expand(labelsPath)))
            guard l.shape == [shape[0]] else { throw EvaluationError("\(labelsPath): \(l.shape) labels for \(shape[0]) embeddings") }
            labels = l.values.map { Int($0) }
        } else if names.isEmpty {
            names = ["points"]
        }
        log("read \(path): \(shape[0]) x \(shape[1])")
        return FeatureMapInput(features: values, dim: shape[1], labels: labels, classNames: names, description: url.lastPathComponent)
    }

    /// The pooled backbone features of `images` (of the split named `split`) through `encoder`, in eval mode without
    /// augmentation; the legend names the dataset's classes unless `classNames` are given.
    public static func features(of images: LabeledImages, split: String, encoder: EncoderSource, classNames: [String],
                                log: (String) -> Void) throws -> FeatureMapInput {
        guard images.count >= 1 else { throw EvaluationError("the \(split) split is empty") }
        if images.channels != 3 { throw EvaluationError("the encoder takes 3-channel images, the dataset has \(images.channels)") }
        let extractor = FeatureExtractor(model: try encoder.makeModel(), batchSize: encoder.batchSize)
        try extractor.checkMemory(imageSize: max(images.height, images.width), count: images.count,
                                  smallerWith: "`featureBatchSize`, `width`")
        let start = Date()
        let features = extractor.features(of: images)
        log(String(format: "computed %d x %d backbone features of the %@ split in %.1f s", images.count,
                   extractor.featureDim, split, Date().timeIntervalSince(start)))
        let source = encoder.weights.map { URL(fileURLWithPath: $0).lastPathComponent } ?? "a random-init encoder"
        return FeatureMapInput(features: features.array, dim: extractor.featureDim, labels: images.labels,
                               classNames: classNames.isEmpty ? images.classNames : classNames,
                               description: "\(source) features, \(split) split")
    }
}
