import ArgumentParser
import Cluster
import Contrastive
import Datasets
import Evaluation
import Kernels
import NeuralNet
import Pretraining

extension Stem: ExpressibleByArgument {}
extension Architecture: ExpressibleByArgument {}
extension PretrainMethod: ExpressibleByArgument {}
extension PretrainRecipe: ExpressibleByArgument {}
extension ComputePrecision: ExpressibleByArgument {}
extension GradientCompression.Method: ExpressibleByArgument {}
extension ConvAlgorithmChoice: ExpressibleByArgument {}
extension SyntheticLayout: ExpressibleByArgument {}
extension Embedding.Features: ExpressibleByArgument {}

/// `--similarity cosine|l2`.
extension Similarity: ExpressibleByArgument {
    public init?(argument: String) { self.init(name: argument) }
    public var defaultValueDescription: String { name }
    public static var allValueStrings: [String] { allCases.map(\.name) }
    public static var allValueDescriptions: [String: String] {
        ["cosine": "cosine similarity of the embeddings (SimCLR's)",
         "l2": "negative squared Euclidean distance of the unnormalized embeddings"]
    }
}

/// `linear-eval --optimizer sgd|adamw`.
extension LinearProbeConfig.OptimizerKind: ExpressibleByArgument {}

/// `pretrain --knn-samples TRAIN,TEST`.
extension KNNSampleCounts: ExpressibleByArgument {
    public init?(argument: String) { self.init(argument) }
    public var defaultValueDescription: String { description }
}
