import Foundation

/// ColorJitter strengths: brightness, contrast and saturation factors are drawn from
/// `[max(0, 1 - x), 1 + x]`, the hue shift from `[-hue, hue]` (hue <= 0.5). A strength of 0 skips the op.
public struct JitterStrength: Equatable, Hashable, Codable, Sendable {
    public var brightness: Double
    public var contrast: Double
    public var saturation: Double
    public var hue: Double

    public init(brightness: Double, contrast: Double, saturation: Double, hue: Double) {
        self.brightness = brightness
        self.contrast = contrast
        self.saturation = saturation
        self.hue = hue
    }

    /// The reference's ColorJitter(0.8, 0.8, 0.8, 0.2).
    public static let simclr = JitterStrength(brightness: 0.8, contrast: 0.8, saturation: 0.8, hue: 0.2)

    /// Parses "b,c,s,h", e.g. "0.8,0.8,0.8,0.2" (the CLI's `--jitter-strength`); errors call the list `name`.
    public static func parse(_ text: String, name: String = "jitter strength") throws -> JitterStrength {
        let v = try parseNumbers(text, count: 4, name: name, form: "b,c,s,h")
        return JitterStrength(brightness: v[0], contrast: v[1], saturation: v[2], hue: v[3])
    }
}

/// Every switch and parameter of the augmentation pipeline. Applied to each view, in this order:
/// (padded random crop | RandomResizedCrop) -> RandomHorizontalFlip -> RandomApply(ColorJitter)
/// -> RandomGrayscale -> GaussianBlur, on the float image `byte / 255` (CHW), output `outputSize` square.
///
/// With no crop at all the image is only converted (`byte / 255`), so its size must equal `outputSize`
/// (`validate` says so before training): `--augment none` is the plain preprocessing, never a resize.
public struct AugmentationConfig: Equatable, Hashable, Codable, Sendable {
    public var outputSize: Int

    /// RandomResizedCrop(outputSize, scale: cropScale, ratio: cropRatio), bilinear.
    public var crop: Bool = true
    public var cropScale: ClosedRange<Double> = 0.08...1.0
    public var cropRatio: ClosedRange<Double> = (3.0 / 4.0)...(4.0 / 3.0)
    /// RandomCrop(outputSize, padding: n) with zero fill instead (supervised baseline); needs `crop == false`.
    public var randomCropPadding: Int? = nil

    /// RandomHorizontalFlip(p).
    public var flip: Bool = true
    public var flipProbability: Double = 0.5

    /// RandomApply([ColorJitter(strength)], p: jitterProbability); the reference applies it always.
    public var colorJitter: Bool = true
    public var jitterStrength: JitterStrength = .simclr
    public var jitterProbability: Double = 1.0

    /// RandomGrayscale(p).
    public var grayscale: Bool = true
    public var grayscaleProbability: Double = 0.2

    /// GaussianBlur(kernel, sigma uniform in blurSigma), applied with blurProbability (the reference: always).
    public var blur: Bool = true
    public var blurKernelSize: Int = 9
    public var blurSigma: ClosedRange<Double> = 0.1...2.0
    public var blurProbability: Double = 1.0

    /// The reference SimCLR pipeline (docs/reference-semantics.md, note 'Augmentations') (`--augment full`).
    public init(outputSize: Int) {
        self.outputSize = outputSize
    }

    public enum Preset: String, CaseIterable, Sendable {
        case full, none, supervised
    }

    public init(preset: Preset, outputSize: Int) {
        switch preset {
        case .full: self = .simclr(outputSize: outputSize)
        case .none: self = .none(outputSize: outputSize)
        case .supervised: self = .supervised(outputSize: outputSize)
        }
    }

    /// RandomResizedCrop, flip, ColorJitter(0.8, 0.8, 0.8, 0.2) always, grayscale 0.2, blur 9 / 0.1...2.0.
    public static func simclr(outputSize: Int) -> AugmentationConfig {
        AugmentationConfig(outputSize: outputSize)
    }

    /// Plain preprocessing (`byte / 255`), for evaluation and `--augment none`.
    public static func none(outputSize: Int) -> AugmentationConfig {
        var c = AugmentationConfig(outputSize: outputSize)
        c.crop = false
        c.flip = false
        c.colorJitter = false
        c.grayscale = false
        c.blur = false
        return c
    }

