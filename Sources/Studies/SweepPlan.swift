import Contrastive
import Foundation
import NeuralNet
import Pretraining
import RunFiles
import Runs

/// The settings `simclr sweep` runs: the pretraining studies chosen and the values each one varies. Each
/// setting is a short pretraining (the base arguments plus the setting's own) followed by a linear probe
/// and kNN (docs/reference-semantics.md, note 'Studies').
public struct SweepPlan: Equatable {
    public static let studyNames = ["temperature", "batch-size", "augmentation", "head", "similarity", "multicrop", "method",
                                    "compression"]
    /// The compression study's settings: gradients as they are, as bfloat16, and PowerSGD at rank 4 (the paper's)
    /// and 8 (the default), each with pretrain's default warm-up (the first tenth of the run uncompressed;
    /// docs/gradient-compression.md).
    public static let compressionSettings: [(name: String, arguments: [String])] = [
        ("none", ["--grad-compression", "none"]), ("bf16", ["--grad-compression", "bf16"]),
        ("powersgd R=4", ["--grad-compression", "powersgd", "--powersgd-rank", "4"]),
        ("powersgd R=8", ["--grad-compression", "powersgd", "--powersgd-rank", "8"]),
    ]
    public static let ablationNames = ["crop", "flip", "color-jitter", "grayscale", "blur"]

    public var studies: [String]
    public var temperatures: [String]
    public var batchSizes: [String]
    /// Augmentations removed one at a time (after the full pipeline).
    public var ablations: [String]
    /// Projection heads, each a list of layer sizes ("512,128").
    public var heads: [String]
    /// Small crops per image of the multicrop study (docs/multi-crop.md); "0" is the two-view run.
    public var smallCropCounts: [String]

    /// The temperature of the similarity study's l2 setting; nil = the base's, like cosine. The l2
    /// similarity works on unnormalized embeddings, whose logits grow with |z|^2 (docs/reference-semantics.md,
    /// note 'Unnormalized similarity').
    public var l2Temperature: String?

    public init(studies: [String], temperatures: [String], batchSizes: [String], ablations: [String], heads: [String],
                l2Temperature: String? = nil, smallCropCounts: [String] = ["0", "2", "4"]) {
        self.studies = studies; self.temperatures = temperatures; self.batchSizes = batchSizes
        self.ablations = ablations; self.heads = heads; self.l2Temperature = l2Temperature
        self.smallCropCounts = smallCropCounts
    }

    /// One setting: its study, its name in the tables, and the pretrain arguments that make it.
    public struct Setting: Equatable {
        public var study: String
        public var setting: String
        public var arguments: [String]
    }

    /// A value the plan cannot run, named by its option.
    public struct Invalid: Error, CustomStringConvertible, Equatable {
        public let description: String
    }

    /// Checks every study, ablation, temperature, batch size and head.
    public func validate() throws {
        guard !studies.isEmpty else { throw Invalid(description: "--studies is empty") }
        for study in studies where !Self.studyNames.contains(study) {
            throw Invalid(description: "--studies: unknown '\(study)' (\(Self.studyNames.joined(separator: ", ")))")
        }
        for a in ablations where !Self.ablationNames.contains(a) {
            throw Invalid(description: "--ablations: unknown '\(a)' (\(Self.ablationNames.joined(separator: ", ")))")
        }
        for t in temperatures where !((Double(t) ?? 0) > 0) {
            throw Invalid(description: "--temperatures: '\(t)' is not a positive number")
        }
        if let t = l2Temperature, !((Double(t) ?? 0) > 0) {
            throw Invalid(description: "--l2-temperature: '\(t)' is not a positive number (try 0.5)")
        }
        for b in batchSizes where !((Int(b) ?? 0) >= 2) {
            throw Invalid(description: "--batch-sizes: '\(b)' is not a batch size of at least 2")
        }
        for n in smallCropCounts where !((Int(n) ?? -1) >= 0) {
            throw Invalid(description: "--small-crop-counts: '\(n)' is not a count of small crops (0 or more)")
        }
        // Each head is a --proj-dims value of its run, read as pretraining reads it ("none" too).
        for head in heads where (try? ResNetConfig.headDims(parsing: head)) == nil {
            throw Invalid(description: "--heads: '\(head)' is not a list of positive layer sizes")
        }
    }

