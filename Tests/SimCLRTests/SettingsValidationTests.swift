import Classification
import Contrastive
import Datasets
import Evaluation
import NeuralNet
import Pretraining
import Runs
import Training
import XCTest

/// The settings types refuse what cannot train before any data is read, naming the setting (the tool says the
/// flag); the defaults and the recipes pass.
final class SettingsValidationTests: XCTestCase {
    private static let tooMany = "is more than the 100000000 steps a run may take (SimCLR's longest schedule, 1000 ImageNet "
        + "epochs at batch 4096, is about 313,000 steps)"

    private func refusal(_ validate: () throws -> Void) -> String? {
        do { try validate(); return nil } catch { return "\(error)" }
    }

    func testPretrainingSettingsThatCannotTrainAreRefusedByName() {
        XCTAssertNil(refusal(PretrainSettings().validate))
        XCTAssertNil(refusal(PretrainRecipe.quick.settings(imageSize: 32).validate))
        var s = PretrainSettings()
        s.multiCrop = MultiCropConfig(count: 2, size: 40, scale: 0.05...0.14)
        XCTAssertEqual(refusal(s.validate), "`multiCrop.size` 40 must lie in [4, 32] (`augmentation.outputSize`: the small crops are smaller than the global views)")
        s = PretrainSettings()
        s.moco = MoCoSettings(queueSize: 512)
        XCTAssertNil(refusal(s.validate))
        s.similarity = .negativeSquaredL2
        XCTAssertEqual(refusal(s.validate), "`method` moco compares unit vectors by their dot product; `similarity` applies to simclr only")
        s = PretrainSettings()
        (s.epochs, s.steps) = (0, 5)
        XCTAssertNil(refusal(s.validate), "`steps` alone sets the length")
        s.steps = nil
        XCTAssertEqual(refusal(s.validate), "`epochs` (or `steps`) must be at least 1")
        s = PretrainSettings()
        s.warmupEpochs = -1
        XCTAssertEqual(refusal(s.validate), "`warmupEpochs` must not be negative")
    }

    func testClassifierSettingsThatCannotTrainAreRefusedByName() {
        XCTAssertNil(refusal(ClassifierSettings().validate))
        var s = ClassifierSettings()
        s.batchSize = 1
        XCTAssertEqual(refusal(s.validate), "`batchSize` must be at least 2: BatchNorm needs two images per batch (try 256, or 16 for a quick check)")
        s = ClassifierSettings()
        s.momentum = 1
        XCTAssertEqual(refusal(s.validate), "`momentum` must lie in [0, 1)")
        s = ClassifierSettings()
        s.epochs = Int.max
        XCTAssertEqual(refusal(s.validate), "`epochs` \(Int.max) \(Self.tooMany)")
    }

    /// `--bucket-mb nan` and `--bucket-mb 1e300` trapped in the conversion to bytes; bench took `--bucket-mb -3`.
    func testDataParallelSettingsAreRefusedByName() {
        XCTAssertNil(refusal(DataParallelSettings().validate))
        XCTAssertEqual(DataParallelSettings.bucketBytes(megabytes: 25), 25 << 20)
        for megabytes in [Double.nan, -3, 0, 1e300, .infinity, 1024 * 1024 + 1] {
            var s = DataParallelSettings()
            s.bucketBytes = DataParallelSettings.bucketBytes(megabytes: megabytes)
            XCTAssertEqual(refusal(s.validate), "`bucketBytes` must be positive and at most 1 TiB", "\(megabytes) MB")
        }
        var s = DataParallelSettings()
        s.bucketBytes = DataParallelSettings.bucketBytes(megabytes: 1024 * 1024)
        XCTAssertNil(refusal(s.validate), "1 TiB")
        s.powerSGDRank = 0
        XCTAssertEqual(refusal(s.validate), "`powerSGDRank` must be at least 1 (got 0)")
        s = DataParallelSettings()
        s.compressionStartStep = -1
        XCTAssertEqual(refusal(s.validate), "`compressionStartStep` must be 0 or more (got -1)")
    }

    /// Communication CPUs place the thread that overlaps all-reduces with backward: without overlap there is none,
    /// and a run that asks for both is refused by the setting's name where the data-parallel machinery is made
    /// (it was silently ignored there; only the tool's flags refused it).
    func testCommunicationCPUsWithoutOverlapAreRefusedByName() {
        let refused = "`communicationCPUs`: communication CPUs place the thread that overlaps gradient all-reduces with "
            + "backward; without overlap there is none"
        var options = DataParallelOptions()
        options.communicationCPUs = [0]
        XCTAssertNil(refusal(options.validate))
        options.settings.overlap = false
        XCTAssertEqual(refusal(options.validate), refused)
        let model = ResNet(config: ResNetConfig(arch: .resnet18, stem: .cifar, width: 1.0 / 64, headDims: [8]), seed: 1)
        let shape = LabeledImages(height: 8, width: 8, pixels: [], labels: [], classNames: [])
        XCTAssertEqual(refusal { _ = try options.makeDataParallel(model: model, configuration: "test",
                                                                  dataset: DatasetIdentity(of: shape, source: "none")) },
                       refused)
    }

