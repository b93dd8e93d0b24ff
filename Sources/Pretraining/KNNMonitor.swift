import Datasets
import Evaluation
import NeuralNet
import Runs

/// A kNN classifier on frozen features, run every `every` steps during pretraining (rank 0 only): how
/// well the representation separates labelled classes, without training anything on the labels.
public struct KNNMonitor {
    public var every: Int
    public var train: LabeledImages
    public var test: LabeledImages
    public var k = 200
    public var temperature: Float = 0.1
    /// Classes of both splits: a test label need not occur among the (first few thousand) training images.
    public let classCount: Int

    public init(every: Int, train: LabeledImages, test: LabeledImages) throws {
        guard !train.labels.isEmpty, !test.labels.isEmpty,
              (train.labels + test.labels).allSatisfy({ $0 >= 0 }) else {
            throw SettingsError("the kNN monitor (`knnEvery`) needs labelled train and test images")
        }
        self.every = every; self.train = train; self.test = test
        classCount = max(train.classNames.count, train.labels.max()! + 1, test.labels.max()! + 1)
    }

    /// Top-1/top-5 accuracy of the kNN classifier with the model's current backbone. Leaves the model in eval mode.
    public func evaluate(_ model: ResNet) -> ClassificationResult {
        let extractor = FeatureExtractor(model: model)
        let knn = KNNClassifier(trainFeatures: extractor.features(of: train), trainLabels: train.labels,
                                classCount: classCount, k: k, temperature: temperature)
        return knn.evaluate(features: extractor.features(of: test), labels: test.labels)
    }
}

/// How many labelled train and test images the kNN monitor reads (`--knn-samples TRAIN,TEST`).
public struct KNNSampleCounts: CustomStringConvertible {
    public var train: Int, test: Int

    public init(train: Int, test: Int) { self.train = train; self.test = test }

    /// "TRAIN,TEST", two counts of at least 1.
    public init?(_ text: String) {
        guard let v = parseNumberList(text, count: 2), v.allSatisfy({ $0 >= 1 && $0 == $0.rounded() }) else { return nil }
        (train, test) = (Int(v[0]), Int(v[1]))
    }

    public var description: String { "\(train),\(test)" }
}
