import Foundation

/// One legend entry: a swatch (a line or a square) and its label.
struct LegendEntry {
    var label: String
    var color: String
    var dash: String?
    var isLine: Bool
    var lineWidth = 2.5
    var opacity: Double?
}

/// The parts every chart shares: title, plot area, linear axes with ticks and grid, axis labels and a legend
/// to the right of the plot area.
struct ChartFrame {
    let width: Double, height: Double
    let left: Double, top: Double, right: Double, bottom: Double
    let x: LinearAxis, y: LinearAxis

    static let charWidth = 6.6   // a rough width of a 12 px sans-serif character, for the legend's room

    init(width: Double, height: Double, x: LinearAxis, y: LinearAxis, legend: [LegendEntry]) {
        self.width = width
        self.height = height
        self.x = x
        self.y = y
        let longest = legend.map(\.label.count).max() ?? 0
        let legendWidth = legend.isEmpty ? 0 : 40 + Double(min(longest, 40)) * ChartFrame.charWidth
        let tickWidth = Double(y.ticks.map { y.label($0).count }.max() ?? 1) * ChartFrame.charWidth
        left = 34 + tickWidth
        top = 40
        right = max(left + 50, width - 16 - legendWidth)
        bottom = height - 48
    }

    func px(_ v: Double) -> Double { left + x.fraction(v) * (right - left) }
    func py(_ v: Double) -> Double { bottom - y.fraction(v) * (bottom - top) }

    func draw(into svg: inout SVGWriter, title: String, xLabel: String, yLabel: String, legend: [LegendEntry]) {
        svg.text(title, x: width / 2, y: 22, size: 15, anchor: .middle, bold: true)
        for t in x.ticks {
            let p = px(t)
            svg.line(x1: p, y1: top, x2: p, y2: bottom, stroke: "#e6e6e6")
            svg.line(x1: p, y1: bottom, x2: p, y2: bottom + 5, stroke: "#444")
            svg.text(x.label(t), x: p, y: bottom + 18, size: 11, anchor: .middle)
        }
        for t in y.ticks {
            let p = py(t)
            svg.line(x1: left, y1: p, x2: right, y2: p, stroke: "#e6e6e6")
            svg.line(x1: left - 5, y1: p, x2: left, y2: p, stroke: "#444")
            svg.text(y.label(t), x: left - 8, y: p + 4, size: 11, anchor: .end)
        }
        svg.rect(x: left, y: top, width: right - left, height: bottom - top, fill: "none", stroke: "#444")
        svg.text(xLabel, x: (left + right) / 2, y: height - 10, size: 12, anchor: .middle)
        svg.text(yLabel, x: 14, y: (top + bottom) / 2, size: 12, anchor: .middle, rotate: -90)
        for (i, entry) in legend.enumerated() {
            let ly = top + 10 + Double(i) * 18, lx = right + 14
            if entry.isLine {
                svg.line(x1: lx, y1: ly, x2: lx + 22, y2: ly, stroke: entry.color, width: entry.lineWidth, dash: entry.dash,
                         opacity: entry.opacity)
            } else {
                svg.rect(x: lx + 6, y: ly - 5, width: 10, height: 10, fill: entry.color)
            }
            svg.text(entry.label, x: lx + 28, y: ly + 4, size: 12)
        }
    }
}

/// A line chart of several series over linear axes. A non-finite value (NaN for a missing entry) breaks its
/// series' line: every run of at least two consecutive finite points is one `<polyline>`; a point with no
/// finite neighbour is drawn as a dot (a `<circle>`) so it does not vanish.
public struct LineChart {
    public struct Series {
        public var name: String
        public var x: [Double]
        public var y: [Double]
        /// Default: the palette colour of the series' position.
        public var color: String?
        public var lineWidth: Double
        /// An SVG dash pattern such as "6,4".
        public var dash: String?
        public var opacity: Double?
        /// A dot at every finite point (for series with few points).
        public var markers: Bool

        public init(name: String, x: [Double], y: [Double], color: String? = nil, lineWidth: Double = 2,
                    dash: String? = nil, opacity: Double? = nil, markers: Bool = false) {
            precondition(x.count == y.count, "series \(name): \(x.count) x values but \(y.count) y values")
            self.name = name; self.x = x; self.y = y; self.color = color; self.lineWidth = lineWidth
            self.dash = dash; self.opacity = opacity; self.markers = markers
        }

        /// The runs of consecutive points whose x and y are both finite.
        public var segments: [[(Double, Double)]] {
            var result: [[(Double, Double)]] = [], current: [(Double, Double)] = []
            for (a, b) in zip(x, y) {
                if a.isFinite && b.isFinite { current.append((a, b)) } else if !current.isEmpty {
                    result.append(current); current = []
                }
            }
            if !current.isEmpty { result.append(current) }
            return result
        }
    }

