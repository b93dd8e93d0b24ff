/// The labels the training step records (so traces read alike, and the step profile can find its events in
/// them). On the compute row: `step`, `data`, `forward`, `gather`, `loss`, `gather backward`, `backward`,
/// `wait for gradients`, `optimizer`, `step totals`; inside `forward` and `backward` one span per layer group
/// (`stem`, the blocks by their state_dict prefix `layer1.0` ..., `pool`, `head`), and inside those the
/// collectives the layers run (SyncBN's statistics all-reduces). On the communication row: `bucket <k>`
/// (argument: payload bytes) per gradient bucket, its non-blocking chunks on the rows `communication in
/// flight n`. Labels the scaling model also reads but the step does not record yet: `syncbn <layer>`
/// (argument: channels) and instants `ready <parameter>` (argument: the parameter's index).
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
