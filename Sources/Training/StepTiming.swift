import Cluster
import Dispatch

/// Where a step's time went, for logs and the scaling benchmark.
public struct StepTiming {
    /// Forward, loss, backward and optimizer, without waiting for other ranks.
    public var computeSeconds: Double = 0
    /// Blocked in communication that overlap did not hide (gradient buckets, embedding gather, reductions).
    public var communicationWaitSeconds: Double = 0
    /// Total time the gradient all-reduce took on its thread (hidden or not).
    public var gradientCommunicationSeconds: Double = 0

    public init(computeSeconds: Double = 0, communicationWaitSeconds: Double = 0, gradientCommunicationSeconds: Double = 0) {
        self.computeSeconds = computeSeconds
        self.communicationWaitSeconds = communicationWaitSeconds
        self.gradientCommunicationSeconds = gradientCommunicationSeconds
    }
}

/// Splits one step's wall time into compute and waiting for the other ranks.
public struct StepClock {
    private let start = StepClock.now()
    private var waiting = 0.0

    /// Runs a collective, counting its time as waiting.
    public init() {}

    public mutating func waiting<T>(_ body: () throws -> T) rethrows -> T {
        let t = StepClock.now()
        defer { waiting += StepClock.now() - t }
        return try body()
    }

    /// The step's timing, now that it is done; `gradients` is the bucket reducer's account.
    public func timing(gradients: GradientReductionTiming) -> StepTiming {
        let wait = waiting + gradients.blockedSeconds
        return StepTiming(computeSeconds: StepClock.now() - start - wait, communicationWaitSeconds: wait,
                          gradientCommunicationSeconds: gradients.communicationSeconds)
    }

    static func now() -> Double { Double(DispatchTime.now().uptimeNanoseconds) * 1e-9 }
}