    /// The settings in study order.
    public var settings: [Setting] {
        studies.flatMap { study -> [Setting] in
            switch study {
            case "temperature": return temperatures.map { Setting(study: study, setting: $0, arguments: ["--temperature", $0]) }
            case "batch-size": return batchSizes.map { Setting(study: study, setting: $0, arguments: ["--batch-size", $0]) }
            case "augmentation":
                return [Setting(study: study, setting: "full", arguments: [])]
                    + ablations.map { Setting(study: study, setting: "no-\($0)", arguments: ["--no-\($0)"]) }
            case "head": return heads.map { Setting(study: study, setting: $0, arguments: ["--proj-dims", $0]) }
            case "similarity":
                return Similarity.allCases.map { similarity in
                    guard similarity == .negativeSquaredL2, let t = l2Temperature else {
                        return Setting(study: study, setting: similarity.name, arguments: ["--similarity", similarity.name])
                    }
                    return Setting(study: study, setting: "\(similarity.name) T=\(t)",
                                   arguments: ["--similarity", similarity.name, "--temperature", t])
                }
            case "multicrop":
                return smallCropCounts.map { Setting(study: study, setting: $0, arguments: ["--small-crops", $0]) }
            case "method":
                return PretrainMethod.allCases.map { Setting(study: study, setting: $0.rawValue, arguments: ["--method", $0.rawValue]) }
            case "compression":
                return Self.compressionSettings.map { Setting(study: study, setting: $0.name, arguments: $0.arguments) }
            default: return []
            }
        }
    }
}

/// One setting's line of the sweep table: the last epoch's contrastive figures, the probe's and kNN's top-1.
public struct SweepRow: Equatable {
    public var study: String
    public var setting: String
    public var contrastive: PretrainMetricsSummary
    public var probeTop1: Double
    public var probeTop5: Double
    public var knnTop1: Double?
    /// Set when the setting's pretraining diverged: then it has no evaluations, and the other figures are
    /// unknown (NaN).
    public var diverged: RunDivergence?

    public init(study: String, setting: String, contrastive: PretrainMetricsSummary, probeTop1: Double,
                probeTop5: Double, knnTop1: Double?) {
        self.study = study; self.setting = setting; self.contrastive = contrastive
        self.probeTop1 = probeTop1; self.probeTop5 = probeTop5; self.knnTop1 = knnTop1
    }

    /// The row of a setting whose pretraining diverged.
    public init(study: String, setting: String, diverged: RunDivergence) {
        self.init(study: study, setting: setting, contrastive: PretrainMetricsSummary(epoch: 0, loss: .nan, top1: .nan, top5: .nan),
                  probeTop1: .nan, probeTop5: .nan, knnTop1: nil)
        self.diverged = diverged
    }

    public static let csvHeader = "study,setting,final_epoch,loss,acc_top1,acc_top5,linear_top1,linear_top5,knn_top1\n"
    public static let markdownHeader = ["study", "setting", "contrastive loss", "contrastive top-1", "contrastive top-5",
                                        "linear top-1", "linear top-5", "kNN top-1"]

    /// A diverged setting: its loss column holds the loss it reached, the other figures are empty.
    public var csvLine: String {
        if let diverged { return "\(study),\"\(setting)\",,\(diverged.loss),,,,,\n" }
        let knn = knnTop1.map { String($0) } ?? ""
        return "\(study),\"\(setting)\",\(contrastive.epoch),\(contrastive.loss),\(contrastive.top1),"
            + "\(contrastive.top5),\(probeTop1),\(probeTop5),\(knn)\n"
    }

    public var markdownCells: [String] {
        func pct(_ x: Double) -> String { String(format: "%.1f%%", x * 100) }
        if let diverged {
            return [study, setting, "diverged at step \(diverged.step) (\(diverged.summary))", "-", "-", "-", "-", "-"]
        }
        return [study, setting, String(format: "%.3f", contrastive.loss), pct(contrastive.top1), pct(contrastive.top5),
                pct(probeTop1), pct(probeTop5), knnTop1.map(pct) ?? "-"]
    }
}
