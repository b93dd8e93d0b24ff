import Foundation

/// The command line's augmentation flags as given (nil = not given), and their mapping to an
/// `AugmentationConfig`. The CLI's `AugmentationOptions` only declares the flags and calls `config`;
/// the logic lives here so tests can reach it.
///
/// `--augment full` starts from the reference pipeline (`AugmentationConfig.simclr`), `--augment none` from the
/// plain preprocessing. A parameter flag for a step that is off (`--blur-kernel 5 --no-blur`, or any
/// parameter with `--augment none`) is an error rather than silently ignored.
public struct AugmentationFlags: Equatable, Sendable {
    public var augment: String = "full"
    public var cropScale: String? = nil
    public var noCrop = false
    public var noFlip = false
    public var noColorJitter = false
    public var jitterStrength: String? = nil
    public var jitterProb: Double? = nil
    public var noGrayscale = false
    public var grayscaleProb: Double? = nil
    public var noBlur = false
    public var blurKernel: Int? = nil
    public var blurSigma: String? = nil

    public init(augment: String = "full", cropScale: String? = nil, noCrop: Bool = false, noFlip: Bool = false,
                noColorJitter: Bool = false, jitterStrength: String? = nil, jitterProb: Double? = nil,
                noGrayscale: Bool = false, grayscaleProb: Double? = nil, noBlur: Bool = false,
                blurKernel: Int? = nil, blurSigma: String? = nil) {
        self.augment = augment
        self.cropScale = cropScale
        self.noCrop = noCrop
        self.noFlip = noFlip
        self.noColorJitter = noColorJitter
        self.jitterStrength = jitterStrength
        self.jitterProb = jitterProb
        self.noGrayscale = noGrayscale
        self.grayscaleProb = grayscaleProb
        self.noBlur = noBlur
        self.blurKernel = blurKernel
        self.blurSigma = blurSigma
    }

    /// The `--augment` values.
    public static let presets = ["full", "none"]

    /// The pipeline these flags describe, for views of `outputSize` pixels. Errors are
    /// `DatasetError.invalidConfiguration` naming the flag and the allowed values.
    public func config(outputSize: Int) throws -> AugmentationConfig {
        func fail(_ why: String) -> DatasetError { .invalidConfiguration(why) }
        guard outputSize > 0 else { throw fail("--image-size \(outputSize) must be positive") }

        var c: AugmentationConfig
        switch augment {
        case "full": c = .simclr(outputSize: outputSize)
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
            let r = try parseRange(text, flag: "--crop-scale")
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
                let v = try parseNumbers(text, count: 4, flag: "--jitter-strength", form: "b,c,s,h")
                guard v.allSatisfy({ $0 >= 0 }) else {
                    throw fail("--jitter-strength \(text): strengths must be non-negative")
                }
                guard v[3] <= 0.5 else { throw fail("--jitter-strength \(text): hue must lie in [0, 0.5]") }
                c.jitterStrength = JitterStrength(brightness: v[0], contrast: v[1], saturation: v[2], hue: v[3])
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
            if let k = blurKernel {
                guard k > 0, k % 2 == 1 else { throw fail("--blur-kernel \(k) must be odd and positive (e.g. 9)") }
                c.blurKernelSize = k
            }
            if let text = blurSigma {
                let r = try parseRange(text, flag: "--blur-sigma")
                guard r.lowerBound > 0 else { throw fail("--blur-sigma \(text): sigma must be positive") }
                c.blurSigma = r
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

    private func parseRange(_ text: String, flag: String) throws -> ClosedRange<Double> {
        let v = try parseNumbers(text, count: 2, flag: flag, form: "lo,hi")
        guard v[0] <= v[1] else { throw DatasetError.invalidConfiguration("\(flag) \(text): lo must not exceed hi") }
        return v[0]...v[1]
    }

    private func parseNumbers(_ text: String, count: Int, flag: String, form: String) throws -> [Double] {
        let parts = text.split(separator: ",", omittingEmptySubsequences: false)
            .map { Double($0.trimmingCharacters(in: .whitespaces)) }
        guard parts.count == count, parts.allSatisfy({ $0?.isFinite ?? false }) else {
            throw DatasetError.invalidConfiguration(
                "\(flag) '\(text)': expected \(count) comma-separated numbers \(form)")
        }
        return parts.map { $0! }
    }
}
