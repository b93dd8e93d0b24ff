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

    /// The file's key of every stored property, by the property's name (`encode(to:)` finds them so).
    enum CodingKeys: String, CodingKey, CaseIterable {
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
        return try encoder.encode(self) + Data("\n".utf8)
    }

    /// Reads a results.json; keys this type does not know are ignored, JSON nulls read as unknown.
    public static func read(_ url: URL) throws -> RunResults {
        try JSONDecoder().decode(RunResults.self, from: Data(contentsOf: url))
    }

    /// Every stored property under its key, found by reflection rather than listed here, so a new property
    /// is written without a second list to update (and one without a key in `CodingKeys` fails loudly).
    /// Nil values and numbers that are not finite are left out.
    public func encode(to encoder: Encoder) throws {
        var container = encoder.container(keyedBy: CodingKeys.self)
        for child in Mirror(reflecting: self).children {
            guard let name = child.label, let key = Self.codingKeys[name] else {
                throw EncodingError.invalidValue(child.value, EncodingError.Context(
                    codingPath: encoder.codingPath, debugDescription: "RunResults.\(child.label ?? "?") has no coding key"))
            }
            var value = child.value
            let wrapper = Mirror(reflecting: value)
            if wrapper.displayStyle == .optional {
                guard let wrapped = wrapper.children.first?.value else { continue }
                value = wrapped
            }
            if let number = value as? Double, !number.isFinite { continue }
            guard let encodable = value as? any Encodable else {
                throw EncodingError.invalidValue(value, EncodingError.Context(
                    codingPath: encoder.codingPath, debugDescription: "RunResults.\(name) is not encodable"))
            }
            try container.encode(encodable, forKey: key)
        }
    }

    /// `CodingKeys` by property name. Found by decoding each key alone and seeing which property it sets
    /// (a case's name is not readable: CodingKey's description shows its string value), so the mapping is
    /// the synthesized decoder's own.
    static let codingKeys: [String: CodingKeys] = {
        var map: [String: CodingKeys] = [:]
        for key in CodingKeys.allCases {
            // A number, a string or a Bool: one of them fits every property.
            for value in ["0", "\"\"", "true"] {
                let json = Data("{\"\(key.stringValue)\": \(value)}".utf8)
                guard let decoded = try? JSONDecoder().decode(RunResults.self, from: json) else { continue }
                let set = Mirror(reflecting: decoded).children.first { child in
                    Mirror(reflecting: child.value).displayStyle != .optional || !Mirror(reflecting: child.value).children.isEmpty
                }
                if let name = set?.label { map[name] = key }
                break
            }
        }
        return map
    }()

    /// The file's key of every property, by property name ("testTop1": "test_top1").
    public static var fileKeys: [String: String] { codingKeys.mapValues(\.stringValue) }
}
