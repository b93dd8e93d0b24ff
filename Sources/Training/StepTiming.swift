import Cluster
import Dispatch

/// Where a step's time went, for logs and the scaling benchmark.
public struct StepTiming: Sendable {
    /// Forward, loss, backward and optimizer, without waiting for other ranks.
    public var computeSeconds: Double = 0
    /// Blocked in communication that overlap did not hide (gradient buckets, embedding gather, reductions).
    public var communicationWaitSeconds: Double = 0
    /// Total time the gradient all-reduce took on its thread (hidden or not).
    public var gradientCommunicationSeconds: Double = 0
    /// Gradient buckets of the step, and those not reported ready before backward ended (docs/bucket-plan.md,
    /// note 'Overlap'): they could not overlap with backward.
    public var buckets = 0, lateBuckets = 0
    /// Fraction of the gradient communication time hidden behind compute (1 when there was none).
    public var hiddenFraction = 1.0

    public init() {}
}

/// Splits one step's wall time into compute and waiting for the other ranks.
public struct StepClock {
    private let start = StepClock.now()
    private var waiting = 0.0

    public init() {}

    /// Runs a collective, counting its time as waiting.
    public mutating func waiting<T>(_ body: () throws -> T) rethrows -> T {
        let t = StepClock.now()
        defer { waiting += StepClock.now() - t }
        return try body()
    }

    /// The step's timing, now that it is done; `gradients` is the bucket reducer's account.
    public func timing(gradients: GradientReductionTiming) -> StepTiming {
        let wait = waiting + gradients.blockedSeconds
        var timing = StepTiming()
        (timing.computeSeconds, timing.communicationWaitSeconds) = (StepClock.now() - start - wait, wait)
        timing.gradientCommunicationSeconds = gradients.communicationSeconds
        (timing.buckets, timing.lateBuckets, timing.hiddenFraction) = (gradients.bucketCount, gradients.lateBuckets,
                                                                       gradients.hiddenFraction)
        return timing
    }

    static func now() -> Double { Double(DispatchTime.now().uptimeNanoseconds) * 1e-9 }
}
