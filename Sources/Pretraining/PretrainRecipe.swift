import Datasets
import Optimizers

/// A named starting point for a pretraining run's settings; flags given on the command line change it.
///
/// `reference` is the reference method's settings (`PretrainSettings()`: SGD, lr 0.3 scaled by batch/256,
/// T 0.07, the full augmentation pipeline), made for hundreds of epochs over large batches. In a run of a few
/// epochs on a few thousand images they barely move the features (README's 5-epoch example: kNN 12.0% at
/// the first epoch and 11.9% at the end on the synthetic shapes). `quick` is the setting the quickstart uses,
/// measured to learn within five epochs there (kNN 12.9% after one epoch, 17.9% after five): AdamW at 1e-3
/// without batch scaling, T 0.2, crops of 20-100% of the area, weaker color jitter and no blur (the small
/// images lose their shapes under strong distortions), half an epoch of warm-up.
public enum PretrainRecipe: String, CaseIterable, Codable, Sendable {
    case reference
    case quick

    /// The settings this recipe starts from, for views of `imageSize` pixels.
    public func settings(imageSize: Int) -> PretrainSettings {
        var settings = PretrainSettings()
        settings.augmentation = .simclr(outputSize: imageSize)
        switch self {
        case .reference:
            break
        case .quick:
            settings.optimizer = .adamw
            settings.lr = 1e-3
            settings.lrScaling = .none
            settings.temperature = 0.2
            settings.warmupEpochs = 0.5
            settings.augmentation.cropScale = 0.2...1.0
            settings.augmentation.jitterStrength = JitterStrength(brightness: 0.4, contrast: 0.4, saturation: 0.4, hue: 0.1)
            settings.augmentation.blur = false
        }
        return settings
    }

    /// What the recipe sets, for the log and `--help`.
    public var summary: String {
        switch self {
        case .reference:
            return "reference (the method's published settings, made for hundreds of epochs: sgd, lr 0.3 x batch/256, "
                + "T 0.07, full augmentation)"
        case .quick:
            return "quick (learns within a few epochs on small data such as the synthetic shapes: adamw, lr 0.001 "
                + "without batch scaling, T 0.2, crop scale 0.2-1, jitter 0.4,0.4,0.4,0.1, no blur, 0.5 warm-up epochs)"
        }
    }
}
