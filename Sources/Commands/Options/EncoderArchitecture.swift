import Datasets
import Foundation
import NeuralNet
import Training

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
    guard let file = try? Safetensors.read(contentsOf: URL(fileURLWithPath: DataSelection.expand(path))) else { return nil }
    return Architecture.inferred(fromKeys: file.tensors.keys)
}

/// `settings.model` of a run directory's config.json, when it has one.
func recordedModel(inRun directory: String) -> ResNetConfig? {
    RunConfigFile.read(in: URL(fileURLWithPath: DataSelection.expand(directory)))?.settings.model
}
