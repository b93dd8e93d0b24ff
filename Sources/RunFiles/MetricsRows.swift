/// A pretraining step: the contrastive loss and accuracies of the step, its learning rate and speed, and the
/// kNN monitor's top-1 at the steps it ran.
public struct PretrainMetricsRow: MetricsRow, Equatable {
    public var step = 0
    public var epoch = 0
    public var loss = Double.nan
    /// Top-1 / top-5: the positive ranked first / among the first five of the 2B - 1 candidates.
    public var top1 = Double.nan
    public var top5 = Double.nan
    /// Mean rank of the positive (1 = first).
    public var meanRank = Double.nan
    public var learningRate = Double.nan
    public var imagesPerSecond = Double.nan
    public var dataWaitSeconds = Double.nan
    public var knnTop1: Double?

    public init() {}

    public static let stepColumn = "step"
    public static let layout: [MetricsColumn<PretrainMetricsRow>] = [
        .integer("step", \.step), .integer("epoch", \.epoch), .fixed("loss", 6, \.loss),
        .fixed("acc_top1", 5, \.top1), .fixed("acc_top5", 5, \.top5), .fixed("mean_pos", 3, \.meanRank),
        .significant("lr", \.learningRate), .fixed("img_per_s", 2, \.imagesPerSecond),
        .fixed("data_wait_s", 4, \.dataWaitSeconds), .fixed("knn_top1", 5, \.knnTop1),
    ]
}

/// An epoch of supervised training or fine-tuning: training means over the epoch's batches, the test split's
/// figures after it.
public struct ClassifierMetricsRow: MetricsRow, Equatable {
    public var epoch = 0
    public var step = 0
    public var trainLoss = Double.nan
    public var trainTop1 = Double.nan
    public var testLoss = Double.nan
    public var testTop1 = Double.nan
    public var testTop5 = Double.nan
    public var learningRate = Double.nan
    public var imagesPerSecond = Double.nan

    public init() {}

    public static let stepColumn = "step"
    public static let layout: [MetricsColumn<ClassifierMetricsRow>] = [
        .integer("epoch", \.epoch), .integer("step", \.step), .fixed("train_loss", 6, \.trainLoss),
        .fixed("train_top1", 6, \.trainTop1), .fixed("test_loss", 6, \.testLoss), .fixed("test_top1", 6, \.testTop1),
        .fixed("test_top5", 6, \.testTop5), .significant("lr", \.learningRate), .fixed("img_per_s", 2, \.imagesPerSecond),
    ]
}

/// An epoch of a linear probe on frozen features.
public struct ProbeMetricsRow: MetricsRow, Equatable {
    public var epoch = 0
    public var trainLoss = Double.nan
    public var trainTop1 = Double.nan
    public var testTop1 = Double.nan
    public var testTop5 = Double.nan
    public var testLoss = Double.nan
    public var learningRate = Double.nan

    public init() {}

    public static let stepColumn = "epoch"
    public static let layout: [MetricsColumn<ProbeMetricsRow>] = [
        .integer("epoch", \.epoch), .fixed("train_loss", 6, \.trainLoss), .fixed("train_top1", 6, \.trainTop1),
        .fixed("test_top1", 6, \.testTop1), .fixed("test_top5", 6, \.testTop5), .fixed("test_loss", 6, \.testLoss),
        .significant("lr", \.learningRate),
    ]
}
