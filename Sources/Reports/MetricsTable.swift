import Foundation

/// A numeric CSV file read by its header: `metrics.csv` of any run kind. Empty or non-numeric fields are NaN;
/// short rows (a run still writing its last line) are padded with NaN, extra fields are ignored.
public struct MetricsTable {
    public let columns: [String]
    /// Rows of values in `columns` order.
    public let rows: [[Double]]

    public init(columns: [String], rows: [[Double]]) {
        self.columns = columns
        self.rows = rows
    }

    /// Parses CSV text whose first non-empty line is the header.
    public init(csv: String) {
        var lines = csv.split(whereSeparator: \.isNewline).map { String($0) }.filter { !$0.trimmingCharacters(in: .whitespaces).isEmpty }
        guard !lines.isEmpty else { self.init(columns: [], rows: []); return }
        let header = lines.removeFirst().split(separator: ",", omittingEmptySubsequences: false)
            .map { $0.trimmingCharacters(in: .whitespaces) }
        let rows = lines.map { line -> [Double] in
            let fields = line.split(separator: ",", omittingEmptySubsequences: false)
            return (0..<header.count).map { i in
                i < fields.count ? Double(fields[i].trimmingCharacters(in: .whitespaces)) ?? .nan : .nan
            }
        }
        self.init(columns: header, rows: rows)
    }

    public static func read(_ url: URL) throws -> MetricsTable {
        MetricsTable(csv: try String(contentsOf: url, encoding: .utf8))
    }

    public func has(_ column: String) -> Bool { columns.contains(column) }

    /// The values of `column` (NaN where missing), nil when the file has no such column.
    public func column(_ name: String) -> [Double]? {
        guard let i = columns.firstIndex(of: name) else { return nil }
        return rows.map { $0[i] }
    }

    /// The last finite value of `column`.
    public func last(_ name: String) -> Double? { column(name)?.last(where: { $0.isFinite }) }
}

/// What kind of run a directory holds, from its metrics.csv header.
public enum RunKind: String {
    /// SimCLR pretraining: one row per step (`step,epoch,loss,acc_top1,acc_top5,...`).
    case pretrain
    /// Supervised training, fine-tuning or a linear probe: one row per epoch (`epoch,...,train_loss,...`).
    case epochs
    /// No metrics.csv (e.g. a kNN evaluation): results.json only.
    case resultsOnly
    /// A metrics.csv with neither layout; its table row is still shown.
    case unknown

    public init(metrics: MetricsTable?) {
        guard let m = metrics else { self = .resultsOnly; return }
        if m.has("step") && m.has("loss") && m.has("acc_top1") {
            self = .pretrain
        } else if m.has("epoch") && m.has("train_loss") {
            self = .epochs
        } else {
            self = .unknown
        }
    }
}

/// The median of the finite values, nil when there are none.
func median(_ values: [Double]) -> Double? {
    let v = values.filter(\.isFinite).sorted()
    guard !v.isEmpty else { return nil }
    return v.count % 2 == 1 ? v[v.count / 2] : (v[v.count / 2 - 1] + v[v.count / 2]) / 2
}