    /// The supervised baseline: RandomCrop(outputSize, padding) + RandomHorizontalFlip(0.5).
    public static func supervised(outputSize: Int, padding: Int = 4) -> AugmentationConfig {
        var c = AugmentationConfig.none(outputSize: outputSize)
        c.randomCropPadding = padding
        c.flip = true
        return c
    }

    /// True when nothing random is applied.
    public var isPlain: Bool {
        !crop && randomCropPadding == nil && !flip && !colorJitter && !grayscale && !blur
    }

    /// Checks every parameter, and that images of this size can produce `outputSize` views.
    public func validate(imageHeight: Int, imageWidth: Int) throws {
        func fail(_ why: String) -> DatasetError { .invalidConfiguration(why) }
        func probability(_ p: Double, _ name: String) throws {
            guard (0...1).contains(p) else { throw fail("\(name) \(p) outside [0, 1]") }
        }
        guard outputSize > 0 else { throw fail("output size \(outputSize)") }
        if crop {
            guard cropScale.lowerBound > 0, cropScale.upperBound <= 1 else {
                throw fail("crop scale \(cropScale) must lie in (0, 1]")
            }
            guard cropRatio.lowerBound > 0 else { throw fail("crop ratio \(cropRatio) must be positive") }
            guard randomCropPadding == nil else { throw fail("random resized crop and padded random crop are exclusive") }
        } else if let padding = randomCropPadding {
            guard padding >= 0 else { throw fail("crop padding \(padding)") }
            guard imageHeight + 2 * padding >= outputSize, imageWidth + 2 * padding >= outputSize else {
                throw fail("padded \(imageHeight)x\(imageWidth) images are smaller than the \(outputSize) crop")
            }
        } else {
            guard imageHeight == outputSize, imageWidth == outputSize else {
                throw fail("without a crop the \(imageHeight)x\(imageWidth) images must already be "
                           + "\(outputSize)x\(outputSize) (plain preprocessing does not resize)")
            }
        }
        if flip { try probability(flipProbability, "flip probability") }
        if colorJitter {
            let s = jitterStrength
            guard s.brightness >= 0, s.contrast >= 0, s.saturation >= 0 else {
                throw fail("jitter strengths must be non-negative")
            }
            guard (0...0.5).contains(s.hue) else { throw fail("hue strength \(s.hue) outside [0, 0.5]") }
            try probability(jitterProbability, "jitter probability")
        }
        if grayscale { try probability(grayscaleProbability, "grayscale probability") }
        if blur {
            guard blurKernelSize > 0, blurKernelSize % 2 == 1 else {
                throw fail("blur kernel size \(blurKernelSize) must be odd and positive")
            }
            guard blurSigma.lowerBound > 0 else { throw fail("blur sigma \(blurSigma) must be positive") }
            try probability(blurProbability, "blur probability")
        }
    }

    /// Parses "lo,hi" (the CLI's `--crop-scale 0.08,1.0`, `--blur-sigma 0.1,2.0`); errors call the range `name`.
    public static func parseRange(_ text: String, name: String = "range") throws -> ClosedRange<Double> {
        let v = try parseNumbers(text, count: 2, name: name, form: "lo,hi")
        guard v[0] <= v[1] else { throw DatasetError.invalidConfiguration("\(name) \(text): lo must not exceed hi") }
        return v[0]...v[1]
    }
}

/// "a,b,c" -> [a, b, c]: `count` comma-separated finite numbers (spaces allowed), nil for anything else. The
/// one number-list parser of the program; each caller says in its own words what the list is.
public func parseNumberList(_ text: String, count: Int) -> [Double]? {
    let parts = text.split(separator: ",", omittingEmptySubsequences: false)
        .map { Double($0.trimmingCharacters(in: .whitespaces)) }
    guard parts.count == count, parts.allSatisfy({ $0?.isFinite ?? false }) else { return nil }
    return parts.map { $0! }
}

/// `parseNumberList`, or an error naming the list and its `form` ("lo,hi").
func parseNumbers(_ text: String, count: Int, name: String, form: String) throws -> [Double] {
    guard let values = parseNumberList(text, count: count) else {
        throw DatasetError.invalidConfiguration("\(name) '\(text)': expected \(count) comma-separated numbers \(form)")
    }
    return values
}
