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
    /// CPU time the communication thread used during the step (0 without overlap: the compute thread waited).
    public var communicationCPUSeconds = 0.0
    /// Bytes this rank handed to collectives for the gradients (payload; the bytes on the wire depend on MPI's
    /// algorithm, e.g. 2(W-1)/W times the payload for a ring all-reduce).
    public var payloadBytes = 0
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
/// MPI_THREAD_MULTIPLE, which `init` checks. The thread sends each bucket as a pipeline of chunks sized to a
/// few milliseconds of link time, so those small collectives never queue behind a whole bucket, and it sleeps
/// between tests of its collectives instead of spinning, so it takes its rank's core only for real work
/// (docs/bucket-plan.md, notes 'Chunks' and 'Cheap waiting'). With `overlap: false` (or `overlapping` set to
/// false for some steps) everything is reduced inside `finishStep`, one blocking all-reduce per bucket.
///
/// Construction and `close()` are collective (MPI_Comm_dup / MPI_Comm_free). A step allocates nothing.
public final class GradientBucketReducer {
    public let buckets: [GradientBucket]
    /// The reducer has a communication thread (asked for at construction).
    public let overlap: Bool
    public let average: Bool
    /// Steps finished since construction (or since a restore set it); a compression codec counts its warm-up
    /// steps with it.
    public var stepsFinished = 0
    private let state: ReducerState
    private var inStep = false
    private var closed = false
    private var overlapStep = false

    /// How gradients travel (docs/gradient-compression.md).
    public let compression: GradientCompression
    private let powerSGD: PowerSGD?

    /// `matrixShapes[p]`: parameter p's gradient as a matrix (nil for vectors), for `compression` powersgd.
    /// `communicationCPU`: the CPU the communication thread is bound to (nil: it runs where this thread may);
    /// a CPU it cannot be bound to is refused before anything collective happens.
    public init(communicator: any ProcessGroup, gradients: Tensor, parameterRanges: [Range<Int>],
                bucketBytes: Int = GradientBucketPlan.defaultBucketBytes,
                firstBucketBytes: Int = GradientBucketPlan.defaultFirstBucketBytes,
                average: Bool = false, overlap: Bool = true,
                compression: GradientCompression = .none, matrixShapes: [GradientMatrixShape?] = [],
                communicationCPU: Int? = nil) throws {
        if let why = compression.refusal {
            throw ClusterError.invalidArgument(call: "GradientBucketReducer", message: why, rank: communicator.worldRank)
        }
        if let last = parameterRanges.last(where: { !$0.isEmpty }), last.upperBound > gradients.count {
            throw ClusterError.invalidArgument(call: "GradientBucketReducer",
                message: "parameter range \(last) outside a gradient buffer of \(gradients.count) elements",
                rank: communicator.worldRank)
        }
        if overlap, let level = Communicator.providedThreadLevel, level < .multiple {
            throw ClusterError.threadLevel(requested: .multiple, provided: level, rank: communicator.worldRank)
        }
        if let cpu = communicationCPU {
            guard overlap else {
                throw ClusterError.invalidArgument(call: "GradientBucketReducer", message:
                    "a communication CPU (\(cpu)) without overlap: there is no communication thread to place",
                    rank: communicator.worldRank)
            }
            if let why = ThreadPlacement.bindingRefusal(cpu: cpu) {
                throw ClusterError.invalidArgument(call: "GradientBucketReducer", message: why, rank: communicator.worldRank)
            }
        }
        buckets = try GradientBucketPlan.buckets(parameterRanges: parameterRanges, bucketBytes: bucketBytes,
                                                 firstBucketBytes: firstBucketBytes)
        self.overlap = overlap
        self.average = average
        overlapping = overlap
        self.compression = compression
        let codec: GradientCodec
        switch compression.method {
        case .none:
            codec = PlainSum(); powerSGD = nil
        case .bf16:
            codec = BF16Sum(world: communicator.size, rank: communicator.rank,
                            largestBucket: buckets.map(\.elements.count).max() ?? 0)
            powerSGD = nil
        case .powersgd:
            let p = PowerSGD(rank: compression.powerSGDRank, startStep: compression.startStep, world: communicator.size,
                             worldRank: communicator.worldRank, parameterRanges: parameterRanges, matrixShapes: matrixShapes,
                             buckets: buckets, compressEveryMatrix: compression.compressEveryMatrix, fault: compression.fault)
            codec = p; powerSGD = p
        }
        let group = try communicator.duplicateGroup()
        state = ReducerState(communicator: group, gradients: gradients, spans: buckets.map(\.elements), average: average,
                             codec: codec, pipelined: overlap ? PipelinedTransport(group: group) : nil)
        self.communicationCPU = communicationCPU
        if overlap, let why = state.startThread(cpu: communicationCPU) {
            state.stopThread()
            throw ClusterError.invalidArgument(call: "GradientBucketReducer", message: why, rank: communicator.worldRank)
        }
    }

    /// The CPU the communication thread was bound to (nil: none asked for).
    public let communicationCPU: Int?

    /// The CPUs the communication thread may run on now, read from the kernel (nil without the thread).
    public var communicationThreadCPUs: [Int]? { state.communicationThreadCPUs() }

    deinit { if !closed { state.stopThread() } }

