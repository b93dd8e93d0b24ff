import ArgumentParser
import Datasets

/// Multi-crop's flags (docs/multi-crop.md), shared by `pretrain` and `bench`.
struct MultiCropOptions: ParsableArguments {
    @Option(help: "Small crops per image besides the two global views (multi-crop; 0 = SimCLR's two views only).")
    var smallCrops = 0
    @Option(help: "Side of the small crops in pixels.") var smallCropSize = 16
    @Option(help: ArgumentHelp("RandomResizedCrop area fraction range of the small crops.", valueName: "lo,hi"))
    var smallCropScale = "0.05,0.14"

    func validate() throws {
        // Multi-crop papers use 2 to 10 small crops; 32 is already 16 times the global views' work.
        guard (0...32).contains(smallCrops) else { throw ValidationError("--small-crops \(smallCrops) must lie in [0, 32]") }
        guard smallCropSize >= 4 else { throw ValidationError("--small-crop-size must be at least 4") }
        let scale = try AugmentationConfig.parseRange(smallCropScale, name: "--small-crop-scale")
        guard scale.lowerBound > 0, scale.upperBound <= 1 else { throw ValidationError("--small-crop-scale \(smallCropScale): both ends must lie in (0, 1]") }
    }

    /// nil without small crops, so the settings are exactly those of a run without multi-crop.
    var config: MultiCropConfig? {
        guard smallCrops > 0 else { return nil }
        return MultiCropConfig(count: smallCrops, size: smallCropSize, scale: try! AugmentationConfig.parseRange(smallCropScale))
    }
}
