import ArgumentParser
import Contrastive
import Evaluation
import Kernels
import NeuralNet
import Pretraining
import Training

extension Stem: ExpressibleByArgument {}
extension Architecture: ExpressibleByArgument {}
extension PretrainMethod: ExpressibleByArgument {}
extension ComputePrecision: ExpressibleByArgument {}
extension ConvAlgorithmChoice: ExpressibleByArgument {}

/// `--similarity cosine|l2`.
extension Similarity: ExpressibleByArgument {
    public init?(argument: String) { self.init(name: argument) }
    public var defaultValueDescription: String { name }
    public static var allValueStrings: [String] { allCases.map(\.name) }
}

/// `linear-eval --optimizer sgd|adamw`.
extension LinearProbeConfig.OptimizerKind: ExpressibleByArgument {}
