import Foundation
import RunFiles
import SVG

/// Summary tables of runs and the `report.md` / `report.html` / SVG files of `simclr report`.
public enum ReportWriter {
    public static let summaryHeaders = ["run", "method", "encoder", "labels", "test top-1", "test top-5", "final loss",
                                        "epochs", "img/s"]

    /// One row per run: run, method, encoder, label fraction, test top-1/top-5 (percent), final loss, epochs,
    /// img/s; "-" where unknown. A pretraining run's top-1 is its last kNN monitor value, marked "(kNN)".
    public static func summaryTable(_ summaries: [RunSummary]) -> MarkdownTable {
        let rows = summaries.map { s in
            [s.name, s.method, s.encoder, s.labelFraction.map { String(format: "%g%%", $0 * 100) } ?? "-",
             percent(s.testTop1) + (s.top1IsKNN && s.testTop1 != nil ? " (kNN)" : ""), percent(s.testTop5),
             s.finalLoss.map { String(format: "%.4f", $0) } ?? "-",
             s.epochs.map { $0 == $0.rounded() ? String(Int($0)) : String(format: "%.2f", $0) } ?? "-",
             s.imagesPerSecond.map { String(format: "%.1f", $0) } ?? "-"]
        }
        return MarkdownTable(headers: summaryHeaders, rows: rows,
                             alignments: [.left, .left, .left, .right, .right, .right, .right, .right, .right])
    }

    /// The summary table of runs' results, one row each, named by `names` (default: "run 1", "run 2", ...).
    /// Render it with `.markdown()` or `.html()`.
    public static func resultsTable(_ results: [RunResults], names: [String]? = nil) -> MarkdownTable {
        summaryTable(results.enumerated().map { i, r in
            RunSummary(name: names.flatMap { i < $0.count ? $0[i] : nil } ?? "run \(i + 1)", results: r)
        })
    }

    /// A fraction as a percentage with two decimals, "-" for nil.
    public static func percent(_ fraction: Double?) -> String {
        fraction.map { String(format: "%.2f%%", $0 * 100) } ?? "-"
    }

    /// Writes `report.md`, `report.html` and the plots (under `plots/`, one subdirectory per run when there
    /// are several) for `runs` into `directory`; returns the files written, report.md and report.html first.
    @discardableResult
    public static func write(runs: [RunRecord], to directory: URL) throws -> ReportFiles {
        precondition(!runs.isEmpty, "a report needs at least one run")
        let runs = RunRecord.uniqueNames(runs)
        var written: [URL] = []
        var blocks: [ReportBlock] = []
        func chart(_ named: NamedChart, in folder: String?) throws {
            let relative = (folder.map { "plots/\($0)/" } ?? "plots/") + named.stem + ".svg"
            let url = directory.appendingPathComponent(relative)
            try FileManager.default.createDirectory(at: url.deletingLastPathComponent(), withIntermediateDirectories: true)
            let svg = named.chart.svg()
            try Data(svg.utf8).write(to: url, options: .atomic)
            written.append(url)
            blocks.append(.chart(path: relative, title: named.chart.title, svg: svg))
        }

        let title = runs.count == 1 ? "Report: \(runs[0].name)" : "Report: \(runs.count) runs"
        blocks.append(.heading(1, title))
        let summaries = runs.map(\.summary)
        blocks.append(.table(summaryTable(summaries)))
        if summaries.contains(where: \.top1IsKNN) {
            blocks.append(.paragraph("Test top-1 marked (kNN) is a pretraining run's last kNN-monitor value "
                                     + "(`--knn-every`), not a linear-probe result."))
        }
        let comparison = RunCharts.comparison(runs)
        if !comparison.isEmpty {
            blocks.append(.heading(2, "Comparison"))
            for c in comparison { try chart(c, in: nil) }
        }
        // t-SNE maps drawn into this directory (`simclr tsne --out DIR/NAME.svg`), with their neighbour agreement.
        let maps = FeatureMapSummary.maps(in: directory)
        if !maps.isEmpty {
            blocks.append(.heading(2, "Feature maps (t-SNE)"))
            for (svg, summary) in maps {
                blocks.append(.chart(path: svg.lastPathComponent, title: summary.title,
                                     svg: (try? String(contentsOf: svg, encoding: .utf8)) ?? ""))
                blocks.append(.paragraph(summary.sentence))
            }
        }
        for run in runs {
            if runs.count > 1 { blocks.append(.heading(2, run.name)) }
            blocks += describe(run)
            for c in RunCharts.charts(for: run) { try chart(c, in: runs.count > 1 ? safeName(run.name) : nil) }
        }

        let md = directory.appendingPathComponent("report.md"), html = directory.appendingPathComponent("report.html")
        try FileManager.default.createDirectory(at: directory, withIntermediateDirectories: true)
        try Data(ReportBlock.markdown(blocks).utf8).write(to: md, options: .atomic)
        try Data(ReportBlock.html(blocks, title: title).utf8).write(to: html, options: .atomic)
        return ReportFiles(markdown: md, html: html, plots: written)
    }

