import Foundation

/// `metrics.csv`: one row per logged step (`knn_top1` is empty where the kNN monitor did not run). On resume, rows past the checkpoint are dropped so the
/// file reads as if the run had never stopped.
public final class MetricsLog {
    public static let columns = ["step", "epoch", "loss", "acc_top1", "acc_top5", "mean_pos", "lr", "img_per_s", "data_wait_s", "knn_top1"]
    public let url: URL
    private var handle: FileHandle?

    public init(url: URL, resumingAfterStep: Int?) throws {
        self.url = url
        var text = MetricsLog.columns.joined(separator: ",") + "\n"
        if let last = resumingAfterStep, let old = try? String(contentsOf: url, encoding: .utf8) {
            for line in old.split(separator: "\n").dropFirst() {
                if let step = Int(line.split(separator: ",").first ?? ""), step <= last { text += line + "\n" }
            }
        }
        try Data(text.utf8).write(to: url)
        handle = try FileHandle(forWritingTo: url)
        try handle?.seekToEnd()
    }

    deinit { try? handle?.close() }

    public func append(_ values: [String]) {
        precondition(values.count == MetricsLog.columns.count)
        try? handle?.write(contentsOf: Data((values.joined(separator: ",") + "\n").utf8))
    }

    public func flush() { try? handle?.synchronize() }
}
