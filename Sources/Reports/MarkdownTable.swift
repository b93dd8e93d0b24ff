import SVG

/// A table of text cells rendered as GitHub-flavoured Markdown (columns padded to equal width so the
/// source reads as a table too) or as an HTML `<table>`.
public struct MarkdownTable: Equatable {
    public enum Alignment: Equatable { case left, right }

    public var headers: [String]
    public var rows: [[String]]
    public var alignments: [Alignment]

    /// `rows` shorter than `headers` are padded with empty cells; longer ones are cut.
    /// `alignments` default to left.
    public init(headers: [String], rows: [[String]], alignments: [Alignment]? = nil) {
        self.headers = headers
        self.rows = rows.map { row in (0..<headers.count).map { $0 < row.count ? row[$0] : "" } }
        self.alignments = (0..<headers.count).map { i in
            alignments.flatMap { i < $0.count ? $0[i] : nil } ?? .left
        }
    }

    /// A cell made safe for one Markdown table cell: `|` escaped, line breaks turned into spaces.
    public static func escapeCell(_ text: String) -> String {
        text.replacingOccurrences(of: "\\", with: "\\\\").replacingOccurrences(of: "|", with: "\\|")
            .replacingOccurrences(of: "\r\n", with: " ").replacingOccurrences(of: "\n", with: " ")
            .replacingOccurrences(of: "\r", with: " ")
    }

    /// The Markdown text, ending with a newline.
    public func markdown() -> String {
        let cells = ([headers] + rows).map { $0.map(MarkdownTable.escapeCell) }
        let widths = headers.indices.map { i in max(3, cells.map { $0[i].count }.max() ?? 0) }
        func pad(_ s: String, _ i: Int) -> String {
            let fill = String(repeating: " ", count: widths[i] - s.count)
            return alignments[i] == .right ? fill + s : s + fill
        }
        func line(_ row: [String]) -> String { "| " + row.indices.map { pad(row[$0], $0) }.joined(separator: " | ") + " |" }
        let rule = "| " + headers.indices.map { i in
            alignments[i] == .right ? String(repeating: "-", count: widths[i] - 1) + ":" : String(repeating: "-", count: widths[i])
        }.joined(separator: " | ") + " |"
        return ([line(cells[0]), rule] + cells.dropFirst().map(line)).joined(separator: "\n") + "\n"
    }

    /// An HTML `<table>` with escaped cells (right-aligned columns get `class="num"`).
    public func html() -> String {
        func cell(_ tag: String, _ text: String, _ i: Int) -> String {
            let cls = alignments[i] == .right ? " class=\"num\"" : ""
            return "<\(tag)\(cls)>\(XMLText.escape(text))</\(tag)>"
        }
        var out = "<table>\n<thead><tr>" + headers.indices.map { cell("th", headers[$0], $0) }.joined() + "</tr></thead>\n<tbody>\n"
        for row in rows { out += "<tr>" + row.indices.map { cell("td", row[$0], $0) }.joined() + "</tr>\n" }
        return out + "</tbody>\n</table>\n"
    }
}
