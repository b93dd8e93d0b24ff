import Cluster
import Datasets
import Foundation
import Kernels
import NeuralNet

/// A problem with an evaluation's encoder or data, named for the user.
public struct EvaluationError: Error, CustomStringConvertible {
    public let description: String
    public init(_ description: String) { self.description = description }
}

/// The encoder an evaluation reads features from: a weights file (its backbone keys) or a random init, with
/// the shape and arithmetic to build it.
public struct EncoderSource: Equatable {
    /// The weights file (absolute path), nil for a random init.
    public var weights: String?
    public var arch: Architecture
    public var stem: Stem
    public var width: Double
    /// Seed of the random init and of the evaluation's own randomness (the label-fraction subset).
    public var seed: UInt64
    public var precision: ComputePrecision
    /// How convolutions choose their algorithms.
    public var convAlgorithm = ConvAlgorithmChoice.auto
    /// Images per forward pass.
    public var batchSize: Int

    public init(weights: String?, arch: Architecture = .resnet18, stem: Stem, width: Double, seed: UInt64,
                precision: ComputePrecision, batchSize: Int) {
        self.weights = weights; self.arch = arch; self.stem = stem; self.width = width; self.seed = seed
        self.precision = precision; self.batchSize = batchSize
    }

    /// This source with another convolution algorithm choice.
    public func with(convAlgorithm: ConvAlgorithmChoice) -> EncoderSource {
        var copy = self
        copy.convAlgorithm = convAlgorithm
        return copy
    }

    /// "random-init" or the weights file.
    public var name: String { weights ?? "random-init" }

    /// The backbone in eval mode.
    public func makeModel() throws -> ResNet {
        let model = ResNet(config: ResNetConfig(arch: arch, stem: stem, width: width, headDims: []), seed: seed)
        if let weights {
            do {
                try model.load(from: URL(fileURLWithPath: weights), scope: .backbone)
            } catch let error as SafetensorsError where error.isNonFinite {
                throw EvaluationError("\(weights): \(error)")
            } catch {
                throw EvaluationError("\(weights): \(error) (do --arch \(arch.rawValue), --stem \(stem.rawValue) and --width \(width) describe this file?)")
            }
        }
        model.isTraining = false
        model.precision = precision
        model.convAlgorithm = convAlgorithm
        return model
    }

    /// Identifies the features a cache holds: the weights file (path, size, modification time) or the random
    /// init, the shape, the data, the split and the label-fraction subset.
    public func cacheKey(data: String, split: String, fraction: Double) -> String {
        var encoder = "random-init seed \(seed) precision \(precision.rawValue) conv \(convAlgorithm.rawValue)"
        if let weights {
            let attributes = try? FileManager.default.attributesOfItem(atPath: weights)
            let size = (attributes?[.size] as? NSNumber)?.intValue ?? -1
            let time = (attributes?[.modificationDate] as? Date)?.timeIntervalSince1970 ?? 0
            encoder = "\(weights) \(size) \(time) precision \(precision.rawValue) conv \(convAlgorithm.rawValue)"
        }
        return "\(encoder) | \(arch.rawValue) \(stem.rawValue) \(width) | \(data) | \(split) | fraction \(fraction) seed \(seed)"
    }
}

/// Frozen features of the labelled train subset and of the test split, as linear-eval and knn use them.
public struct EvaluationFeatureSet {
    public var train: (features: Tensor, labels: [Int])
    public var test: (features: Tensor, labels: [Int])
    public var classCount: Int
    /// Size of the whole train split (before the label fraction).
    public var trainTotal: Int

    public init(train: (features: Tensor, labels: [Int]), test: (features: Tensor, labels: [Int]), classCount: Int,
                trainTotal: Int) {
        self.train = train; self.test = test; self.classCount = classCount; self.trainTotal = trainTotal
    }
}