    /// Datasets' configuration errors (the tool says the flags: --small-crops, --small-crop-size, --small-crop-scale).
    func testMultiCropSettingsAreRefusedByName() {
        XCTAssertNil(refusal(MultiCropConfig(count: 2).validate))
        XCTAssertEqual(refusal(MultiCropConfig(count: 33).validate), "invalid configuration: `multiCrop.count` 33 must lie in [0, 32]")
        XCTAssertEqual(refusal(MultiCropConfig(count: 2, size: 3).validate), "invalid configuration: `multiCrop.size` must be at least 4")
        XCTAssertEqual(refusal(MultiCropConfig(count: 2, scale: -0.5...0.1).validate),
                       "invalid configuration: `multiCrop.scale` -0.5,0.1: both ends must lie in (0, 1]")
        var s = PretrainSettings()
        s.multiCrop = MultiCropConfig(count: 2, scale: 0.05...1.5)
        XCTAssertEqual(refusal(s.validate), "invalid configuration: `multiCrop.scale` 0.05,1.5: both ends must lie in (0, 1]")
    }

    /// `--resize-to 100000` decoded every image of a folder into 3e10 bytes and aborted: an image may not be
    /// resized to more pixels than a file may hold.
    func testImagesAreNotResizedPastThePixelLimit() {
        var data = DataSelection()
        data.resizeTo = 9459  // 89,472,681 pixels, just under the default limit
        XCTAssertNil(refusal(data.validate))
        data.resizeTo = 100_000
        XCTAssertEqual(refusal(data.validate), "invalid configuration: `resizeTo` 100000 makes images of 10000000000 pixels, more than `maxImagePixels` 89478485")
        data.resizeTo = Int.max
        XCTAssertNotNil(refusal(data.validate))
        // A lower pixel limit refuses large files, not the size they are resized to.
        (data.resizeTo, data.maxImagePixels) = (16, 255)
        XCTAssertNil(refusal(data.validate))
        data.resizeTo = 9460
        XCTAssertEqual(refusal(data.validate), "invalid configuration: `resizeTo` 9460 makes images of 89491600 pixels, more than 89478485, the default `maxImagePixels`")
    }

    /// `--steps 1000000000000` ran for ever, and epochs x steps per epoch past `Int` trapped: a length past
    /// `RunLength.maximumSteps` is refused, by name; the limit itself is allowed.
    func testARunLongerThanAnyTrainingIsRefused() throws {
        var s = PretrainSettings()
        s.steps = 1_000_000_000_000
        XCTAssertEqual(refusal(s.validate), "`steps` 1000000000000 \(Self.tooMany)")
        s.steps = RunLength.maximumSteps
        XCTAssertNil(refusal(s.validate))
        s.steps = nil
        s.epochs = RunLength.maximumSteps + 1
        XCTAssertEqual(refusal(s.validate), "`epochs` 100000001 \(Self.tooMany)")
        // Epochs that pass alone may still make too many steps with the data set's steps per epoch.
        XCTAssertEqual(try RunLength.totalSteps(epochs: 1000, steps: nil, stepsPerEpoch: 195), 195_000)
        XCTAssertEqual(try RunLength.totalSteps(epochs: 0, steps: 40, stepsPerEpoch: 195), 40)
        for (epochs, perEpoch) in [(1_000_000, 101), (Int.max / 2, 3)] {
            XCTAssertEqual(refusal { _ = try RunLength.totalSteps(epochs: epochs, steps: nil, stepsPerEpoch: perEpoch) },
                           "`epochs` \(epochs) of \(perEpoch) steps each \(Self.tooMany)")
        }
    }

    func testProbeAndKNNSettingsAreRefusedByName() {
        XCTAssertNil(refusal(LinearProbeConfig().validate))
        XCTAssertNil(refusal(LinearProbeConfig(learningRate: Float(LinearProbeConfig.defaultLearningRate(for: .adamw)),
                                               optimizer: .adamw).validate))
        XCTAssertEqual(refusal(LinearProbeConfig(epochs: 0).validate), "`epochs` must be at least 1")
        XCTAssertEqual(refusal(LinearProbeConfig(learningRate: 0).validate), "`learningRate` must be positive")
        XCTAssertEqual(refusal(LinearProbeConfig(momentum: 1).validate), "`momentum` must lie in [0, 1)")
        XCTAssertEqual(refusal(LinearProbeConfig(weightDecay: -1).validate), "`weightDecay` must be >= 0")
        XCTAssertNil(refusal(KNNEvaluation().validate))
        XCTAssertEqual(refusal(KNNEvaluation(k: 0).validate), "`k` must be at least 1")
        XCTAssertEqual(refusal(KNNEvaluation(temperature: .infinity).validate), "`temperature` must be positive")
    }
}
