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

    /// What a later command reads back from a run directory's config.json (nil without a readable one).
    public static func read(in directory: URL) -> Recorded? {
        guard let data = try? Data(contentsOf: directory.appendingPathComponent("config.json")) else { return nil }
        return try? JSONDecoder().decode(Recorded.self, from: data)
    }

    /// The parts of config.json read back: the settings' model (any training run's settings have one).
    public struct Recorded: Decodable {
        public struct Settings: Decodable {
            public var model: ResNetConfig?
        }
        public var settings: Settings
    }
}

extension ResNetConfig {
    /// "ResNet-50 stem=cifar width=0.25" for log lines.
    public var describe: String {
        "\(arch.displayName) stem=\(stem.rawValue) width=\(width)" + (zeroInitResidual ? " zero-init-residual" : "")
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
