import ArgumentParser
import Datasets

/// The augmentation flags shared by every command that makes views, and their mapping to an
/// `AugmentationConfig`. Defaults are the reference pipeline (docs/reference-semantics.md, note 'Augmentations').
///
/// `--augment full` starts from the reference pipeline (`AugmentationConfig.simclr`), `--augment none` from the
/// plain preprocessing. A parameter flag for a step that is off (`--blur-kernel 5 --no-blur`, or any
/// parameter with `--augment none`) is an error rather than silently ignored.
public struct AugmentationOptions: ParsableArguments {
    public init() {}

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

    /// The pipeline for views of `outputSize` pixels; bad values are `ValidationError`s naming the flag.
    /// `full` starts from `base` (default: the reference pipeline; pretraining's `--recipe` gives its own).
    public func config(outputSize: Int, base: AugmentationConfig? = nil) throws -> AugmentationConfig {
        do { return try pipeline(outputSize: outputSize, base: base) } catch { throw validationError(error) }
    }

    public func validate() throws {
        _ = try config(outputSize: 32)   // the values themselves; commands check sizes against the data
    }

    /// The `--augment` values.
    static let presets = ["full", "none"]

    /// The pipeline these flags describe, for views of `outputSize` pixels. Errors are
    /// `DatasetError.invalidConfiguration` naming the flag and the allowed values.
    func pipeline(outputSize: Int, base: AugmentationConfig? = nil) throws -> AugmentationConfig {
        func fail(_ why: String) -> DatasetError { .invalidConfiguration(why) }
        guard outputSize > 0 else { throw fail("--image-size \(outputSize) must be positive") }

        var c: AugmentationConfig
        switch augment {
        case "full": c = base ?? .simclr(outputSize: outputSize)
        case "none":
            let given = parameterFlagsGiven
            guard given.isEmpty else {
                throw fail("\(given.joined(separator: ", ")) cannot be combined with --augment none "
                           + "(it applies no augmentation)")
            }
            return .none(outputSize: outputSize)
        default:
            throw fail("--augment '\(augment)': expected one of \(Self.presets.joined(separator: ", "))")
        }

        // Each step: switched off, or on with its parameters (defaults unless given).
        if noCrop {
            try refuse(cropScale != nil ? "--crop-scale" : nil, with: "--no-crop")
            c.crop = false
        } else if let text = cropScale {
            let r = try AugmentationConfig.parseRange(text, name: "--crop-scale")
            guard r.lowerBound > 0, r.upperBound <= 1 else {
                throw fail("--crop-scale \(text): both ends must lie in (0, 1]")
            }
            c.cropScale = r
        }

        c.flip = !noFlip

        if noColorJitter {
            try refuse(jitterStrength != nil ? "--jitter-strength" : jitterProb != nil ? "--jitter-prob" : nil,
                       with: "--no-color-jitter")
            c.colorJitter = false
        } else {
            if let text = jitterStrength {
                let v = try JitterStrength.parse(text, name: "--jitter-strength")
                guard [v.brightness, v.contrast, v.saturation, v.hue].allSatisfy({ $0 >= 0 }) else {
                    throw fail("--jitter-strength \(text): strengths must be non-negative")
                }
                guard v.hue <= 0.5 else { throw fail("--jitter-strength \(text): hue must lie in [0, 0.5]") }
                c.jitterStrength = v
            }
            if let p = jitterProb { c.jitterProbability = try probability(p, flag: "--jitter-prob") }
        }

        if noGrayscale {
            try refuse(grayscaleProb != nil ? "--grayscale-prob" : nil, with: "--no-grayscale")
            c.grayscale = false
        } else if let p = grayscaleProb {
            c.grayscaleProbability = try probability(p, flag: "--grayscale-prob")
        }

        if noBlur {
            try refuse(blurKernel != nil ? "--blur-kernel" : blurSigma != nil ? "--blur-sigma" : nil, with: "--no-blur")
            c.blur = false
        } else {
            // A blur parameter switches blur on where the base pipeline has none (`--recipe quick`).
            if let k = blurKernel {
                guard k > 0, k % 2 == 1 else { throw fail("--blur-kernel \(k) must be odd and positive (e.g. 9)") }
                // A kernel wider than the view blurs nothing more (SimCLR's is a tenth of the view).
                guard k <= outputSize else { throw fail("--blur-kernel \(k) must lie in [1, \(outputSize)] (the view size, --image-size)") }
                c.blurKernelSize = k
                c.blur = true
            }
            if let text = blurSigma {
                let r = try AugmentationConfig.parseRange(text, name: "--blur-sigma")
                guard r.lowerBound > 0 else { throw fail("--blur-sigma \(text): sigma must be positive") }
                c.blurSigma = r
                c.blur = true
            }
        }
        return c
    }

    /// Names of the parameter flags that were given.
    var parameterFlagsGiven: [String] {
        [("--crop-scale", cropScale != nil), ("--jitter-strength", jitterStrength != nil),
         ("--jitter-prob", jitterProb != nil), ("--grayscale-prob", grayscaleProb != nil),
         ("--blur-kernel", blurKernel != nil), ("--blur-sigma", blurSigma != nil)]
            .filter(\.1).map(\.0)
    }

    private func refuse(_ flag: String?, with off: String) throws {
        if let flag { throw DatasetError.invalidConfiguration("\(flag) cannot be combined with \(off)") }
    }

    private func probability(_ p: Double, flag: String) throws -> Double {
        guard p.isFinite, (0...1).contains(p) else {
            throw DatasetError.invalidConfiguration("\(flag) \(p) must be a probability in [0, 1]")
        }
        return p
    }
}
