import Foundation

/// A file of network weights as commands take it (`--encoder`, `--weights`, `--init`): a model file under
/// torchvision's keys, or a training checkpoint, whose `model.` tensors are the model. What the tensors show
/// (architecture, width) lets a command build the network without being told.
public struct WeightsFile {
    /// The file read.
    public let path: String
    /// The model's tensors under torchvision's keys (a checkpoint's `model.` prefix removed).
    public let tensors: [String: SafetensorsEntry]
    /// True when the file is a training checkpoint (its optimizer state and position are not used).
    public let isCheckpoint: Bool

    /// The prefix of a checkpoint's model tensors (docs/checkpoint-format.md).
    public static let checkpointModelPrefix = "model."

    /// Reads `path`. A directory is refused with a message naming the weights inside it, if there are any.
    public init(path: String) throws {
        try Self.checkIsFile(path)
        let all = try Safetensors.read(contentsOf: URL(fileURLWithPath: path)).tensors
        let prefix = Self.checkpointModelPrefix
        // A model file has `conv1.weight`; a checkpoint has `model.conv1.weight` beside its optimizer state.
        isCheckpoint = all["conv1.weight"] == nil && all[prefix + "conv1.weight"] != nil
        tensors = isCheckpoint
            ? Dictionary(uniqueKeysWithValues: all.compactMap { key, value in
                key.hasPrefix(prefix) ? (String(key.dropFirst(prefix.count)), value) : nil })
            : all
        self.path = path
    }

    /// Throws `WeightsFileError` unless `path` is a readable regular file.
    public static func checkIsFile(_ path: String) throws {
        var isDirectory: ObjCBool = false
        guard FileManager.default.fileExists(atPath: path, isDirectory: &isDirectory) else {
            throw WeightsFileError.missing(path: path)
        }
        if isDirectory.boolValue {
            let directory = path.hasSuffix("/") ? String(path.dropLast()) : path
            let inside = ["model.safetensors", "checkpoint.safetensors"].map { directory + "/" + $0 }
                .first { FileManager.default.fileExists(atPath: $0) }
            throw WeightsFileError.directory(path: path, weightsInside: inside)
        }
    }

    /// The architecture the keys show.
    public var architecture: Architecture { Architecture.inferred(fromKeys: tensors.keys) }

    /// The width multiplier whose stage channel counts are those of the file (ResNet-18/34/50), or nil when no
    /// width gives them all (not one of our networks).
    public var width: Double? {
        let arch = architecture
        // The first block's first 3x3 convolution of each stage has the stage's width in its output channels.
        let stageConvs = (1...4).map { "layer\($0).0.\(arch == .resnet50 ? "conv2" : "conv1").weight" }
        let channels = stageConvs.compactMap { tensors[$0]?.shape.first }
        guard channels.count == 4 else { return nil }
        // Every stage gives a candidate; the widest stage's is the most precise. Keep one that fits all four.
        let candidates = zip(channels, [64.0, 128, 256, 512]).map { Double($0) / $1 }.reversed()
        return candidates.first { w in
            ResNetConfig(arch: arch, stem: .cifar, width: w, headDims: []).stageChannels == channels
        }
    }
}

/// Weights that cannot be read for the reason named.
public enum WeightsFileError: Error, CustomStringConvertible, Equatable {
    case missing(path: String)
    case directory(path: String, weightsInside: String?)

    public var description: String {
        switch self {
        case let .missing(path): return "\(path): file not found"
        case let .directory(path, inside?): return "\(path) is a directory; did you mean \(inside)?"
        case let .directory(path, nil):
            return "\(path) is a directory, not a weights file (a finished run's directory holds model.safetensors)"
        }
    }
}
