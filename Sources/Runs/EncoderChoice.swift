import Datasets
import Foundation
import NeuralNet

extension ResNetConfig {
    /// `model.width`, the channel multiplier: width 8 already holds 64 times ResNet-18's 11M parameters; below
    /// 1/64 the first stage's 64 channels would round to none (the network would keep one channel per stage and
    /// call it a ResNet).
    public static func checkWidth(_ width: Double) throws {
        guard width >= 1.0 / 64, width <= 8 else {
            throw SettingsError("`model.width` \(width) must lie in [0.015625, 8] (1/64 keeps one channel in the first stage)")
        }
    }

    /// The projection head's layer sizes written as "512,256"; "none" is no head. Errors name `model.headDims`.
    public static func headDims(parsing text: String) throws -> [Int] {
        // An empty value (a shell variable that was not set) is a mistake; "none" asks for no head on purpose.
        if text == "none" { return [] }
        guard !text.trimmingCharacters(in: .whitespaces).isEmpty else {
            throw SettingsError("`model.headDims` is empty: give sizes like 512,256, or 'none' for no projection head")
        }
        let dims = text.split(separator: ",").map { Int($0.trimmingCharacters(in: .whitespaces)) }
        guard dims.allSatisfy({ ($0 ?? 0) > 0 }) else { throw SettingsError("`model.headDims` '\(text)': expected comma-separated positive sizes like 512,256") }
        // SimCLR's heads are 128 to 8192 wide; 65536 already makes a 2048-d backbone's first head layer 134M parameters.
        guard dims.allSatisfy({ $0! <= 65536 }) else { throw SettingsError("`model.headDims` \(text): each size must lie in [1, 65536]") }
        return dims.map { $0! }
    }

    /// The encoder a command builds. The architecture is `arch` when given, else the one a resumed run recorded in
    /// its config.json, else the one the weights file's keys show, else ResNet-18; the width likewise (`width`,
    /// the recorded one, the one the file's channel counts show, else 1). A resumed run also keeps its recorded
    /// zero-init choice (it only shapes the initial weights, which the checkpoint replaces).
    public static func choosing(arch: Architecture?, stem: Stem, width: Double?, headDims: [Int],
                                zeroInitResidual: Bool = false, resuming runDirectory: String? = nil,
                                weights: String? = nil) -> ResNetConfig {
        let run = runDirectory.flatMap(recorded(inRun:))
        // Unreadable weights are reported when they are loaded, with the reason.
        let file = weights.flatMap { try? WeightsFile(path: DataSelection.expand($0)) }
        return ResNetConfig(arch: arch ?? run?.arch ?? file?.architecture ?? .resnet18, stem: stem,
                            width: width ?? run?.width ?? file?.width ?? 1.0, headDims: headDims,
                            zeroInitResidual: zeroInitResidual || (run?.zeroInitResidual ?? false))
    }

    /// `settings.model` of a run directory's config.json, when it has one.
    public static func recorded(inRun directory: String) -> ResNetConfig? {
        RunConfigFile.read(in: URL(fileURLWithPath: DataSelection.expand(directory)))?.settings.model
    }
}
