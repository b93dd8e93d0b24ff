import Datasets
import Evaluation
import Foundation
import NeuralNet
import Optimizers
import Runs
import Training

/// How a classifier run ended.
public struct ClassifierSummary {
    public var steps: Int
    /// Completed epochs.
    public var epochs: Int
    /// Why the run stopped before its last step (nil: it finished).
    public var stop: StopOutcome?
    public var stoppedEarly: Bool { stop != nil }
    /// Test-split result after the last completed epoch (nil before the first).
    public var test: ClassificationResult?
    /// Mean loss and top-1 over the training batches of the last completed epoch.
    public var trainLoss: Double
    public var trainTop1: Double
}

/// The supervised baseline and fine-tuning: ResNet-18 with the classifier head `Linear(512*width, 512), ReLU,
/// Linear(512, classes)` (`fc.0`, `fc.2`), softmax cross-entropy, padded random crop + flip, evaluated on the
/// test split after every epoch. Data-parallel exactly as pretraining (the same engine, `Trainer`); rank 0
/// writes `metrics.csv`, `config.json`, `checkpoint.safetensors`, `model.safetensors` and `results.json`.
public final class ClassifierTrainer: TrainerFront {
    public let trainer: Trainer<ClassifierSettings>
    public let method: ClassifierTraining
    /// The labelled training images actually used (the label-fraction subset).
    public let trainImages: LabeledImages
    /// The images of the whole train split, before the label fraction.
    public let labelledCount: Int

    public var step: ClassifierStep { method.step }
    public var classCount: Int { method.classCount }
    /// Size of the test split (all ranks together).
    public var testCount: Int { method.testCount }

    /// `train` and `test` are whole labelled splits; the label fraction is taken here. With
    /// `settings.encoder`, rank 0 loads the backbone keys of that file (its `fc.*` keys are ignored).
    public init(settings: ClassifierSettings, train: LabeledImages, test: LabeledImages, runDirectory: URL,
                workers: Int = TrainerOptions().workers, prefetch: Int = TrainerOptions().prefetch, runInfo: [String: String] = [:],
                distributed: DataParallelOptions? = nil, dataSource: String = "in memory", trace: StepTraceRequest? = nil,
                log: @escaping (String) -> Void = { print($0); fflush(stdout) }) throws {
        try settings.validate()
        guard train.count > 0, test.count > 0 else { throw SettingsError("the train and test splits must not be empty") }
        guard train.height == test.height, train.width == test.width else {
            throw SettingsError("train images are \(train.height)x\(train.width), test images \(test.height)x\(test.width)")
        }
        let classes = max(train.classNames.count, (train.labels.max() ?? -1) + 1)
        guard classes >= 2 else { throw SettingsError("the training labels hold \(classes) class; at least 2 are needed") }
        if let bad = test.labels.first(where: { $0 < 0 || $0 >= classes }) {
            throw SettingsError("test label \(bad) outside the \(classes) training classes")
        }
        let subset = LabelFraction.balancedSubset(labels: train.labels, fraction: settings.labelFraction, seed: settings.seed)
        let trainImages = subset.count == train.count ? train : train.subset(subset)
        self.trainImages = trainImages
        labelledCount = train.count

        var settings = settings
        settings.model.headDims = [settings.hiddenDim, classes]
        settings.augmentation.outputSize = train.height
        var options = TrainerOptions()
        (options.workers, options.prefetch, options.runInfo, options.distributed, options.log) = (workers, prefetch, runInfo,
                                                                                                  distributed, log)
        options.trace = trace
        options.initialWeights = settings.encoder.map { encoder in
            InitialWeights(url: URL(fileURLWithPath: encoder), scope: .backbone, setting: "encoder",
                           hint: " (do the architecture \(settings.model.arch.rawValue), stem \(settings.model.stem.rawValue) "
                               + "and width \(settings.model.width) describe this file?)",
                           note: "backbone loaded from \(encoder); new \(settings.model.headDims) head")
        }
        let world = distributed?.communicator.size ?? 1
        // The whole train split identifies the data (the label fraction is in the settings).
        let data = TrainingData(images: trainImages, identity: DatasetIdentity(of: train, source: dataSource), views: 1,
                                countDescription: "(\(trainImages.count) training images at `labelFraction` \(settings.labelFraction); "
                                    + "the last partial batch of an epoch is dropped). Use a `batchSize` of at most "
                                    + "\(trainImages.count / world * world) or a larger `labelFraction` (under simclr compare/sweep: "
                                    + "--finetune-arg=--batch-size=N, --supervised-arg=--batch-size=N)")
        var made: ClassifierTraining?
        trainer = try Trainer(settings: settings, data: data, runDirectory: runDirectory, options: options) { tail in
            let method = ClassifierTraining(step: ClassifierStep(tail: tail), settings: settings, classCount: classes,
                                            trainCount: trainImages.count, test: test, runInfo: runInfo)
            made = method
            return method
        }
        method = made!
    }

    /// Trains for `settings.epochs`, or until `stop` asks (Ctrl-C and SIGTERM by default; `HaltAfterStep` in
    /// tests). With `resume`, continues from the run directory's checkpoint.
    @discardableResult
    public func run(resume: Bool = false, stop: StopPolicy = SignalStop()) throws -> ClassifierSummary {
        let summary = try trainer.run(resume: resume, stop: stop)
        return ClassifierSummary(steps: summary.steps, epochs: summary.steps / sampler.stepsPerEpoch, stop: summary.stop,
                                 test: method.test, trainLoss: method.trainLoss, trainTop1: method.trainTop1)
    }

    /// The run as log lines: the model and its head, the training images and their augmentation, the schedule.
    public var summary: [String] {
        let augmentation = settings.augmentation
        return ["model: \(settings.model.describe), head \(settings.model.headDims) (\(classCount) classes), "
                    + "\(model.registry.parameterCount) parameters, " + (settings.encoder.map { "backbone from \($0)" } ?? "random init"),
                "training on \(trainImages.count) of \(labelledCount) labelled images (label fraction \(settings.labelFraction)), "
                    + (augmentation.isPlain ? "no augmentation" : "random crop (padding \(augmentation.randomCropPadding ?? 0)) + flip"),
                scheduleDescription]
    }

    /// What a finished run says (nothing after an early stop): its test result and the results file.
    public func resultLines(_ summary: ClassifierSummary) -> [String] {
        guard !summary.stoppedEarly, let result = summary.test else { return [] }
        return [String(format: "%@: test top-1 %.4f, top-5 %.4f, loss %.4f (%d train / %d test images)",
                       settings.method.rawValue, result.top1, result.top5, result.loss, trainImages.count, testCount),
                "wrote \(resultsURL.path)"]
    }

    /// The test split's top-1, top-5 and mean cross-entropy now (collective; leaves the model in eval mode).
    public func evaluate() throws -> ClassificationResult { try method.evaluate() }
}
