import Kernels

/// One ColorJitter adjustment with its factor.
public enum ColorAdjustment: Equatable, Hashable, Sendable {
    case brightness(Double)
    case contrast(Double)
    case saturation(Double)
    case hue(Double)

    public func apply(_ image: FloatImage) -> FloatImage {
        switch self {
        case .brightness(let f): return adjustBrightness(image, f)
        case .contrast(let f): return adjustContrast(image, f)
        case .saturation(let f): return adjustSaturation(image, f)
        case .hue(let f): return adjustHue(image, f)
        }
    }
}

/// The random choices of one view, drawn by `Augmentation.sampleParameters` and applied by
/// `Augmentation.apply`; fixed parameters make every step testable on its own.
public struct AugmentationParameters: Equatable, Hashable, Sendable {
    /// Zero border added before cropping (padded random crop).
    public var padding: Int = 0
    /// Crop box in (padded) image coordinates, resized to the output size; nil = the whole image.
    public var crop: CropBox? = nil
    public var flip: Bool = false
    /// ColorJitter adjustments in the order they are applied (empty = no jitter).
    public var colorAdjustments: [ColorAdjustment] = []
    public var grayscale: Bool = false
    /// Gaussian blur sigma; nil = no blur.
    public var blurSigma: Double? = nil

    public init() {}
}

/// The augmentation pipeline of an `AugmentationConfig`.
///
/// Every op follows torchvision's functional semantics on float tensors (see the golden tests). The whole
/// pipeline runs on the float image `byte / 255`: the reference ran it on PIL images, which round to uint8
/// after every op and whose resize filter differs slightly; we do not reproduce that quantization.
public struct Augmentation: Sendable {
    public let config: AugmentationConfig

    public init(_ config: AugmentationConfig) {
        self.config = config
    }

    /// Draws one view's parameters. Order of draws: crop (RandomResizedCrop: up to 10 x (area, log-ratio),
    /// then top, left; padded crop: top, left), flip, jitter gate, jitter order (a permutation of the four),
    /// jitter factors (brightness, contrast, saturation, hue; zero strengths are skipped, as torchvision's
    /// `None`), grayscale, blur gate, blur sigma. Disabled steps draw nothing.
    public func sampleParameters(height: Int, width: Int, rng: inout RandomStream) -> AugmentationParameters {
        let c = config
        var p = AugmentationParameters()
        if c.crop {
            p.crop = randomResizedCropBox(height: height, width: width, scale: c.cropScale,
                                          ratio: c.cropRatio, rng: &rng)
        } else if let padding = c.randomCropPadding {
            p.padding = padding
            p.crop = randomCropBox(height: height + 2 * padding, width: width + 2 * padding,
                                   size: c.outputSize, rng: &rng)
        }
        if c.flip { p.flip = rng.bernoulli(c.flipProbability) }
        if c.colorJitter && rng.bernoulli(c.jitterProbability) {
            let order = rng.permutation(4)
            let s = c.jitterStrength
            func factor(_ x: Double) -> Double? { x > 0 ? rng.uniform(in: max(0, 1 - x)...(1 + x)) : nil }
            let b = factor(s.brightness), ct = factor(s.contrast), sat = factor(s.saturation)
            let h = s.hue > 0 ? rng.uniform(in: -s.hue...s.hue) : nil
            for op in order {
                switch op {
                case 0: if let b { p.colorAdjustments.append(.brightness(b)) }
                case 1: if let ct { p.colorAdjustments.append(.contrast(ct)) }
                case 2: if let sat { p.colorAdjustments.append(.saturation(sat)) }
                default: if let h { p.colorAdjustments.append(.hue(h)) }
                }
            }
        }
        if c.grayscale { p.grayscale = rng.bernoulli(c.grayscaleProbability) }
        if c.blur && rng.bernoulli(c.blurProbability) { p.blurSigma = rng.uniform(in: c.blurSigma) }
        return p
    }

    /// Applies fixed parameters to a float image; the result is `outputSize` square.
    public func apply(_ parameters: AugmentationParameters, to input: FloatImage) -> FloatImage {
        var image = pad(input, parameters.padding)
        let size = config.outputSize
        if let box = parameters.crop {
            image = resizedCrop(image, box, height: size, width: size)
        }
        precondition(image.height == size && image.width == size,
                     "a \(image.height)x\(image.width) view, expected \(size)x\(size) (validate the config)")
        if parameters.flip { image = horizontalFlip(image) }
        for adjustment in parameters.colorAdjustments { image = adjustment.apply(image) }
        if parameters.grayscale { image = rgbToGrayscale(image, outputChannels: 3) }
        if let sigma = parameters.blurSigma {
            image = gaussianBlur(image, kernelSize: config.blurKernelSize, sigma: sigma)
        }
        return image
    }

    /// Draws parameters from `rng` and applies them.
    public func callAsFunction(_ image: FloatImage, rng: inout RandomStream) -> FloatImage {
        apply(sampleParameters(height: image.height, width: image.width, rng: &rng), to: image)
    }

    /// One view of image `index` of `images`, written as CHW floats to `output`
    /// (3 * outputSize * outputSize values).
    public func augment(_ images: LabeledImages, index: Int, rng: inout RandomStream,
                        into output: UnsafeMutableBufferPointer<Float>) {
        let view = callAsFunction(images.floatImage(at: index), rng: &rng)
        precondition(output.count == view.data.count, "output of \(output.count) values for a \(view.data.count)-value view")
        _ = output.update(fromContentsOf: view.data)
    }
}
