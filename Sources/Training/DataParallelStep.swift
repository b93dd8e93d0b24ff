import Datasets
import Kernels
import NeuralNet
import Optimizers
import Tracing

/// The math of one training step: the part a method supplies (SimCLR's `ContrastiveStep`, MoCo's `MoCoStep`,
/// the classifiers' `ClassifierStep`). `DataParallelStep` runs it and owns everything around it.
public protocol StepMath: AnyObject {
    /// Forward, loss and backward of this rank's share of the global batch. Backward reports each parameter's
    /// gradient final, so gradient buckets start while it runs. Returns this rank's totals, the loss already
    /// divided by the global count; collectives it runs count as waiting on `clock`.
    func forwardBackward(_ batch: Batch, clock: inout StepClock) throws -> StepTotals
    /// After the optimizer update, before the totals are summed (MoCo enqueues the global batch's keys here).
    func afterUpdate(clock: inout StepClock) throws
}

extension StepMath {
    public func afterUpdate(clock: inout StepClock) throws {}
}

/// One data-parallel training step: a method's forward, loss and backward (`StepMath`), then the tail every
/// method shares (docs/distributed-step.md, notes 'Gradient sum' and 'Step totals'): wait until every gradient
/// bucket is summed over the ranks, one optimizer update, the step's totals, stop requests and rank 0's gradient
/// and weight norms summed over the ranks in one message, and the step's timing. A process without MPI runs it in a world of one.
public final class DataParallelStep {
    public let model: ResNet
    public let optimizer: Optimizer
    public let dataParallel: DataParallel
    public private(set) var lastTiming = StepTiming()
    /// Set when a stop was requested on any rank during the last step (the ranks agree through the totals).
    public private(set) var stopRequested = false

    public init(model: ResNet, optimizer: Optimizer, dataParallel: DataParallel) {
        self.model = model; self.optimizer = optimizer; self.dataParallel = dataParallel
    }

    /// Runs `math` on `batch`, then the shared tail. `localStop` is this rank's wish to stop after the step;
    /// every rank learns of it. Returns the totals summed over the ranks.
    @discardableResult
    public func run(_ math: StepMath, _ batch: Batch, learningRate: Float, localStop: Bool = false) throws -> StepTotals {
        try StepTrace.measure(StepSpans.step) { try runStep(math, batch, learningRate: learningRate, localStop: localStop) }
    }

    private func runStep(_ math: StepMath, _ batch: Batch, learningRate: Float, localStop: Bool) throws -> StepTotals {
        let world = dataParallel
        var clock = StepClock()
        model.isTraining = true
        world.beginStep()
        var totals = try math.forwardBackward(batch, clock: &clock)
        // every gradient summed over the ranks (note 'Gradient sum')
        let gradients = try StepTrace.measure(StepSpans.waitForGradients) { try world.finishGradients() }
        if world.rank == 0 { totals.gradientNorm = model.flatGradients.euclideanNorm }  // for `DivergenceCheck`
        StepTrace.measure(StepSpans.optimizer) {
            StepProfile.measure(.optimizer) {
                optimizer.step(parameters: model.flatParameters, gradients: model.flatGradients, learningRate: learningRate)
            }
        }
        // The last rank measures the weights (the replicas are equal), so the two norms run side by side.
        if world.rank == world.size - 1 { totals.weightNorm = model.flatParameters.euclideanNorm }
        totals.runningStatisticsNorm = model.registry.flatBuffers.euclideanNorm  // every rank its own (no SyncBN: they differ)
        try math.afterUpdate(clock: &clock)
        totals.stopRequests = localStop ? 1 : 0
        try StepTrace.measure(StepSpans.totals) { try clock.waiting { try world.sum(&totals) } }  // note 'Step totals'
        stopRequested = totals.stopRequested
        lastTiming = clock.timing(gradients: gradients)
        return totals
    }
}
