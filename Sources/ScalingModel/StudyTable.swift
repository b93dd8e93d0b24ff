import Foundation

/// A CSV table with a header (deploy/scaling.sh's scaling.csv), read and written by column name, so the model
/// can add its prediction to each measured row without knowing every column the study writes.
public struct StudyTable: Equatable, Sendable {
    public private(set) var header: [String]
    public private(set) var rows: [[String]]

    public init(header: [String], rows: [[String]] = []) { self.header = header; self.rows = rows }

    public init(csv text: String) throws {
        let lines = text.split(whereSeparator: \.isNewline).map(String.init).filter { !$0.isEmpty }
        guard let first = lines.first else { throw ScalingModelError.badInput("the study table is empty (no header)") }
        let header = first.split(separator: ",", omittingEmptySubsequences: false).map(String.init)
        self.header = header
        rows = try lines.dropFirst().enumerated().map { i, line in
            let fields = line.split(separator: ",", omittingEmptySubsequences: false).map(String.init)
            guard fields.count == header.count else {
                throw ScalingModelError.badInput("study table line \(i + 2) has \(fields.count) fields, the header \(header.count)")
            }
            return fields
        }
    }

    public var csv: String { ([header] + rows).map { $0.joined(separator: ",") }.joined(separator: "\n") + "\n" }

    public func column(_ name: String) -> Int? { header.firstIndex(of: name) }

    public func value(_ row: Int, _ name: String) -> String? { column(name).map { rows[row][$0] } }

    public func number(_ row: Int, _ name: String) -> Double? { value(row, name).flatMap(Double.init) }

    /// Sets `name` in `row`, adding the column (empty elsewhere) when the table has none.
    public mutating func set(_ row: Int, _ name: String, _ value: String) {
        if column(name) == nil {
            header.append(name)
            for i in rows.indices { rows[i].append("") }
        }
        rows[row][column(name)!] = value
    }

    public mutating func append(_ values: [String: String]) {
        rows.append(header.map { values[$0] ?? "" })
    }
}
