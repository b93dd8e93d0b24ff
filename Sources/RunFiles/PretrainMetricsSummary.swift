import Foundation

/// The last epoch of a pretraining `metrics.csv`: mean loss and contrastive accuracies over its logged steps.
public struct PretrainMetricsSummary: Equatable {
    public var epoch: Int
    public var loss: Double
    public var top1: Double
    public var top5: Double

    public init(epoch: Int, loss: Double, top1: Double, top5: Double) {
        self.epoch = epoch; self.loss = loss; self.top1 = top1; self.top5 = top5
    }

    /// The loss of the file's last row, if it has one.
    public static func lastLoss(csv url: URL) -> Double? {
        guard let text = try? String(contentsOf: url, encoding: .utf8) else { return nil }
        let lines = text.split(separator: "\n")
        guard let column = lines.first?.split(separator: ",").firstIndex(of: "loss"), lines.count > 1 else { return nil }
        let cells = lines[lines.count - 1].split(separator: ",", omittingEmptySubsequences: false)
        return cells.count > column ? Double(cells[column]) : nil
    }

    public init(csv url: URL) throws {
        guard let rows = PretrainMetricsRow.rows(csv: try String(contentsOf: url, encoding: .utf8)) else {
            throw MetricsFileError("\(url.path) is not a pretraining metrics.csv")
        }
        guard let last = rows.map(\.epoch).max() else { throw MetricsFileError("\(url.path) has no rows") }
        let final = rows.filter { $0.epoch == last }
        func mean(_ value: (PretrainMetricsRow) -> Double) -> Double {
            final.map(value).filter { !$0.isNaN }.reduce(0, +) / Double(final.count)
        }
        self.init(epoch: last, loss: mean(\.loss), top1: mean(\.top1), top5: mean(\.top5))
    }
}

/// A metrics.csv that cannot be summarized.
public struct MetricsFileError: Error, CustomStringConvertible {
    public let description: String
    public init(_ description: String) { self.description = description }
}
