import Cluster
import Foundation
import Kernels
import NeuralNet

/// Everything that makes one training step data-parallel (docs/distributed-step.md):
/// - SyncBN: every BatchNorm sums its statistics over all ranks (global batch statistics);
/// - the projection embeddings are all-gathered so InfoNCE sees the global batch; each rank computes the
///   loss rows of its own anchors, divided by the global count, and the gather's backward sums the
///   embedding gradient over ranks (`LossSharding` says which rows and what divisor);
/// - parameter gradients are summed over ranks in buckets that start during backward, as each parameter
///   reports its gradient final (docs/bucket-plan.md);
/// - the step's loss, metric counts and stop requests travel in one small sum (`StepTotals`).
/// With SyncBN on, W ranks with per-rank batch b compute what one process computes with batch W*b. A process
/// without MPI is a world of one (`DataParallel.singleProcess`), so the steps have one path.
/// `DataParallelStep` runs a step's shared tail through it.
public final class DataParallel {
    public let communicator: any ProcessGroup
    public let gather: EmbeddingGather
    public let reducer: GradientBucketReducer
    public let settings: DataParallelSettings
    /// BatchNorm statistics are summed over the ranks (asked for, and more than one rank).
    public let syncBatchNorm: Bool
    /// A known mistake made on purpose (tests only); `sharding` follows from it.
    public let fault: DistributedFault?
    public let sharding: LossSharding
    public var rank: Int { communicator.rank }
    public var size: Int { communicator.size }
    private var totalsBuffer = [Double](repeating: 0, count: StepTotals.Field.allCases.count)

    /// Collective (the gradient reducer duplicates the group). With one rank there is nothing to overlap,
    /// so the reducer runs synchronously and has no thread. `communicationCPU`: the CPU its communication
    /// thread is bound to (`ThreadPlacement`; ignored when there is no such thread).
    public init(communicator: any ProcessGroup, model: ResNet, settings: DataParallelSettings,
                fault: DistributedFault? = nil, communicationCPU: Int? = nil) throws {
        self.communicator = communicator
        self.settings = settings
        syncBatchNorm = settings.syncBatchNorm && communicator.size > 1
        self.fault = fault
        sharding = fault?.sharding ?? GlobalBatchLoss()
        gather = EmbeddingGather(communicator: communicator)
        // The loss of each rank is already divided by the global count, so the parameter gradient of the
        // global loss is the SUM of the ranks' gradients (not their mean).
        var compression = settings.compression
        compression.fault = fault?.powerSGDFault
        let overlap = settings.overlap && communicator.size > 1
        let reducer = try GradientBucketReducer(communicator: communicator, gradients: model.flatGradients,
                                                parameterRanges: model.parameters.map { $0.offset..<($0.offset + $0.count) },
                                                bucketBytes: settings.bucketBytes, average: false, overlap: overlap,
                                                compression: compression,
                                                matrixShapes: model.parameters.map { GradientMatrixShape(parameterShape: $0.shape) },
                                                communicationCPU: overlap ? communicationCPU : nil)
        self.reducer = reducer
        model.registry.setGradientReadyHook { p in reducer.gradientsReady(p.offset..<(p.offset + p.count)) }
        if syncBatchNorm { SyncBatchNorm.sumStatistics(of: model, over: communicator) }
    }

    /// The world of one: no MPI, every collective the identity.
    public static func singleProcess(model: ResNet) -> DataParallel {
        var settings = DataParallelSettings()
        (settings.syncBatchNorm, settings.overlap) = (false, false)
        // Cannot throw: no MPI call is made and a model's parameter ranges are valid.
        return try! DataParallel(communicator: SingleProcess(), model: model, settings: settings)
    }

    // MARK: one step, in the order a step calls them

    /// Before forward: no gradient bucket is ready yet.
    public func beginStep() { reducer.beginStep() }

    /// Global rows of the gathered embeddings whose InfoNCE terms this rank computes.
    public func anchors(localBatch b: Int) -> [Int] { sharding.contrastiveAnchors(rank: rank, world: size, localBatch: b) }

    /// This rank's [2b, D] embeddings -> the global [2B, D] in the single-process layout.
    public func gatherViews(_ local: Tensor, into global: Tensor) throws { try gather.gatherViews(local, into: global) }

