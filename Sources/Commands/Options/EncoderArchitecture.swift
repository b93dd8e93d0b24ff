import Foundation
import NeuralNet

/// The encoder a command builds. The architecture is `--arch` when given, else the one a resumed run recorded in
/// its config.json, else the one the weights file's keys show, else ResNet-18. A resumed run also keeps its
/// recorded zero-init choice (it only shapes the initial weights, which the checkpoint replaces).
func encoderConfig(arch: Architecture?, stem: Stem, width: Double, headDims: [Int], zeroInitResidual: Bool = false,
                   resuming runDirectory: String? = nil, weights: String? = nil) -> ResNetConfig {
    let recorded = runDirectory.flatMap(recordedModel(inRun:))
    let chosen = arch ?? recorded?.arch ?? weights.flatMap(architecture(ofWeights:)) ?? .resnet18
    return ResNetConfig(arch: chosen, stem: stem, width: width, headDims: headDims,
                        zeroInitResidual: zeroInitResidual || (recorded?.zeroInitResidual ?? false))
}

/// The architecture whose keys a safetensors file holds (nil when it cannot be read; loading reports why).
func architecture(ofWeights path: String) -> Architecture? {
    guard let file = try? Safetensors.read(contentsOf: URL(fileURLWithPath: expandPath(path))) else { return nil }
    return Architecture.inferred(fromKeys: file.tensors.keys)
}

/// `settings.model` of a run directory's config.json, when it has one.
func recordedModel(inRun directory: String) -> ResNetConfig? {
    let url = URL(fileURLWithPath: expandPath(directory)).appendingPathComponent("config.json")
    guard let data = try? Data(contentsOf: url),
          let object = try? JSONSerialization.jsonObject(with: data) as? [String: Any],
          let settings = object["settings"] as? [String: Any], let model = settings["model"],
          let modelData = try? JSONSerialization.data(withJSONObject: model) else { return nil }
    return try? JSONDecoder().decode(ResNetConfig.self, from: modelData)
}

extension ResNetConfig {
    /// "ResNet-50 stem=cifar width=0.25" for log lines.
    var describe: String {
        "\(arch.displayName) stem=\(stem.rawValue) width=\(width)" + (zeroInitResidual ? " zero-init-residual" : "")
    }
}
