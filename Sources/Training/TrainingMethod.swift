import Checkpoints
import Datasets
import Foundation
import Kernels
import NeuralNet
import RunFiles
import Runs

/// The settings every training run has, whatever its method (pretraining, the classifiers). Each method's
/// settings type holds its defaults; they are saved to config.json and in checkpoints.
public protocol TrainingSettings: OptimizationSettings, JSONSettings, Equatable {
    /// The defaults.
    init()
    /// Epochs over the dataset.
    var epochs: Int { get }
    /// Optimizer steps in all, overriding `epochs` (nil: epochs x steps per epoch).
    var steps: Int? { get }
    var model: ResNetConfig { get }
    /// Arithmetic of convolutions and Linear layers (fp32, or bf16 with float32 master weights).
    var precision: ComputePrecision { get }
    /// How convolutions choose their algorithms (nil: settings from before the choice, computed as `.winograd`).
    var convAlgorithm: ConvAlgorithmChoice? { get }
    var augmentation: AugmentationConfig { get }
    /// Seeds the weights, the data order and the augmentations.
    var seed: UInt64 { get }
    var shuffle: Bool { get }
    /// Also write a checkpoint every this many steps (always at the end of every epoch and of the run).
    var saveEvery: Int? { get }
    /// Print a progress line every this many steps when stdout is not a terminal.
    var logEvery: Int { get }
    /// Equal but for settings that may change between an interrupted run and its resumption.
    func sameTrainingAs(_ other: Self) -> Bool
    /// A parameter's learning rate is the schedule's times this (fine-tuning scales the backbone's).
    func learningRateScale(ofParameter name: String) -> Float
}

extension TrainingSettings {
    public func learningRateScale(ofParameter name: String) -> Float { 1 }
}

/// A training method as the engine (`Trainer`) sees it: the math of its step, what it reports, and what it
/// saves beside the model. Everything else (data, the data-parallel tail of the step, the loop, checkpoints,
/// stopping, run files) is the engine's. SimCLR, MoCo and multi-crop report as contrastive pretraining
/// (Sources/Pretraining/ContrastiveReports.swift); the supervised baseline and fine-tuning as classifiers.
public protocol TrainingMethod: AnyObject {
    /// Forward, loss and backward of one step (`DataParallelStep` runs the rest).
    var math: StepMath { get }
    /// The row type of metrics.csv.
    var metricsRows: any MetricsRow.Type { get }
    /// After every step, on every rank (collective work, such as a test-split evaluation, goes here): the
    /// row metrics.csv gets now (nil: none this step), the progress line's fields and lines to log.
    func record(_ step: StepReport) throws -> StepRecord
    /// Entries config.json records beside the settings and the engine's own.
    var configFields: [String: Any] { get }
    /// State saved in checkpoints beside the model and optimizer (MoCo's key encoder and queue).
    var checkpointAttachment: ReplicatedCheckpointAttachment? { get }
    /// Whether the method reports per-epoch means: the engine then keeps the running sums of the epoch in
    /// progress in the checkpoint position (`EpochTotals`).
    var reportsEpochMeans: Bool { get }
    /// After the last step, on every rank; rank 0 writes what it returns as results.json.
    func results(steps: Int, isLeader: Bool) throws -> RunResults?
}

extension TrainingMethod {
    public var configFields: [String: Any] { [:] }
    public var checkpointAttachment: ReplicatedCheckpointAttachment? { nil }
    public var reportsEpochMeans: Bool { false }
}

/// What the engine tells a method after a step.
public struct StepReport {
    /// Steps done (this one included) and in all.
    public var step: Int, totalSteps: Int
    /// The epoch the step belonged to (from 0), its steps, and whether the step ended it.
    public var epoch: Int, stepsPerEpoch: Int, endOfEpoch: Bool
    /// The step's totals over the global batch.
    public var totals: StepTotals
    /// Running sums of the epoch so far, this step included (reset after the epoch's last step).
    public var epochTotals: EpochTotals
    public var learningRate: Float
    /// Images in the global batch; wall time of the step including the wait for data, and the wait alone.
    public var images: Int, seconds: Double, dataWaitSeconds: Double
    public var isLeader: Bool
}

/// What a method makes of a step (see `TrainingMethod.record`).
public struct StepRecord {
    public var row: (any MetricsRow)?
    public var progress: String
    public var log: [String]

    public init(row: (any MetricsRow)? = nil, progress: String, log: [String] = []) {
        self.row = row; self.progress = progress; self.log = log
    }
}
