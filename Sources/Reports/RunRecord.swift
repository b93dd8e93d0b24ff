import Foundation
import RunFiles

public enum ReportError: Error, CustomStringConvertible, Equatable {
    case notADirectory(String)
    case noRunFiles(String)
    case unreadable(String, reason: String)
    /// No directory of a report could be read: each one's reason.
    case noUsableRun([String])

    public var description: String {
        switch self {
        case let .notADirectory(path): return "\(path): no such directory"
        case let .noRunFiles(path): return "\(path): neither metrics.csv nor results.json found (is this a run directory?)"
        case let .unreadable(path, reason): return "\(path): \(reason)"
        case let .noUsableRun(failures): return failures.joined(separator: "\n")
        }
    }
}

/// The files of one run directory: `metrics.csv`, `results.json` and `config.json`, each when present.
public struct RunRecord {
    public let directory: URL
    /// A short name for tables and headings (the directory's name unless made unique by the caller).
    public var name: String
    public let metrics: MetricsTable?
    public let results: RunResults?
    /// results.json as stored, every key included (for the report's table of the file).
    public let resultsJSON: [String: Any]?
    public let config: [String: Any]?

    public init(directory: URL, name: String? = nil, metrics: MetricsTable?, results: RunResults?,
                resultsJSON: [String: Any]? = nil, config: [String: Any]?) {
        self.directory = directory
        self.name = name ?? directory.standardizedFileURL.lastPathComponent
        self.metrics = metrics
        self.results = results
        self.resultsJSON = resultsJSON
        self.config = config
    }

    /// Reads a run directory. It must hold metrics.csv or results.json; config.json is optional.
    public static func load(_ directory: URL) throws -> RunRecord {
        var isDir: ObjCBool = false
        guard FileManager.default.fileExists(atPath: directory.path, isDirectory: &isDir), isDir.boolValue else {
            throw ReportError.notADirectory(directory.path)
        }
        func file(_ name: String) -> URL? {
            let url = directory.appendingPathComponent(name)
            return FileManager.default.fileExists(atPath: url.path) ? url : nil
        }
        func json(_ name: String) throws -> [String: Any]? {
            guard let url = file(name) else { return nil }
            guard let object = try? JSONSerialization.jsonObject(with: Data(contentsOf: url)),
                  let dict = object as? [String: Any] else {
                throw ReportError.unreadable(url.path, reason: "not a JSON object")
            }
            return dict
        }
        let metrics = try file("metrics.csv").map { url in
            do { return try MetricsTable.read(url) } catch {
                throw ReportError.unreadable(url.path, reason: error.localizedDescription)
            }
        }
        let results = try file("results.json").map { url in
            do { return try RunResults.read(url) } catch {
                throw ReportError.unreadable(url.path, reason: "not a JSON object with the keys and types of results.json (\(error))")
            }
        }
        guard metrics != nil || results != nil else { throw ReportError.noRunFiles(directory.path) }
        return RunRecord(directory: directory, metrics: metrics, results: results, resultsJSON: try json("results.json"),
                         config: try json("config.json"))
    }

    public var kind: RunKind { RunKind(metrics: metrics) }

    public var summary: RunSummary { RunSummary(name: name, results: results ?? RunResults(), config: config, metrics: metrics) }

    /// Pretraining steps per epoch: config.json's `steps_per_epoch`, else the most rows any epoch has.
    public var stepsPerEpoch: Double? { PretrainCurves.stepsPerEpoch(config: config, metrics: metrics) }

    /// Gives runs with the same directory name distinct names (the parent directory is prefixed, then a number).
    public static func uniqueNames(_ runs: [RunRecord]) -> [RunRecord] {
        var result = runs
        let counts = Dictionary(grouping: runs.map(\.name), by: { $0 }).mapValues(\.count)
        var used = Set<String>()
        for i in result.indices {
            var name = result[i].name
            if counts[name, default: 0] > 1 {
                let parent = result[i].directory.standardizedFileURL.deletingLastPathComponent().lastPathComponent
                name = parent.isEmpty ? name : "\(parent)/\(name)"
            }
            var candidate = name, k = 2
            while used.contains(candidate) { candidate = "\(name)-\(k)"; k += 1 }
            used.insert(candidate)
            result[i].name = candidate
        }
        return result
    }
}
