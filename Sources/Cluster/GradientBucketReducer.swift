import Foundation
import Kernels

/// Where the time of one step's gradient reduction went.
public struct GradientReductionTiming: Sendable {
    /// Time `finishStep` waited for communication: the part overlap did not hide.
    public var blockedSeconds: Double
    /// Total time spent inside the all-reduces (and averaging) of this step.
    public var communicationSeconds: Double
    public var bucketCount: Int
    /// Buckets whose gradients were not all reported by `gradientsReady` before `finishStep`
    /// (all of them in synchronous mode): they could not overlap with backward.
    public var lateBuckets: Int
    public init(blockedSeconds: Double, communicationSeconds: Double, bucketCount: Int, lateBuckets: Int) {
        self.blockedSeconds = blockedSeconds
        self.communicationSeconds = communicationSeconds
        self.bucketCount = bucketCount
        self.lateBuckets = lateBuckets
    }

    /// Fraction of communication time hidden behind compute (1 when there was none).
    public var hiddenFraction: Double {
        communicationSeconds > 0 ? max(0, min(1, 1 - blockedSeconds / communicationSeconds)) : 1
    }
}

/// All-reduces a flat gradient buffer in fused buckets, overlapping communication with backward.
///
/// Use per step: `beginStep()`, then `gradientsReady(range)` from backward whenever gradients are final
/// (any contiguous element ranges, each element reported once per step, roughly last layers first; training
/// reports each parameter as its layer finishes it, through `Parameter.onGradientReady`), then
/// `finishStep()`, which returns when every bucket is summed over all ranks (training's path: each rank's loss
/// is already divided by the global count; `average: true` divides by the rank count too). A bucket whose
/// elements were not all reported by then is reduced late, inside `finishStep` (`lateBuckets`).
///
/// With `overlap: true` a dedicated thread runs the all-reduces on a duplicate of the communicator, in bucket
/// order 0, 1, 2, ... on every rank (collectives must be issued in the same order everywhere, so a bucket
/// that completes early waits for the ones before it). Because that thread has its own communicator, the
/// compute thread may meanwhile run small collectives on the original one (SyncBN statistics); that needs
/// MPI_THREAD_MULTIPLE, which `init` checks. With `overlap: false` everything is reduced inside `finishStep`.
///
/// Construction and `close()` are collective (MPI_Comm_dup / MPI_Comm_free). A step allocates nothing.
public final class GradientBucketReducer {
    public let buckets: [GradientBucket]
    public let overlap: Bool
    public let average: Bool
    private let state: ReducerState
    private var inStep = false
    private var closed = false

    public init(communicator: any ProcessGroup, gradients: Tensor, parameterRanges: [Range<Int>],
                bucketBytes: Int = GradientBucketPlan.defaultBucketBytes,
                firstBucketBytes: Int = GradientBucketPlan.defaultFirstBucketBytes,
                average: Bool = false, overlap: Bool = true) throws {
        if let last = parameterRanges.last(where: { !$0.isEmpty }), last.upperBound > gradients.count {
            throw ClusterError.invalidArgument(call: "GradientBucketReducer",
                message: "parameter range \(last) outside a gradient buffer of \(gradients.count) elements",
                rank: communicator.worldRank)
        }
        if overlap, let level = Communicator.providedThreadLevel, level < .multiple {
            throw ClusterError.threadLevel(requested: .multiple, provided: level, rank: communicator.worldRank)
        }
        buckets = try GradientBucketPlan.buckets(parameterRanges: parameterRanges, bucketBytes: bucketBytes,
                                                 firstBucketBytes: firstBucketBytes)
        self.overlap = overlap
        self.average = average
        state = ReducerState(communicator: try communicator.duplicateGroup(), gradients: gradients,
                             spans: buckets.map(\.elements), average: average)
        if overlap { state.startThread() }
    }

    deinit { if !closed { state.stopThread() } }

    /// Starts a step: no bucket is ready yet.
    public func beginStep() {
        precondition(!inStep && !closed, "beginStep() while a step is open or after close()")
        inStep = true
        state.begin(runThread: overlap)
    }

    /// Marks the gradients of `range` (flat elements) as final for this step. Called on the compute thread.
    public func gradientsReady(_ range: Range<Int>) {
        precondition(inStep, "gradientsReady(\(range)) outside beginStep()/finishStep()")
        if overlap { state.markReady(range) }
    }

    /// Waits until every bucket is reduced; buckets not reported ready are reduced now.
    public func finishStep() throws -> GradientReductionTiming {
        precondition(inStep, "finishStep() without beginStep()")
        inStep = false
        return overlap ? try state.finishOverlapped() : try state.reduceAllNow()
    }

    /// Stops the communication thread and frees the duplicated communicator. Collective.
    public func close() throws {
        guard !closed else { return }
        closed = true
        state.stopThread()
        try state.communicator.free()
    }
}
