import ArgumentParser
import Datasets

/// The augmentation flags shared by every command that makes views. Defaults are the reference pipeline
/// (docs/reference-semantics.md, note 'Augmentations'); the mapping and its checks are `AugmentationFlags` in Datasets.
struct AugmentationOptions: ParsableArguments {
    @Option(help: ArgumentHelp("full: the SimCLR pipeline below; none: plain preprocessing (value/255) for every view.",
                               valueName: "full|none"))
    var augment = "full"

    @Option(help: ArgumentHelp("RandomResizedCrop area fraction range (default: 0.08,1.0).", valueName: "lo,hi"))
    var cropScale: String?

    @Flag(help: "No RandomResizedCrop (the images must already have the output size).")
    var noCrop = false

    @Flag(help: "No random horizontal flip.")
    var noFlip = false

    @Flag(help: "No ColorJitter.")
    var noColorJitter = false

    @Option(help: ArgumentHelp("ColorJitter brightness, contrast, saturation, hue (default: 0.8,0.8,0.8,0.2).",
                               valueName: "b,c,s,h"))
    var jitterStrength: String?

    @Option(help: ArgumentHelp("Probability of applying ColorJitter to a view (default: 1.0).", valueName: "p"))
    var jitterProb: Double?

    @Flag(help: "No RandomGrayscale.")
    var noGrayscale = false

    @Option(help: ArgumentHelp("RandomGrayscale probability (default: 0.2).", valueName: "p"))
    var grayscaleProb: Double?

    @Flag(help: "No Gaussian blur.")
    var noBlur = false

    @Option(help: ArgumentHelp("Gaussian blur kernel size, odd (default: 9).", valueName: "k"))
    var blurKernel: Int?

    @Option(help: ArgumentHelp("Gaussian blur sigma range, drawn uniformly (default: 0.1,2.0).", valueName: "lo,hi"))
    var blurSigma: String?

    var flags: AugmentationFlags {
        AugmentationFlags(augment: augment, cropScale: cropScale, noCrop: noCrop, noFlip: noFlip,
                          noColorJitter: noColorJitter, jitterStrength: jitterStrength, jitterProb: jitterProb,
                          noGrayscale: noGrayscale, grayscaleProb: grayscaleProb, noBlur: noBlur,
                          blurKernel: blurKernel, blurSigma: blurSigma)
    }

    /// The pipeline for views of `outputSize` pixels; bad values are `ValidationError`s naming the flag.
    func config(outputSize: Int) throws -> AugmentationConfig {
        do { return try flags.config(outputSize: outputSize) } catch { throw validationError(error) }
    }

    func validate() throws {
        _ = try config(outputSize: 32)   // the values themselves; commands check sizes against the data
    }
}
