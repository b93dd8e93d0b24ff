import Foundation

/// A run's `metrics.csv`: one row per logged step (pretraining: `knn_top1` is empty where the kNN monitor did
/// not run) or per epoch (classifier training). On resume, rows past the checkpoint's step (the value in
/// `stepColumn`) are dropped so the file reads as if the run had never stopped.
public final class MetricsLog {
    /// Pretraining's columns.
    public static let columns = ["step", "epoch", "loss", "acc_top1", "acc_top5", "mean_pos", "lr", "img_per_s", "data_wait_s", "knn_top1"]
    public let url: URL
    public let columns: [String]
    private var handle: FileHandle?

    public init(url: URL, columns: [String] = MetricsLog.columns, stepColumn: Int = 0, resumingAfterStep: Int?) throws {
        self.url = url
        self.columns = columns
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
    }

    public func flush() { try? handle?.synchronize() }
}