    /// The text of a run's section: where it is, what its metrics hold, key settings and results.json.
    static func describe(_ run: RunRecord) -> [ReportBlock] {
        var lines = ["Directory: `\(run.directory.standardizedFileURL.path)`"]
        switch run.kind {
        case .pretrain:
            let spe = run.stepsPerEpoch.map { ", \(RunSummary.trimmed($0)) steps per epoch" } ?? ""
            lines.append("Pretraining run: metrics.csv has \(run.metrics!.rows.count) steps\(spe). Curves show every "
                         + "step (faint; means of buckets of steps beyond 2000 steps) and the mean of each epoch (dots).")
        case .epochs:
            lines.append("Epoch run: metrics.csv has \(run.metrics!.rows.count) epochs.")
        case .resultsOnly:
            lines.append("No metrics.csv: results.json only, no curves.")
        case .unknown:
            lines.append("metrics.csv has unrecognised columns (\(run.metrics!.columns.joined(separator: ", "))): no curves.")
        }
        if let settings = settingsLine(run.config) { lines.append(settings) }
        var blocks = [ReportBlock.paragraph(lines.joined(separator: "\n"))]
        if let results = run.resultsJSON, !results.isEmpty {
            let rows = results.keys.sorted().map { [$0, jsonText(results[$0]!)] }
            blocks.append(.details("results.json", MarkdownTable(headers: ["key", "value"], rows: rows)))
        }
        return blocks
    }

    /// The main pretraining settings from config.json, when it has them.
    static func settingsLine(_ config: [String: Any]?) -> String? {
        guard let config, let settings = config["settings"] as? [String: Any] else { return nil }
        var parts: [String] = []
        func add(_ label: String, _ value: Any?) { if let value { parts.append("\(label) \(jsonText(value))") } }
        add("batch", settings["batchSize"])
        add("epochs", settings["epochs"])
        add("optimizer", settings["optimizer"])
        add("lr", settings["lr"])
        add("scaled lr", config["scaled_lr"])
        add("temperature", settings["temperature"])
        if let model = settings["model"] as? [String: Any] { add("width", model["width"]); add("stem", model["stem"]) }
        add("ranks", config["world_size"])
        if let commit = config["git_commit"] as? String { parts.append("commit \(commit.prefix(10))") }
        return parts.isEmpty ? nil : "Settings (config.json): " + parts.joined(separator: ", ") + "."
    }

    /// A JSON value as short text: strings bare, numbers as written, anything else as compact JSON.
    static func jsonText(_ value: Any) -> String {
        switch value {
        case let s as String: return s
        case let n as NSNumber: return jsonBool(n).map { $0 ? "true" : "false" } ?? "\(n)"
        default:
            guard JSONSerialization.isValidJSONObject(value),
                  let data = try? JSONSerialization.data(withJSONObject: value, options: [.sortedKeys]) else { return "\(value)" }
            return String(decoding: data, as: UTF8.self)
        }
    }

    /// A file-system-safe folder name.
    static func safeName(_ name: String) -> String {
        String(name.map { $0.isLetter || $0.isNumber || "._-".contains($0) ? $0 : "_" })
    }
}

