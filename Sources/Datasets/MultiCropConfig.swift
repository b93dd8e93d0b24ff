/// Multi-crop (docs/multi-crop.md): besides the two global views, `count` small views of every image, each a
/// RandomResizedCrop to `size` pixels with an area fraction in `scale`, followed by the global views' flip,
/// color, grayscale and blur steps. Small view k of a sample is drawn from the random stream of view index
/// 2 + k, so it depends on (seed, epoch, sample, view) alone, as the global views do.
public struct MultiCropConfig: Equatable, Hashable, Codable, Sendable {
    public var count: Int
    public var size: Int
    public var scale: ClosedRange<Double>

    public init(count: Int, size: Int = 16, scale: ClosedRange<Double> = 0.05...0.14) {
        self.count = count; self.size = size; self.scale = scale
    }

    /// The limits; errors name `multiCrop.count`, `multiCrop.size` and `multiCrop.scale`. (A count of 0 is a run
    /// without small crops, which has no `MultiCropConfig`.)
    public func validate() throws {
        // Multi-crop papers use 2 to 10 small crops; 32 is already 16 times the global views' work.
        guard (0...32).contains(count) else { throw DatasetError.invalidConfiguration("`multiCrop.count` \(count) must lie in [0, 32]") }
        guard size >= 4 else { throw DatasetError.invalidConfiguration("`multiCrop.size` must be at least 4") }
        guard scale.lowerBound > 0, scale.upperBound <= 1 else {
            throw DatasetError.invalidConfiguration("`multiCrop.scale` \(scale.lowerBound),\(scale.upperBound): both ends must lie in (0, 1]")
        }
    }

    /// The view index of small view `k` (0-based): the global views hold 0 and 1.
    public static func viewIndex(ofSmallView k: Int) -> Int { 2 + k }

    /// The global pipeline with the small views' crop: always a RandomResizedCrop to `size` at `scale`.
    public func augmentation(from global: AugmentationConfig) -> AugmentationConfig {
        var c = global
        c.outputSize = size
        c.crop = true
        c.cropScale = scale
        c.randomCropPadding = nil
        return c
    }

    public func validate(global: AugmentationConfig, imageHeight: Int, imageWidth: Int) throws {
        guard count >= 1 else { throw DatasetError.invalidConfiguration("\(count) small crops (at least 1, or no multi-crop)") }
        guard size >= 4 else { throw DatasetError.invalidConfiguration("small crop size \(size) (at least 4 pixels)") }
        try augmentation(from: global).validate(imageHeight: imageHeight, imageWidth: imageWidth)
    }
}
