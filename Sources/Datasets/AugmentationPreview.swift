/// `simclr augment-preview`'s picture: one row per image, the image resized to the view size followed by
/// `views` augmented views of it (view v drawn from the same stream training uses for view v in epoch 0),
/// each tile `scale` times enlarged, on a dark background with `gap` pixels between tiles.
public enum AugmentationPreview {
    public static let gap = 2

    public static func grid(_ images: LabeledImages, config: AugmentationConfig, views: Int, scale: Int, seed: UInt64) -> RGBImage {
        let size = config.outputSize, tile = config.outputSize * scale
        let augment = Augmentation(config)
        let columns = 1 + views
        var grid = RGBImage(width: columns * tile + (columns + 1) * gap, height: images.count * tile + (images.count + 1) * gap,
                            fill: (40, 40, 40))
        for i in 0..<images.count {
            let original = images.floatImage(at: i)
            let y = gap + i * (tile + gap)
            grid.paste(RGBImage(resize(original, height: size, width: size), scale: scale), x: gap, y: y)
            for v in 0..<views {
                var rng = BatchLoader.viewStream(seed: seed, epoch: 0, sample: i, view: v)
                grid.paste(RGBImage(augment(original, rng: &rng), scale: scale), x: gap + (v + 1) * (tile + gap), y: y)
            }
        }
        return grid
    }
}

extension AugmentationConfig {
    /// One line: the steps that are on and their parameters.
    public var summary: String {
        if isPlain { return "none (value/255)" }
        var parts: [String] = []
        if crop { parts.append("crop scale \(cropScale.lowerBound),\(cropScale.upperBound)") }
        if flip { parts.append("flip p=\(flipProbability)") }
        if colorJitter {
            let s = jitterStrength
            parts.append("jitter \(s.brightness),\(s.contrast),\(s.saturation),\(s.hue) p=\(jitterProbability)")
        }
        if grayscale { parts.append("grayscale p=\(grayscaleProbability)") }
        if blur { parts.append("blur k=\(blurKernelSize) sigma \(blurSigma.lowerBound),\(blurSigma.upperBound)") }
        return parts.joined(separator: ", ")
    }
}