/// A piece of a report, rendered to Markdown and to HTML.
enum ReportBlock {
    case heading(Int, String)
    case paragraph(String)
    case table(MarkdownTable)
    /// A table shown folded.
    case details(String, MarkdownTable)
    case chart(path: String, title: String, svg: String)

    static func markdown(_ blocks: [ReportBlock]) -> String {
        blocks.map { block -> String in
            switch block {
            case let .heading(level, text): return String(repeating: "#", count: level) + " " + text + "\n"
            case let .paragraph(text): return text.replacingOccurrences(of: "\n", with: "  \n") + "\n"
            case let .table(table): return table.markdown()
            case let .details(summary, table): return "<details><summary>\(XMLText.escape(summary))</summary>\n\n" + table.markdown() + "\n</details>\n"
            case let .chart(path, title, _): return "![\(title.replacingOccurrences(of: "]", with: ")"))](\(path))\n"
            }
        }.joined(separator: "\n")
    }

    /// A self-contained page: the SVGs are inline.
    static func html(_ blocks: [ReportBlock], title: String) -> String {
        let style = """
            body { font-family: Helvetica, Arial, sans-serif; margin: 2em auto; max-width: 1100px; color: #222; }
            table { border-collapse: collapse; margin: 1em 0; } th, td { border: 1px solid #ccc; padding: 4px 8px; }
            th { background: #f3f3f3; } td.num, th.num { text-align: right; } code { background: #f6f6f6; }
            figure { margin: 1em 0; }
            """
        var out = "<!DOCTYPE html>\n<html>\n<head>\n<meta charset=\"utf-8\">\n<title>\(XMLText.escape(title))</title>\n"
            + "<style>\n\(style)\n</style>\n</head>\n<body>\n"
        for block in blocks {
            switch block {
            case let .heading(level, text): out += "<h\(level)>\(XMLText.escape(text))</h\(level)>\n"
            case let .paragraph(text):
                let escaped = XMLText.escape(text).replacingOccurrences(of: "\n", with: "<br>\n")
                // Markdown code spans (`...`) become <code>.
                let parts = escaped.components(separatedBy: "`")
                out += "<p>" + parts.enumerated().map { $0 % 2 == 1 && $0 < parts.count - 1 ? "<code>\($1)</code>" : $1 }.joined() + "</p>\n"
            case let .table(table): out += table.html()
            case let .details(summary, table): out += "<details><summary>\(XMLText.escape(summary))</summary>\n" + table.html() + "</details>\n"
            case let .chart(path, _, svg): out += "<figure data-file=\"\(XMLText.escape(path))\">\n\(svg)</figure>\n"
            }
        }
        return out + "</body>\n</html>\n"
    }
}

/// The files a report wrote: report.md, report.html and the plots, in that order as a collection.
public struct ReportFiles: RandomAccessCollection {
    public var markdown: URL
    public var html: URL
    public var plots: [URL]

    public var startIndex: Int { 0 }
    public var endIndex: Int { plots.count + 2 }
    public subscript(position: Int) -> URL { position == 0 ? markdown : position == 1 ? html : plots[position - 2] }
}

extension ReportWriter {
    /// `simclr report`: reads the run directories (one that cannot be read is skipped, `warn` saying why, as long
    /// as another is usable) and writes one combined report into `combined`, or else a report into each run's
    /// directory. Returns the files written and, for several runs without `combined`, their summary table.
    public static func write(runDirectories: [URL], combined: URL?,
                             warn: (String) -> Void) throws -> (written: [URL], table: MarkdownTable?) {
        var runs: [RunRecord] = []
        var failures: [String] = []
        for directory in runDirectories {
            do { runs.append(try RunRecord.load(directory)) } catch { failures.append("\(error)") }
        }
        guard !runs.isEmpty else { throw ReportError.noUsableRun(failures) }
        failures.forEach { warn("warning: skipping \($0)") }
        if let combined { return (Array(try write(runs: runs, to: combined)), nil) }
        var written: [URL] = []
        for run in runs { written += try write(runs: [run], to: run.directory) }
        return (written, runs.count > 1 ? summaryTable(RunRecord.uniqueNames(runs).map(\.summary)) : nil)
    }
}
