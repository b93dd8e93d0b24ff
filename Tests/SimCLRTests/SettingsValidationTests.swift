import Classification
import Contrastive
import Datasets
import Evaluation
import Pretraining
import Training
import XCTest

/// The settings types refuse what cannot train before any data is read, naming the setting (the tool says the
/// flag); the defaults and the recipes pass.
final class SettingsValidationTests: XCTestCase {
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
