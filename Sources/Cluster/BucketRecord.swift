/// What happened to one gradient bucket in the last step, in seconds since the step began: when its
/// gradients were all final, when its reduction started and ended, and the payload bytes it gave to
/// collectives. `GradientBucketReducer.lastStepBuckets` holds one per bucket, in bucket order, for step
/// traces and scaling models.
public struct BucketRecord: Sendable, Equatable {
    public let index: Int
    /// Elements of the flat gradient buffer in the bucket.
    public let elements: Int
    /// When backward reported the bucket's last gradient (or `finishStep` found it late).
    public var readySeconds = 0.0
    public var startSeconds = 0.0
    public var endSeconds = 0.0
    public var payloadBytes = 0

    public init(index: Int, elements: Int) { self.index = index; self.elements = elements }

    /// The part the thread that reduced the bucket measured.
    struct Transfer { var startSeconds: Double, endSeconds: Double, payloadBytes: Int }

    mutating func record(_ t: Transfer) { (startSeconds, endSeconds, payloadBytes) = (t.startSeconds, t.endSeconds, t.payloadBytes) }

    mutating func reset() { (readySeconds, startSeconds, endSeconds, payloadBytes) = (0, 0, 0, 0) }
}
