import Foundation

/// One column of a `metrics.csv` row type: its header name, where its value lives and how it is written.
public struct MetricsColumn<Row> {
    public let name: String
    let read: (Row) -> Double?
    let write: (inout Row, Double?) -> Void
    let format: (Double) -> String

    /// A whole number (step, epoch).
    public static func integer(_ name: String, _ path: WritableKeyPath<Row, Int>) -> MetricsColumn {
        MetricsColumn(name: name, read: { Double($0[keyPath: path]) },
                      write: { row, v in if let v, v.isFinite { row[keyPath: path] = Int(v) } },
                      format: { String(Int($0)) })
    }

    /// A value with `digits` decimals (`%.Nf`).
    public static func fixed(_ name: String, _ digits: Int, _ path: WritableKeyPath<Row, Double>) -> MetricsColumn {
        MetricsColumn(name: name, read: { $0[keyPath: path] }, write: { row, v in row[keyPath: path] = v ?? .nan },
                      format: { String(format: "%.\(digits)f", $0) })
    }

    /// A value that some rows lack (written as an empty field).
    public static func fixed(_ name: String, _ digits: Int, _ path: WritableKeyPath<Row, Double?>) -> MetricsColumn {
        MetricsColumn(name: name, read: { $0[keyPath: path] }, write: { row, v in row[keyPath: path] = v },
                      format: { String(format: "%.\(digits)f", $0) })
    }

    /// A value of any magnitude (the learning rate): six significant digits (`%.6g`).
    public static func significant(_ name: String, _ path: WritableKeyPath<Row, Double>) -> MetricsColumn {
        MetricsColumn(name: name, read: { $0[keyPath: path] }, write: { row, v in row[keyPath: path] = v ?? .nan },
                      format: { String(format: "%.6g", $0) })
    }
}

/// A row of a run's `metrics.csv`. The type owns the file's columns (header and order), the formatting of
/// every value and reading rows back, so writers, resumption and reports cannot disagree on positions.
public protocol MetricsRow {
    /// The columns in file order.
    static var layout: [MetricsColumn<Self>] { get }
    /// The column that orders the rows: on resume, rows past the checkpoint's step are dropped by it.
    static var stepColumn: String { get }
    /// A row with every value unknown, filled by `init(values:)`.
    init()
}

extension MetricsRow {
    /// The header names in file order.
    public static var columns: [String] { layout.map(\.name) }

    /// The header line's fields.
    public static var header: String { columns.joined(separator: ",") }

    /// The row as written: one field per column, empty where the value is unknown.
    public var fields: [String] {
        Self.layout.map { column in column.read(self).map(column.format) ?? "" }
    }

    /// The row's line of the file.
    public var line: String { fields.joined(separator: ",") }

    /// (column name, value) of every value the row holds, in file order and as the file writes it (rounded by
    /// the column's format, so a second sink such as TensorBoard shows exactly metrics.csv's numbers). Unknown
    /// values are left out.
    public var scalars: [(String, Double)] {
        zip(Self.columns, fields).compactMap { name, field in Double(field).map { (name, $0) } }
    }

    /// A row from values by column name; missing or non-numeric values stay unknown.
    public init(values: [String: Double]) {
        self.init()
        for column in Self.layout { column.write(&self, values[column.name].flatMap { $0.isFinite ? $0 : nil }) }
    }

    /// The rows of a metrics.csv text of this type (columns found by name, so a file with extra, reordered or
    /// fewer columns reads too; what it lacks stays unknown). Nil when the header lacks the step column.
    public static func rows(csv text: String) -> [Self]? {
        let lines = text.split(whereSeparator: \.isNewline)
        guard let header = lines.first?.split(separator: ",", omittingEmptySubsequences: false)
            .map({ $0.trimmingCharacters(in: .whitespaces) }),
              header.contains(stepColumn) else { return nil }
        return lines.dropFirst().compactMap { line in
            let fields = line.split(separator: ",", omittingEmptySubsequences: false)
            guard fields.count == header.count else { return nil }  // a line cut short by a crash
            var values: [String: Double] = [:]
            for (name, field) in zip(header, fields) { values[name] = Double(field.trimmingCharacters(in: .whitespaces)) }
            return Self(values: values)
        }
    }

    /// Whether a metrics.csv header holds this row type's columns.
    public static func matches(header: [String]) -> Bool { columns.allSatisfy(header.contains) }
}
