import ArgumentParser
import Datasets
import Foundation
import NeuralNet
import Training

/// `--arch`, `--stem`, `--width` of a command whose encoder may come from a weights file or a resumed run, which
/// then say the architecture and width the flags leave open (`encoderConfig`).
struct EncoderShapeOptions: ParsableArguments {
    @Option(help: "resnet18, resnet34 or resnet50 (Bottleneck blocks: 2048-d features at width 1). Default: a resumed run's own, else the one the weights file's keys show, else resnet18.")
    var arch: Architecture?
    @Option(help: "cifar (3x3 conv, no max pool) or imagenet (7x7/2 conv + max pool).")
    var stem: Stem = .cifar
    @Option(help: "Channel width multiplier: 1.0 = the torchvision network (512-d features, ResNet-50 2048-d); 0.25 for quick runs on small machines. Default: a resumed run's own, else the width the weights file's channel counts show, else 1.0.")
    var width: Double?

    func validate() throws {
        if let width { try checkWidth(width) }
    }

    func config(headDims: [Int], zeroInitResidual: Bool = false, resuming runDirectory: String? = nil, weights: String? = nil) -> ResNetConfig {
        encoderConfig(arch: arch, stem: stem, width: width, headDims: headDims, zeroInitResidual: zeroInitResidual,
                      resuming: runDirectory, weights: weights)
    }
}

/// The encoder a command builds. The architecture is `--arch` when given, else the one a resumed run recorded in
/// its config.json, else the one the weights file's keys show, else ResNet-18; the width likewise (`--width`,
/// the recorded one, the one the file's channel counts show, else 1). A resumed run also keeps its recorded
/// zero-init choice (it only shapes the initial weights, which the checkpoint replaces).
func encoderConfig(arch: Architecture?, stem: Stem, width: Double?, headDims: [Int], zeroInitResidual: Bool = false,
                   resuming runDirectory: String? = nil, weights: String? = nil) -> ResNetConfig {
    let recorded = runDirectory.flatMap(recordedModel(inRun:))
    // Unreadable weights are reported when they are loaded, with the reason.
    let file = weights.flatMap { try? WeightsFile(path: DataSelection.expand($0)) }
    return ResNetConfig(arch: arch ?? recorded?.arch ?? file?.architecture ?? .resnet18, stem: stem,
                        width: width ?? recorded?.width ?? file?.width ?? 1.0, headDims: headDims,
                        zeroInitResidual: zeroInitResidual || (recorded?.zeroInitResidual ?? false))
}

/// Refuses a weights path that is missing or a directory (naming the weights inside it, if any) while parsing.
func checkWeightsFile(_ path: String, flag: String) throws {
    do { try WeightsFile.checkIsFile(DataSelection.expand(path)) } catch { throw ValidationError("\(flag) \(error)") }
}

/// `settings.model` of a run directory's config.json, when it has one.
func recordedModel(inRun directory: String) -> ResNetConfig? {
    RunConfigFile.read(in: URL(fileURLWithPath: DataSelection.expand(directory)))?.settings.model
}
