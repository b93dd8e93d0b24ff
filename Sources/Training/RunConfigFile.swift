import Foundation
import NeuralNet

/// `config.json` of a training run: the settings, facts about the run (`fields`) and the build and host
/// (`runInfo`), written atomically.
public enum RunConfigFile {
    public static func write(settingsJSON: String, fields: [String: Any], runInfo: [String: String], to directory: URL) throws {
        var object = fields
        object["settings"] = try JSONSerialization.jsonObject(with: Data(settingsJSON.utf8))
        for (k, v) in runInfo { object[k] = v }
        let data = try JSONSerialization.data(withJSONObject: object, options: [.prettyPrinted, .sortedKeys])
        try AtomicFile.write(data, to: directory.appendingPathComponent("config.json"))
    }
}

/// Settings saved as pretty-printed, key-sorted JSON (config.json, checkpoints, the rank configuration check).
public protocol JSONSettings: Codable {}

extension JSONSettings {
    public var json: String {
        let encoder = JSONEncoder()
        encoder.outputFormatting = [.prettyPrinted, .sortedKeys]
        return String(decoding: try! encoder.encode(self), as: UTF8.self)
    }
}