/// Computes or reuses the features of an evaluation. Every rank computes a shard of each split and an
/// all-gather assembles them; rank 0 alone reads and writes the run directory's `FeatureCache`. Whether the
/// cache holds a split is decided on rank 0 and broadcast, so all ranks skip or run the extraction together.
/// The features are rank 0's result: on the other ranks `compute` returns nil, on a cache hit or miss alike,
/// so no rank holds a placeholder.
public struct EvaluationFeatures {
    public let encoder: EncoderSource
    /// Names the data in cache keys (a change of data recomputes the features).
    public let dataDescription: String
    public let labelFraction: Double
    public let runDirectory: URL
    public let group: any ProcessGroup
    public let log: (String) -> Void

    public init(encoder: EncoderSource, dataDescription: String, labelFraction: Double, runDirectory: URL,
                group: any ProcessGroup, log: @escaping (String) -> Void) {
        self.encoder = encoder; self.dataDescription = dataDescription; self.labelFraction = labelFraction
        self.runDirectory = runDirectory; self.group = group; self.log = log
    }

    /// Collective. `load` gives a whole split (every rank loads it: each needs its shard, all need the labels).
    public func compute(load: (DatasetSplit) throws -> LabeledImages) throws -> EvaluationFeatureSet? {
        var model: ResNet?
        var classCount = 0
        let trainImages = try load(.train)
        let testImages = try load(.test)
        for images in [trainImages, testImages] {
            classCount = max(classCount, images.classNames.count, (images.labels.max() ?? -1) + 1)
        }
        let train = try split(.train, trainImages, fraction: labelFraction, model: &model)
        let test = try split(.test, testImages, fraction: 1, model: &model)
        guard let train, let test else { return nil }
        return EvaluationFeatureSet(train: train, test: test, classCount: classCount, trainTotal: trainImages.count)
    }

    private var isLeader: Bool { group.rank == 0 }

    private func split(_ split: DatasetSplit, _ whole: LabeledImages, fraction: Double,
                       model: inout ResNet?) throws -> (features: Tensor, labels: [Int])? {
        if whole.labels.contains(where: { $0 < 0 }) {
            throw EvaluationError("the \(split.rawValue) split has unlabeled images; evaluation needs labels")
        }
        if whole.count == 0 { throw EvaluationError("the \(split.rawValue) split is empty") }
        var images = whole
        if fraction < 1 {
            images = images.subset(LabelFraction.balancedSubset(labels: images.labels, fraction: fraction, seed: encoder.seed))
        }
        let cache = FeatureCache(directory: runDirectory, split: split.rawValue)
        let key = encoder.cacheKey(data: dataDescription, split: split.rawValue, fraction: fraction)
        var cached = isLeader ? cache.load(key: key) : nil
        if cached?.labels != images.labels { cached = nil }
        if try group.broadcast(cached == nil ? 0 : 1) == 1 {
            guard let cached else { return nil }  // not rank 0: the features stay there
            log("using cached \(split.rawValue) features \(cache.featuresURL.path) (\(cached.labels.count) x \(cached.features.shape[1]))")
            return cached
        }
        if images.channels != 3 {
            throw EvaluationError("the encoder takes 3-channel images, the dataset has \(images.channels)")
        }
        if model == nil { model = try encoder.makeModel() }
        let extractor = FeatureExtractor(model: model!, batchSize: encoder.batchSize)
        try extractor.checkMemory(imageSize: max(images.height, images.width),
                                  count: FeatureExtractor.shard(count: images.count, rank: 0, size: group.size).count,
                                  smallerWith: "`featureBatchSize`, `width`")
        let start = Date()
        let features = try extractor.features(of: images, communicator: group)
        log(String(format: "computed %@ features: %d x %d in %.1f s on %d rank(s)", split.rawValue, images.count,
                   extractor.featureDim, Date().timeIntervalSince(start), group.size))
        guard isLeader else { return nil }
        try cache.store(features: features, labels: images.labels, key: key)
        return (features, images.labels)
    }
}