    public var title: String
    public var xLabel: String
    public var yLabel: String
    public var series: [Series]
    public var width: Double
    public var height: Double
    /// Fixed y interval; default: the data's range.
    public var yDomain: ClosedRange<Double>?
    /// Fixed x interval; default: the data's range.
    public var xDomain: ClosedRange<Double>?

    public init(title: String, xLabel: String, yLabel: String, series: [Series], width: Double = 720,
                height: Double = 420, yDomain: ClosedRange<Double>? = nil, xDomain: ClosedRange<Double>? = nil) {
        self.title = title; self.xLabel = xLabel; self.yLabel = yLabel; self.series = series
        self.width = width; self.height = height; self.yDomain = yDomain; self.xDomain = xDomain
    }

    public func svg() -> String {
        let xs = finiteRange(series.flatMap { s in zip(s.x, s.y).filter { $0.1.isFinite }.map(\.0) })
        let ys = finiteRange(series.flatMap { s in zip(s.x, s.y).filter { $0.0.isFinite }.map(\.1) })
        let xr = xDomain.map { ($0.lowerBound, $0.upperBound) } ?? xs ?? (0, 1)
        let yr = yDomain.map { ($0.lowerBound, $0.upperBound) } ?? ys ?? (0, 1)
        let legend = series.enumerated().map { i, s in
            LegendEntry(label: s.name, color: s.color ?? Palette.color(i), dash: s.dash, isLine: true,
                        lineWidth: max(1.5, s.lineWidth), opacity: s.opacity)
        }
        let frame = ChartFrame(width: width, height: height, x: LinearAxis(covering: xr.0, xr.1),
                               y: LinearAxis(covering: yr.0, yr.1), legend: legend)
        var svg = SVGWriter(width: width, height: height)
        frame.draw(into: &svg, title: title, xLabel: xLabel, yLabel: yLabel, legend: legend)
        if xs == nil || ys == nil {
            svg.text("no data", x: (frame.left + frame.right) / 2, y: (frame.top + frame.bottom) / 2, size: 14,
                     anchor: .middle, fill: "#888")
        }
        for (i, s) in series.enumerated() {
            let color = s.color ?? Palette.color(i)
            for segment in s.segments {
                let points = segment.map { (frame.px($0.0), frame.py($0.1)) }
                if points.count >= 2 {
                    svg.polyline(points, stroke: color, width: s.lineWidth, dash: s.dash, opacity: s.opacity)
                }
                if s.markers || points.count == 1 {
                    for p in points { svg.circle(x: p.0, y: p.1, radius: max(2.5, s.lineWidth + 1), fill: color) }
                }
            }
        }
        return svg.render()
    }
}

/// A scatter plot of 2-D points coloured by class (ten palette colours, repeating after ten classes; grey for
/// negative labels), one `<circle>` per finite point, with a legend of the classes present.
public struct ScatterPlot {
    public var title: String
    public var x: [Double]
    public var y: [Double]
    public var labels: [Int]
    /// Names of classes 0, 1, ...; missing names read "class k", negative labels "unlabeled".
    public var classNames: [String]
    public var xLabel: String
    public var yLabel: String
    public var width: Double
    public var height: Double
    public var radius: Double

    public init(title: String, x: [Double], y: [Double], labels: [Int], classNames: [String] = [],
                xLabel: String = "", yLabel: String = "", width: Double = 760, height: Double = 640,
                radius: Double = 2.5) {
        precondition(x.count == y.count && y.count == labels.count,
                     "\(x.count) x, \(y.count) y values and \(labels.count) labels")
        self.title = title; self.x = x; self.y = y; self.labels = labels; self.classNames = classNames
        self.xLabel = xLabel; self.yLabel = yLabel; self.width = width; self.height = height; self.radius = radius
    }

    public func className(_ label: Int) -> String {
        label < 0 ? "unlabeled" : label < classNames.count ? classNames[label] : "class \(label)"
    }

    public func svg() -> String {
        let present = Set(labels).sorted { ($0 < 0 ? Int.max : $0) < ($1 < 0 ? Int.max : $1) }
        let legend = present.map { LegendEntry(label: className($0), color: Palette.color($0), dash: nil, isLine: false) }
        let finite = (0..<x.count).filter { x[$0].isFinite && y[$0].isFinite }
        let xr = finiteRange(finite.map { x[$0] }) ?? (0, 1), yr = finiteRange(finite.map { y[$0] }) ?? (0, 1)
        let frame = ChartFrame(width: width, height: height, x: LinearAxis(covering: xr.0, xr.1),
                               y: LinearAxis(covering: yr.0, yr.1), legend: legend)
        var svg = SVGWriter(width: width, height: height)
        frame.draw(into: &svg, title: title, xLabel: xLabel, yLabel: yLabel, legend: legend)
        for i in finite {
            svg.circle(x: frame.px(x[i]), y: frame.py(y[i]), radius: radius, fill: Palette.color(labels[i]), opacity: 0.75)
        }
        return svg.render()
    }
}
