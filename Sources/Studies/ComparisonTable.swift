import Foundation
import RunFiles

/// One accuracy of a comparison study: how features from one source did in one evaluation at one label fraction.
public struct ComparisonEntry: Equatable {
    /// Where the encoder came from: "random-init", "simclr" or "moco" (pretrained with that method) or
    /// "supervised" (trained from scratch on the labels).
    public var source: String
    /// "linear", "knn", "finetune" or "supervised".
    public var evaluation: String
    public var labelFraction: Double
    public var top1: Double
    public var top5: Double
    public var runDirectory: String

    public init(source: String, evaluation: String, labelFraction: Double, top1: Double, top5: Double,
                runDirectory: String) {
        self.source = source; self.evaluation = evaluation; self.labelFraction = labelFraction
        self.top1 = top1; self.top5 = top5; self.runDirectory = runDirectory
    }

    /// Takes test_top1/test_top5 from a run's results.
    public init(source: String, evaluation: String, labelFraction: Double, results: RunResults,
                runDirectory: String) throws {
        guard let top1 = results.testTop1, let top5 = results.testTop5 else {
            throw ComparisonError.missingAccuracy(runDirectory)
        }
        self.init(source: source, evaluation: evaluation, labelFraction: labelFraction, top1: top1, top5: top5,
                  runDirectory: runDirectory)
    }
}

public enum ComparisonError: Error, CustomStringConvertible {
    case missingAccuracy(String)
    public var description: String {
        switch self {
        case .missingAccuracy(let dir): return "\(dir)/results.json has no numeric test_top1/test_top5"
        }
    }
}

/// The table of a comparison study: one row per (encoder source, evaluation), one column per label
/// fraction, cells "top-1 % (top-5 %)".
public struct ComparisonTable {
    public var entries: [ComparisonEntry]

    public init(entries: [ComparisonEntry]) { self.entries = entries }

    /// Label fractions present, ascending.
    public var fractions: [Double] { Array(Set(entries.map(\.labelFraction))).sorted() }

    /// (source, evaluation) pairs in first-seen order.
    public var rows: [(source: String, evaluation: String)] {
        var seen: [(String, String)] = []
        for e in entries where !seen.contains(where: { $0 == (e.source, e.evaluation) }) {
            seen.append((e.source, e.evaluation))
        }
        return seen.map { (source: $0.0, evaluation: $0.1) }
    }

    public func entry(source: String, evaluation: String, fraction: Double) -> ComparisonEntry? {
        entries.first { $0.source == source && $0.evaluation == evaluation && $0.labelFraction == fraction }
    }

    /// Header and rows of the summary table (strings), for Markdown or any other rendering.
    public var cells: (header: [String], rows: [[String]]) {
        let header = ["encoder", "evaluation"] + fractions.map { "\(Self.percent($0, digits: 0)) labels" }
        let body = rows.map { row in
            [Self.sourceTitle(row.source), Self.evaluationTitle(row.evaluation)] + fractions.map { f in
                entry(source: row.source, evaluation: row.evaluation, fraction: f).map {
                    "\(Self.percent($0.top1)) (\(Self.percent($0.top5)))"
                } ?? "-"
            }
        }
        return (header, body)
    }

    /// Long-format CSV: one line per entry.
    public var csv: String {
        var text = "encoder,evaluation,label_fraction,test_top1,test_top5,run_dir\n"
        for e in entries {
            text += "\(e.source),\(e.evaluation),\(e.labelFraction),\(e.top1),\(e.top5),\(e.runDirectory)\n"
        }
        return text
    }

    static func percent(_ x: Double, digits: Int = 1) -> String {
        let value = x * 100
        if digits == 0, value < 1 { return String(format: "%g%%", value) }
        return String(format: "%.\(digits)f%%", value)
    }

    static func sourceTitle(_ s: String) -> String {
        ["random-init": "random init", "simclr": "SimCLR", "moco": "MoCo v2", "supervised": "supervised from scratch"][s] ?? s
    }

    static func evaluationTitle(_ e: String) -> String {
        ["linear": "linear probe", "knn": "kNN (k=200)", "finetune": "fine-tune", "supervised": "end to end"][e] ?? e
    }
}
