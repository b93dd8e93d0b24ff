/// How the gradient reducer turns each rank's bucket into the sum over ranks: plainly (`PlainSum`), or
/// compressed on the wire (`BF16Sum`, `PowerSGD`; docs/gradient-compression.md). The reducer calls
/// `beginStep` on the compute thread before a step, then `reduce` once per bucket in bucket order (on the
/// communication thread when overlapping), then `endStep`.
protocol GradientCodec: AnyObject {
    /// Step `step` (0-based count of steps this reducer finished before) begins.
    func beginStep(_ step: Int)
    /// Replaces elements `span` of `gradients` (this rank's) with their sum over ranks.
    func reduce(bucket: Int, span: Range<Int>, gradients: UnsafeMutablePointer<Float>, transport: GradientTransport) throws
}

/// The exact sum: one float32 all-reduce per bucket.
final class PlainSum: GradientCodec {
    func beginStep(_ step: Int) {}

    func reduce(bucket: Int, span: Range<Int>, gradients: UnsafeMutablePointer<Float>, transport: GradientTransport) throws {
        try transport.allReduceSum(gradients + span.lowerBound, count: span.count)
    }
}
