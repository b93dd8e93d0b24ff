import ArgumentParser
import Datasets

/// Multi-crop's flags (docs/multi-crop.md), shared by `pretrain` and `bench`.
struct MultiCropOptions: ParsableArguments {
    @Option(help: "Small crops per image besides the two global views (multi-crop; 0 = SimCLR's two views only).")
    var smallCrops = 0
    @Option(help: "Side of the small crops in pixels.") var smallCropSize = MultiCropConfig(count: 0).size
    @Option(help: ArgumentHelp("RandomResizedCrop area fraction range of the small crops.", valueName: "lo,hi"))
    var smallCropScale = "\(MultiCropConfig(count: 0).scale.lowerBound),\(MultiCropConfig(count: 0).scale.upperBound)"

    func validate() throws {
        let scale = try AugmentationConfig.parseRange(smallCropScale, name: "--small-crop-scale")
        try SettingFlags.validate(MultiCropConfig(count: smallCrops, size: smallCropSize, scale: scale).validate)
    }

    /// nil without small crops, so the settings are exactly those of a run without multi-crop.
    var config: MultiCropConfig? {
        guard smallCrops > 0 else { return nil }
        return MultiCropConfig(count: smallCrops, size: smallCropSize, scale: try! AugmentationConfig.parseRange(smallCropScale))
    }
}
