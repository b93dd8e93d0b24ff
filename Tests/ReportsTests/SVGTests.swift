import Foundation
#if canImport(FoundationXML)
import FoundationXML
#endif
import SVG
import XCTest

/// Counts elements by name and records the first parse error.
final class ElementCounter: NSObject, XMLParserDelegate {
    var counts: [String: Int] = [:]
    var texts: [String] = []
    private var text = ""

    func parser(_ parser: XMLParser, didStartElement name: String, namespaceURI: String?, qualifiedName: String?,
                attributes: [String: String] = [:]) {
        counts[name, default: 0] += 1
        text = ""
    }

    func parser(_ parser: XMLParser, foundCharacters string: String) { text += string }

    func parser(_ parser: XMLParser, didEndElement name: String, namespaceURI: String?, qualifiedName: String?) {
        if name == "text" || name == "title" { texts.append(text) }
        text = ""
    }
}

/// Parses `xml` with Foundation's XMLParser; fails the test on any error.
func parseXML(_ xml: String, file: StaticString = #filePath, line: UInt = #line) -> ElementCounter {
    let parser = XMLParser(data: Data(xml.utf8))
    let counter = ElementCounter()
    parser.delegate = counter
    let ok = parser.parse()
    XCTAssert(ok, "not well-formed: \(parser.parserError.map { "\($0)" } ?? "?")\n\(xml.prefix(500))", file: file, line: line)
    return counter
}

final class SVGTests: XCTestCase {
    func testEscapeReplacesMarkupCharacters() {
        XCTAssertEqual(XMLText.escape(#"a & b < c > d "e" 'f'"#), "a &amp; b &lt; c &gt; d &quot;e&quot; &#39;f&#39;")
        XCTAssertEqual(XMLText.escape("plain text"), "plain text")
        XCTAssertEqual(XMLText.escape("bell\u{7}tab\tnl\n"), "belltab\tnl\n", "control characters XML forbids are dropped")
        XCTAssertEqual(XMLText.escape("&amp;"), "&amp;amp;", "escaping is not idempotent: entities are text")
    }

    func testNiceTicks() {
        let a = LinearAxis(covering: 0.13, 0.87)
        XCTAssertEqual(a.step, 0.2, accuracy: 1e-12)
        XCTAssertEqual(a.lower, 0, accuracy: 1e-12)
        XCTAssertEqual(a.upper, 1, accuracy: 1e-12)
        XCTAssertEqual(a.ticks.count, 6)
        XCTAssertEqual(a.label(0.4), "0.4")
        let b = LinearAxis(covering: -3, 1234)
        XCTAssertEqual(b.step, 500)
        XCTAssertEqual(b.ticks, [-500, 0, 500, 1000, 1500])
        XCTAssertEqual(b.label(1000), "1000")
        let flat = LinearAxis(covering: 5, 5)
        XCTAssert(flat.lower < 5 && flat.upper > 5, "a single value gets a drawable interval")
        let bad = LinearAxis(covering: .nan, .infinity)
        XCTAssertEqual(bad.lower, 0)
        XCTAssertEqual(bad.upper, 1)
    }

    /// A NaN breaks a line: two runs of points give two polylines; an isolated point becomes a dot.
    func testLineChartIsWellFormedAndBreaksAtNaN() {
        let chart = LineChart(title: "Loss & <accuracy>", xLabel: "epoch", yLabel: "value \"%\"", series: [
            .init(name: "train <a&b>", x: [1, 2, 3, 4, 5, 6, 7], y: [1, 0.8, .nan, 0.6, 0.5, .nan, 0.3]),
            .init(name: "test", x: [1, 2, 3], y: [1.2, 1.1, 1.0], dash: "6,4"),
            .init(name: "empty", x: [], y: []),
        ])
        let svg = chart.svg()
        let counter = parseXML(svg)
        XCTAssertEqual(counter.counts["svg"], 1)
        XCTAssertEqual(counter.counts["polyline"], 3, "train: 2 runs of points, test: 1")
        XCTAssertEqual(counter.counts["circle"], 1, "the lone point at x = 7")
        XCTAssert(counter.texts.contains("Loss & <accuracy>"), "title survives escaping: \(counter.texts)")
        XCTAssert(counter.texts.contains("train <a&b>"))
        XCTAssert(counter.texts.contains("value \"%\""))
        XCTAssertFalse(svg.contains("NaN") || svg.contains("nan"), "no NaN coordinates")
        XCTAssert(svg.contains("stroke-dasharray=\"6,4\""))
    }

    func testLineChartWithoutDataSaysSo() {
        let counter = parseXML(LineChart(title: "t", xLabel: "x", yLabel: "y", series: [.init(name: "s", x: [1], y: [.nan])]).svg())
        XCTAssertEqual(counter.counts["polyline"], nil)
        XCTAssert(counter.texts.contains("no data"))
    }

    func testScatterPlotHasOneCirclePerPointAndALegendPerClass() {
        let n = 50
        let x = (0..<n).map { Double($0) }, y = (0..<n).map { sin(Double($0)) }
        var labels = (0..<n).map { $0 % 12 }   // 12 classes: colours repeat after ten
        labels[0] = -1
        var xs = x
        xs[1] = .nan
        let plot = ScatterPlot(title: "t-SNE <test>", x: xs, y: y, labels: labels, classNames: ["cat & dog", "b"])
        let counter = parseXML(plot.svg())
        XCTAssertEqual(counter.counts["circle"], n - 1, "one circle per finite point")
        XCTAssertEqual(counter.counts["rect"], 2 + 13, "background + frame, one legend swatch per class present")
        XCTAssert(counter.texts.contains("cat & dog"))
        XCTAssert(counter.texts.contains("class 11"))
        XCTAssert(counter.texts.contains("unlabeled"))
        XCTAssertEqual(Palette.color(10), Palette.color(0))
    }
}
