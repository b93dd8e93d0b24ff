import Foundation
import Kernels
import RunFiles
import TensorBoard

/// A run's `metrics.csv`, written row by row in the columns of one `MetricsRow` type (pretraining: a row per
/// step; classifiers and the linear probe: a row per epoch). On resume, rows past the checkpoint's step (the
/// row type's `stepColumn`) are dropped so the file reads as if the run had never stopped. With a `tensorBoard`
/// directory every row also goes there as TensorBoard scalars (tag = column name, x = the step column), with
/// the values as the file holds them.
public final class MetricsLog {
    public let url: URL
    public let columns: [String]
    private var handle: FileHandle?
    private let stepColumn: Int
    private let events: EventFileWriter?

    public init(url: URL, rows: any MetricsRow.Type, resumingAfterStep: Int?, tensorBoard: URL? = nil) throws {
        self.url = url
        columns = rows.columns
        var text = rows.header + "\n"
        let stepColumn = rows.columns.firstIndex(of: rows.stepColumn)!
        self.stepColumn = stepColumn
        events = try tensorBoard.map { directory in
            do {
                return try EventFileWriter(directory: directory, fresh: resumingAfterStep == nil,
                                           resumingAtStep: resumingAfterStep.map { $0 + 1 })
            } catch {
                throw TrainingError.writeFailed("cannot write TensorBoard events in \(SystemErrorText.printable(directory.path)): "
                                                + "\(SystemErrorText.reason(error)) (--no-tensorboard trains without them)")
            }
        }
        if let last = resumingAfterStep, let old = try? String(contentsOf: url, encoding: .utf8) {
            for line in old.split(separator: "\n").dropFirst() {
                let fields = line.split(separator: ",", omittingEmptySubsequences: false)
                if fields.count > stepColumn, let step = Int(fields[stepColumn]), step <= last { text += line + "\n" }
            }
        }
        do {
            try Data(text.utf8).write(to: url)
            handle = try FileHandle(forWritingTo: url)
            try handle?.seekToEnd()
        } catch {
            throw TrainingError.writeFailed("cannot write \(SystemErrorText.printable(url.path)): \(SystemErrorText.reason(error))")
        }
    }

    deinit { try? handle?.close() }

    /// Appends a row; a failed write (a full disk) is an error naming the file, not a silently shorter log.
    public func append<Row: MetricsRow>(_ row: Row) throws {
        precondition(Row.columns == columns, "a \(Row.self) row for a file of columns \(columns)")
        do {
            try handle?.write(contentsOf: Data((row.line + "\n").utf8))
        } catch {
            throw TrainingError.writeFailed("cannot append to \(SystemErrorText.printable(url.path)): \(SystemErrorText.reason(error))")
        }
        // TensorBoard is a view of the same rows: a failed event write must not stop training.
        guard let events else { return }
        let scalars = row.scalars
        if let step = scalars.first(where: { $0.0 == Row.stepColumn }).map({ Int($0.1) }) {
            try? events.add(scalars: scalars.filter { $0.0 != Row.stepColumn }.map { (tag: $0.0, value: $0.1) },
                            step: step)
        }
    }

    public func flush() { try? handle?.synchronize() }
}
