/// The labels the training step records (so traces read alike, and the step profile can find its events in
/// them). Spans: `step`, `data`, `forward`, `gather`, `loss`, `gather backward`, `backward`,
/// `wait for gradients`, `optimizer`, `step totals`; per layer the kinds of work (`conv`, `bn`, `other`);
/// `syncbn <layer>` (argument: channels) around a BatchNorm layer's statistics reduction; instants
/// `ready <parameter>` (argument: the parameter's index) when a gradient is final. On the communication row:
/// `bucket <k>` (argument: bytes) and the collectives inside it.
public enum StepSpans {
    public static let step = "step"
    public static let data = "data"
    public static let forward = "forward"
    public static let gather = "gather"
    public static let loss = "loss"
    public static let gatherBackward = "gather backward"
    public static let backward = "backward"
    public static let waitForGradients = "wait for gradients"
    public static let optimizer = "optimizer"
    public static let totals = "step totals"
    public static let syncBatchNormPrefix = "syncbn "
    public static let readyPrefix = "ready "
    public static let bucketPrefix = "bucket "
}
