import Foundation
import TensorBoard

/// A run's `metrics.csv`: one row per logged step (pretraining: `knn_top1` is empty where the kNN monitor did
/// not run) or per epoch (classifier training). On resume, rows past the checkpoint's step (the value in
/// `stepColumn`) are dropped so the file reads as if the run had never stopped. With a `tensorBoard` directory
/// every row is also written there as TensorBoard scalars (tag = column name, at the row's step).
public final class MetricsLog {
    /// Pretraining's columns.
    public static let columns = ["step", "epoch", "loss", "acc_top1", "acc_top5", "mean_pos", "lr", "img_per_s", "data_wait_s", "knn_top1"]
    public let url: URL
    public let columns: [String]
    private var handle: FileHandle?
    private let stepColumn: Int
    private let events: EventFileWriter?

    public init(url: URL, columns: [String] = MetricsLog.columns, stepColumn: Int = 0, resumingAfterStep: Int?,
                tensorBoard: URL? = nil) throws {
        self.url = url
        self.columns = columns
        self.stepColumn = stepColumn
        events = try tensorBoard.map {
            try EventFileWriter(directory: $0, fresh: resumingAfterStep == nil, resumingAtStep: resumingAfterStep.map { $0 + 1 })
        }
        var text = columns.joined(separator: ",") + "\n"
        if let last = resumingAfterStep, let old = try? String(contentsOf: url, encoding: .utf8) {
            for line in old.split(separator: "\n").dropFirst() {
                let fields = line.split(separator: ",", omittingEmptySubsequences: false)
                if fields.count > stepColumn, let step = Int(fields[stepColumn]), step <= last { text += line + "\n" }
            }
        }
        try Data(text.utf8).write(to: url)
        handle = try FileHandle(forWritingTo: url)
        try handle?.seekToEnd()
    }

    deinit { try? handle?.close() }

    public func append(_ values: [String]) {
        precondition(values.count == columns.count, "\(values.count) values for \(columns.count) columns")
        try? handle?.write(contentsOf: Data((values.joined(separator: ",") + "\n").utf8))
        if let events, let step = Int(values[stepColumn]) {
            try? events.add(scalars: TensorBoardScalars.of(row: values, columns: columns, skipping: stepColumn), step: step)
        }
    }

    public func flush() { try? handle?.synchronize() }
}

/// The numeric cells of a metrics row as TensorBoard scalars (empty cells, such as knn_top1 between monitor
/// steps, are left out).
enum TensorBoardScalars {
    static func of(row: [String], columns: [String], skipping stepColumn: Int) -> [(tag: String, value: Double)] {
        zip(columns, row).enumerated().compactMap { i, cell in
            guard i != stepColumn, let value = Double(cell.1) else { return nil }
            return (cell.0, value)
        }
    }
}

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
        let text = try String(contentsOf: url, encoding: .utf8)
        let lines = text.split(separator: "\n")
        guard let header = lines.first?.split(separator: ",", omittingEmptySubsequences: false).map(String.init),
              let e = header.firstIndex(of: "epoch"), let l = header.firstIndex(of: "loss"),
              let t1 = header.firstIndex(of: "acc_top1"), let t5 = header.firstIndex(of: "acc_top5") else {
            throw TrainingError.invalidSettings("\(url.path) is not a pretraining metrics.csv")
        }
        let rows = lines.dropFirst().map { $0.split(separator: ",", omittingEmptySubsequences: false) }
            .filter { $0.count == header.count }
        guard let last = rows.compactMap({ Int($0[e]) }).max() else {
            throw TrainingError.invalidSettings("\(url.path) has no rows")
        }
        let final = rows.filter { Int($0[e]) == last }
        func mean(_ column: Int) -> Double {
            final.compactMap { Double($0[column]) }.reduce(0, +) / Double(final.count)
        }
        self.init(epoch: last, loss: mean(l), top1: mean(t1), top5: mean(t5))
    }
}