    /// Backward of `gatherViews`: this rank's [2b, D] rows of the embedding gradient summed over ranks.
    public func gatherViewsBackward(_ global: Tensor, into local: Tensor) throws {
        if sharding.sumsGatheredGradient {
            try gather.viewsBackward(global, into: local)
        } else {
            copyOwnRows(of: global, into: local)
        }
    }

    /// The group a second encoder's BatchNorm sums its statistics over (MoCo's key encoder): the world.
    public var keyEncoderStatistics: any ProcessGroup {
        fault?.keyEncoderBatchNormIsGlobal ?? true ? communicator : SingleProcess()
    }

    /// The divisor of a classifier rank's summed cross-entropy over its `localBatch` images.
    public func lossNormalization(localBatch b: Int) -> Int { sharding.classifierNormalization(localBatch: b, world: size) }

    /// After backward: waits until every gradient bucket is summed over the ranks.
    public func finishGradients() throws -> GradientReductionTiming { try reducer.finishStep() }

    /// Sums the step's totals over the ranks in one message.
    public func sum(_ totals: inout StepTotals) throws {
        totals.write(into: &totalsBuffer)
        try communicator.allReduceSum(&totalsBuffer)
        totals.read(from: totalsBuffer)
    }

    /// State of the data-parallel machinery that checkpoints must carry: PowerSGD's error feedback summed over
    /// the ranks and its Q (docs/gradient-compression.md, note 'Checkpoints'), saved as `grad_compression.*`;
    /// nil for the other compressions, which keep no state. A new attachment per call: ask once per run.
    public var checkpointState: ReplicatedCheckpointAttachment? {
        guard settings.gradCompression == .powersgd else { return nil }
        let reducer = self.reducer
        return TensorStateAttachment(prefix: "grad_compression.", collect: { try reducer.checkpointTensors() },
                                     restore: { tensors, rank in try reducer.restore(checkpointTensors: tensors, rank: rank) })
    }

    /// Before the first step of a run of `totalSteps` steps that continues after `step` (0: a fresh run):
    /// PowerSGD's default warm-up becomes a tenth of the run (at least 2 steps), and the reducer counts its
    /// finished steps from the checkpoint's, so a resumed run compresses from the same step.
    public func beginRun(totalSteps: Int, afterStep step: Int) {
        if settings.gradCompression == .powersgd, settings.compressionStartStep == nil {
            reducer.compressionStartStep = GradientCompression.defaultStartStep(totalSteps: totalSteps)
        }
        reducer.stepsFinished = step
    }

    /// One line for the log when gradients are compressed (nil for float32): what travels, from which step,
    /// and the matrices PowerSGD's rank is too large for (sent as float32).
    public var compressionSummary: String? {
        guard settings.gradCompression != .none else { return nil }
        var line = "gradient compression: " + reducer.compressionSummary
        let uncompressed = reducer.uncompressedMatrices
        if !uncompressed.isEmpty {
            line += "; rank \(settings.powerSGDRank) is not below the smaller side of \(uncompressed.count) matrices, sent "
                + "uncompressed: " + uncompressed.joined(separator: ", ")
        }
        return line
    }

    // MARK: between steps

    /// Makes every rank start from rank 0's parameters, buffers and BatchNorm counters.
    public func broadcastState(of model: ResNet) throws {
        try communicator.broadcast(model.flatParameters)
        try communicator.broadcast(model.registry.flatBuffers)
        var counters = model.batchNorms.map(\.numBatchesTracked)
        try communicator.broadcast(&counters)
        for (bn, c) in zip(model.batchNorms, counters) { bn.numBatchesTracked = c }
    }

    /// Checks that every replica holds bit-identical parameters (no-op on one rank).
    public func verifyReplicas(of model: ResNet) throws {
        guard size > 1 else { return }
        try ReplicaCheck.verify(model.flatParameters, communicator: communicator)
    }

    /// Stops the reducer's communication thread and frees its communicator. Collective; the last call.
    public func close() throws { try reducer.close() }

    /// Rows r*b..<(r+1)*b and B + r*b..<B + (r+1)*b of this rank's own partial gradient, unsummed
    /// (`DistributedFault.localGatherGradient`).
    private func copyOwnRows(of global: Tensor, into local: Tensor) {
        let (b, d) = (local.shape[0] / 2, local.shape[1])
        let B = size * b
        for view in 0..<2 {
            local.view(offset: view * b * d, shape: [b * d]).copy(from: global.view(offset: (view * B + rank * b) * d, shape: [b * d]))
        }
    }
}
