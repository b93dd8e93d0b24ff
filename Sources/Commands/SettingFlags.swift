import ArgumentParser
import Datasets
import Runs

/// The tool's names for the library's settings. Library errors name a setting as its settings type spells it,
/// in backquotes (`batchSize`, `moco.queueSize`); the tool says the flag that sets it (--batch-size,
/// --queue-size).
enum SettingFlags {
    /// Settings whose flag is not their name in kebab case.
    static let flags = [
        "initialWeights": "--init", "model.headDims": "--proj-dims", "moco.momentum": "--moco-momentum",
        "moco.queueSize": "--queue-size", "backboneLRScale": "--backbone-lr-scale", "multiCrop": "--small-crops",
        "model.width": "--width", "model.stem": "--stem", "model.arch": "--arch", "lr": "--lr",
        "model.zeroInitResidual": "--zero-init-residual", "multiCrop.count": "--small-crops", "multiCrop.size": "--small-crop-size",
        "multiCrop.scale": "--small-crop-scale", "augmentation.outputSize": "--image-size", "augmentation.blurKernelSize": "--blur-kernel",
        "augmentation.blurSigma": "--blur-sigma", "augmentation.cropScale": "--crop-scale", "augmentation.jitterStrength": "--jitter-strength",
        "augmentation.jitterProbability": "--jitter-prob", "augmentation.grayscaleProbability": "--grayscale-prob",
        "profilePath": "--profile-out", "emulatePath": "--emulate", "emulateCPUSharing": "--emulate-cpu-sharing",
        "bucketMB": "--bucket-mb", "bucketBytes": "--bucket-mb", "powerSGDRank": "--powersgd-rank", "communicationCPUs": "--comm-cpu",
    ]

    /// The flag of a setting: the table's, else the name in kebab case (`batchSize` -> --batch-size).
    static func flag(_ setting: String) -> String {
        if let flag = flags[setting] { return flag }
        guard setting.allSatisfy({ $0.isLetter || $0.isNumber }), setting.first?.isLowercase == true else {
            return "`\(setting)`"  // not a setting's name: left as written
        }
        return "--" + setting.reduce(into: "") { kebab, c in
            if c.isUppercase { kebab += "-" + c.lowercased() } else { kebab.append(c) }
        }
    }

    /// An error's message with the settings it names spelled as flags.
    static func message(_ error: Error) -> String { SettingsError.renaming("\(error)", flag) }

    /// Runs a library check (or parse) of settings while the flags are parsed and returns its result: its error
    /// becomes the parser's usage error, naming the flags (`flags`: this command's own names for some settings,
    /// e.g. linear-eval's --lr).
    static func validate<T>(flags: [String: String] = [:], _ check: () throws -> T) throws -> T {
        do {
            return try check()
        } catch let error as ValidationError {
            throw error
        } catch DatasetError.invalidConfiguration(let why) {
            throw ValidationError(SettingsError.renaming(why) { flags[$0] ?? flag($0) })
        } catch {
            throw ValidationError(SettingsError.renaming("\(error)") { flags[$0] ?? flag($0) })
        }
    }

    /// `error` itself, or (when its message names a setting) a `CommandError` saying it with flags.
    static func renamed(_ error: Error) -> Error {
        let text = "\(error)"
        return text.contains("`") ? CommandError(SettingsError.renaming(text, flag)) : error
    }
}
