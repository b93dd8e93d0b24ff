import Foundation

/// A run's `results.json`: what every command that trains or evaluates reports at its end. One type for all
/// of them (pretraining, supervised, fine-tuning, linear probe, kNN); each fills the fields that apply and
/// the others are left out of the file. Accuracies are fractions. Readers (reports, compare, sweep) decode
/// the same type, so a key is spelled in one place (docs/run-files.md).
public struct RunResults: Codable, Equatable {
    /// simclr-pretrain, supervised, finetune, linear-eval or knn.
    public var method: String?
    /// The encoder file, or "random-init".
    public var encoder: String?
    public var randomInit: Bool?
    public var data: String?

    // The model and the run's shape.
    /// resnet18, resnet34 or resnet50.
    public var arch: String?
    public var stem: String?
    public var width: Double?
    public var seed: UInt64?
    public var ranks: Int?
    public var batchSize: Int?
    public var epochs: Int?
    public var steps: Int?
    public var optimizer: String?
    public var lr: Double?
    public var backboneLRScale: Double?
    public var syncBatchNorm: Bool?
    public var temperature: Double?

    // The data the evaluation saw.
    public var labelFraction: Double?
    public var trainCount: Int?
    public var testCount: Int?
    public var classes: Int?
    public var featureDim: Int?

    // Results on the test split; `testEvaluation` "knn" marks a pretraining run's kNN monitor.
    public var testTop1: Double?
    public var testTop5: Double?
    public var testLoss: Double?
    public var testEvaluation: String?
    public var trainTop1: Double?
    public var trainLoss: Double?

    // Pretraining: the last step's loss and the last epoch's contrastive means.
    public var finalLoss: Double?
    public var contrastiveLoss: Double?
    public var contrastiveTop1: Double?
    public var contrastiveTop5: Double?
    public var knnTop1: Double?
    public var knnK: Int?
    public var knnTrainCount: Int?

    // The linear probe and the kNN vote.
    public var standardize: Bool?
    public var probeSeconds: Double?
    public var k: Int?
    public var kRequested: Int?
    public var knnSeconds: Double?
    public var imagesPerSecond: Double?

    public init() {}

    enum CodingKeys: String, CodingKey {
        case method, encoder, randomInit = "random_init", data
        case arch, stem, width, seed, ranks, batchSize = "batch_size", epochs, steps, optimizer, lr
        case backboneLRScale = "backbone_lr_scale", syncBatchNorm = "sync_batchnorm", temperature
        case labelFraction = "label_fraction", trainCount = "train_count", testCount = "test_count", classes
        case featureDim = "feature_dim"
        case testTop1 = "test_top1", testTop5 = "test_top5", testLoss = "test_loss", testEvaluation = "test_evaluation"
        case trainTop1 = "train_top1", trainLoss = "train_loss"
        case finalLoss = "final_loss", contrastiveLoss = "contrastive_loss", contrastiveTop1 = "contrastive_top1"
        case contrastiveTop5 = "contrastive_top5", knnTop1 = "knn_top1", knnK = "knn_k", knnTrainCount = "knn_train_count"
        case standardize, probeSeconds = "probe_seconds", k, kRequested = "k_requested", knnSeconds = "knn_seconds"
        case imagesPerSecond = "img_per_s"
    }

    /// Pretty-printed JSON with sorted keys; unknown values (nil, NaN, infinities) are left out, as JSON has no
    /// numbers for them.
    public func encoded() throws -> Data {
        let encoder = JSONEncoder()
        encoder.outputFormatting = [.prettyPrinted, .sortedKeys]
        return try encoder.encode(finite) + Data("\n".utf8)
    }

    /// Reads a results.json; keys this type does not know are ignored, JSON nulls read as unknown.
    public static func read(_ url: URL) throws -> RunResults {
        try JSONDecoder().decode(RunResults.self, from: Data(contentsOf: url))
    }

    /// A copy with every non-finite number cleared.
    var finite: RunResults {
        var r = self
        let doubles: [WritableKeyPath<RunResults, Double?>] = [
            \.width, \.lr, \.backboneLRScale, \.temperature, \.labelFraction, \.testTop1, \.testTop5, \.testLoss,
            \.trainTop1, \.trainLoss, \.finalLoss, \.contrastiveLoss, \.contrastiveTop1, \.contrastiveTop5, \.knnTop1,
            \.probeSeconds, \.knnSeconds, \.imagesPerSecond,
        ]
        for path in doubles where r[keyPath: path].map({ !$0.isFinite }) == true { r[keyPath: path] = nil }
        return r
    }
}
