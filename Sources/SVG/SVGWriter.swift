import Foundation

/// Builds one standalone SVG document (no XML declaration, so it can also be pasted into HTML).
/// Every text and attribute value goes through `XMLText.escape`.
public struct SVGWriter {
    public let width: Double
    public let height: Double
    private var body: [String] = []

    public init(width: Double, height: Double) {
        self.width = width
        self.height = height
    }

    /// Appends an element with attributes (in the given order) and optional text content.
    public mutating func element(_ name: String, _ attributes: [(String, String)], text: String? = nil) {
        var line = "<\(name)"
        for (key, value) in attributes { line += " \(key)=\"\(XMLText.escape(value))\"" }
        if let text { line += ">\(XMLText.escape(text))</\(name)>" } else { line += "/>" }
        body.append(line)
    }

    public mutating func line(x1: Double, y1: Double, x2: Double, y2: Double, stroke: String, width: Double = 1,
                              dash: String? = nil, opacity: Double? = nil) {
        var attrs = [("x1", num(x1)), ("y1", num(y1)), ("x2", num(x2)), ("y2", num(y2)), ("stroke", stroke),
                     ("stroke-width", num(width))]
        if let dash { attrs.append(("stroke-dasharray", dash)) }
        if let opacity { attrs.append(("stroke-opacity", num(opacity))) }
        element("line", attrs)
    }

    public mutating func polyline(_ points: [(Double, Double)], stroke: String, width: Double, dash: String? = nil,
                                  opacity: Double? = nil) {
        let text = points.map { "\(num($0.0)),\(num($0.1))" }.joined(separator: " ")
        var attrs = [("points", text), ("fill", "none"), ("stroke", stroke), ("stroke-width", num(width)),
                     ("stroke-linejoin", "round")]
        if let dash { attrs.append(("stroke-dasharray", dash)) }
        if let opacity { attrs.append(("stroke-opacity", num(opacity))) }
        element("polyline", attrs)
    }

    public mutating func circle(x: Double, y: Double, radius: Double, fill: String, opacity: Double? = nil) {
        var attrs = [("cx", num(x)), ("cy", num(y)), ("r", num(radius)), ("fill", fill)]
        if let opacity { attrs.append(("fill-opacity", num(opacity))) }
        element("circle", attrs)
    }

    public mutating func rect(x: Double, y: Double, width: Double, height: Double, fill: String,
                              stroke: String? = nil) {
        var attrs = [("x", num(x)), ("y", num(y)), ("width", num(width)), ("height", num(height)), ("fill", fill)]
        if let stroke { attrs.append(("stroke", stroke)) }
        element("rect", attrs)
    }

    public enum Anchor: String { case start, middle, end }

    public mutating func text(_ content: String, x: Double, y: Double, size: Double = 12, anchor: Anchor = .start,
                              bold: Bool = false, rotate: Double? = nil, fill: String = "#222") {
        var attrs = [("x", num(x)), ("y", num(y)), ("font-size", num(size)), ("text-anchor", anchor.rawValue),
                     ("fill", fill)]
        if bold { attrs.append(("font-weight", "bold")) }
        if let rotate { attrs.append(("transform", "rotate(\(num(rotate)) \(num(x)) \(num(y)))")) }
        element("text", attrs, text: content)
    }

    /// The finished document.
    public func render() -> String {
        "<svg xmlns=\"http://www.w3.org/2000/svg\" width=\"\(num(width))\" height=\"\(num(height))\" "
            + "viewBox=\"0 0 \(num(width)) \(num(height))\" font-family=\"Helvetica, Arial, sans-serif\">\n"
            + "<rect x=\"0\" y=\"0\" width=\"\(num(width))\" height=\"\(num(height))\" fill=\"white\"/>\n"
            + body.joined(separator: "\n") + "\n</svg>\n"
    }

    /// Writes the document to `url` (atomically).
    public func write(to url: URL) throws {
        try Data(render().utf8).write(to: url, options: .atomic)
    }

    /// Coordinates with at most two decimals and no trailing zeros.
    func num(_ v: Double) -> String {
        let r = (v * 100).rounded() / 100
        if r == r.rounded() && abs(r) < 1e15 { return String(Int(r)) }
        return String(format: "%.2f", r).replacingOccurrences(of: #"0+$"#, with: "", options: .regularExpression)
    }
}

/// Ten distinguishable colours (Tableau 10, matplotlib's default cycle).
public enum Palette {
    public static let category10 = ["#1f77b4", "#ff7f0e", "#2ca02c", "#d62728", "#9467bd",
                                    "#8c564b", "#e377c2", "#7f7f7f", "#bcbd22", "#17becf"]

    /// The colour of class / series `index` (colours repeat after ten); grey for negative indices.
    public static func color(_ index: Int) -> String { index < 0 ? "#b0b0b0" : category10[index % category10.count] }
}
