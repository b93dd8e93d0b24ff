import ArgumentParser
import Datasets
import Foundation
import NeuralNet
import Runs

/// `--arch`, `--stem`, `--width` of a command whose encoder may come from a weights file or a resumed run, which
/// then say the architecture and width the flags leave open (`ResNetConfig.choosing`).
struct EncoderShapeOptions: ParsableArguments {
    @Option(help: "resnet18, resnet34 or resnet50 (Bottleneck blocks: 2048-d features at width 1). Default: a resumed run's own, else the one the weights file's keys show, else resnet18.")
    var arch: Architecture?
    @Option(help: "cifar (3x3 conv, no max pool) or imagenet (7x7/2 conv + max pool).")
    var stem: Stem = .cifar
    @Option(help: "Channel width multiplier: 1.0 = the torchvision network (512-d features, ResNet-50 2048-d); 0.25 for quick runs on small machines. Default: a resumed run's own, else the width the weights file's channel counts show, else 1.0.")
    var width: Double?

    func validate() throws {
        if let width { try SettingFlags.validate { try ResNetConfig.checkWidth(width) } }
    }

    func config(headDims: [Int], zeroInitResidual: Bool = false, resuming runDirectory: String? = nil, weights: String? = nil) -> ResNetConfig {
        ResNetConfig.choosing(arch: arch, stem: stem, width: width, headDims: headDims, zeroInitResidual: zeroInitResidual,
                              resuming: runDirectory, weights: weights)
    }
}

/// Refuses a weights path that is missing or a directory (naming the weights inside it, if any) while parsing.
func checkWeightsFile(_ path: String, flag: String) throws {
    do { try WeightsFile.checkIsFile(DataSelection.expand(path)) } catch { throw ValidationError("\(flag) \(error)") }
}