    /// Whether the next steps overlap communication with backward (settable between steps; only a reducer
    /// built with `overlap: true` can). `simclr bench` alternates to measure what overlap costs compute.
    public var overlapping: Bool {
        didSet { precondition(!inStep && (overlap || !overlapping), "overlapping set during a step or without a thread") }
    }

    /// Starts a step: no bucket is ready yet.
    public func beginStep() {
        precondition(!inStep && !closed, "beginStep() while a step is open or after close()")
        inStep = true
        overlapStep = overlapping
        state.begin(runThread: overlapStep, step: stepsFinished)
    }

    /// Marks the gradients of `range` (flat elements) as final for this step. Called on the compute thread.
    public func gradientsReady(_ range: Range<Int>) {
        precondition(inStep, "gradientsReady(\(range)) outside beginStep()/finishStep()")
        if overlapStep { state.markReady(range) }
    }

    /// Waits until every bucket is reduced; buckets not reported ready are reduced now.
    public func finishStep() throws -> GradientReductionTiming {
        precondition(inStep, "finishStep() without beginStep()")
        inStep = false
        let timing = overlapStep ? try state.finishOverlapped() : try state.reduceAllNow()
        stepsFinished += 1
        lastTiming = timing
        return timing
    }

    /// The account of the last finished step.
    public private(set) var lastTiming: GradientReductionTiming?

    /// One record per bucket of the last finished step (when its gradients were ready, when its transfer ran,
    /// its payload bytes), in bucket order.
    public var lastStepBuckets: [BucketRecord] { state.records }

    /// CPU seconds the communication thread has used so far, readable from any thread at any time (nil without
    /// the thread): what emulated compute adds to its sleeps (a rank with one core shares it with that thread).
    public var communicationThreadCPUSeconds: Double? { state.communicationThreadCPUSeconds() }

    /// The chunk size the communication thread uses now (nil without overlap).
    public var chunkBytes: Int? { state.pipelined?.chunkBytes }

    // MARK: compression state in checkpoints (note 'Checkpoints' in docs/gradient-compression.md)

    /// Collective, between steps: the compression state as named float32 tensors, the same on every rank:
    /// PowerSGD's error summed over ranks (`powersgd.error_sum`) and its Q (`powersgd.q`). Empty for the other
    /// methods, which keep no state.
    public func checkpointTensors() throws -> [String: Tensor] {
        precondition(!inStep, "checkpointTensors() during a step")
        return try powerSGD?.checkpointTensors(group: state.communicator) ?? [:]
    }

    /// Why `checkpointTensors` (rank 0's, from a checkpoint) cannot be restored into this reducer (nil: they can).
    public func checkpointRefusal(_ tensors: [String: Tensor]) -> String? {
        guard let powerSGD else {
            return tensors.isEmpty ? nil : "it holds compression state (\(tensors.keys.sorted().joined(separator: ", "))) and this run's gradient compression is \(compression.method.rawValue)"
        }
        return powerSGD.refusal(tensors)
    }

    /// Collective, between steps: restores `checkpointTensors` saved by a run of any number of ranks. Rank 0 gets
    /// the saved tensors and the others none (`[:]`): rank 0 takes the summed error, the other ranks start from
    /// zero error, so the ranks' errors add up to the saved sum; Q is broadcast from rank 0. Set `stepsFinished`
    /// to the checkpoint's step as well.
    public func restore(checkpointTensors tensors: [String: Tensor], rank: Int) throws {
        precondition(!inStep, "restore(checkpointTensors:) during a step")
        precondition(rank == state.communicator.rank, "restore(checkpointTensors:rank:) on rank \(state.communicator.rank) told rank \(rank)")
        if rank == 0, let why = checkpointRefusal(tensors) {
            throw ClusterError.invalidArgument(call: "GradientBucketReducer.restore", message: why, rank: state.communicator.worldRank)
        }
        try powerSGD?.restore(tensors, group: state.communicator)
    }

    /// PowerSGD's steps run uncompressed before it compresses (settable between steps; 0 for the other methods).
    public var compressionStartStep: Int {
        get { powerSGD?.startStep ?? 0 }
        set {
            precondition(!inStep && newValue >= 0, "compressionStartStep set during a step or negative")
            powerSGD?.startStep = newValue
        }
    }

    /// PowerSGD's matrices that rank R cannot compress (R >= their smaller side), sent as float32 instead;
    /// empty otherwise. For one line in the log.
    public var uncompressedMatrices: [String] { powerSGD?.uncompressedMatrices ?? [] }

    /// Payload elements per rank and step of the gradients: as float32 values (`none`, and PowerSGD's warm-up),
    /// and for the compressed method (bf16 values count as half).
    public var compressionSummary: String {
        let total = buckets.reduce(0) { $0 + $1.elements.count }
        switch compression.method {
        case .none: return "none: \(total) float32 values per step"
        case .bf16: return "bf16: \(total) values as bfloat16 (half the bytes of float32)"
        case .powersgd:
            let p = powerSGD!
            return "powersgd rank \(p.rank): \(p.matrices.count) matrices (\(p.compressedElements) values) sent as P and Q (\(p.compressedPayloadElements) values), \(total - p.compressedElements) values as float32; compressed from step \(p.startStep + 1)"
        }
    }

    /// Stops the communication thread and frees the duplicated communicator. Collective.
    public func close() throws {
        guard !closed else { return }
        closed = true
        state.stopThread()
        try state.communicator.free()
    }
}
