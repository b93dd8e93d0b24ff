import Foundation
import Pretraining
import XCTest

/// `pretrain --recipe`: a named starting point for the settings, which flags given explicitly change.
final class RecipeTests: XCTestCase {
    /// `reference` is exactly the settings type's defaults; `quick` changes the optimizer, the temperature, the
    /// warm-up and the augmentation, nothing else.
    func testRecipesStartFromTheDefaults() {
        XCTAssertEqual(PretrainRecipe.reference.settings(imageSize: 32), PretrainSettings())
        let quick = PretrainRecipe.quick.settings(imageSize: 32)
        XCTAssertEqual(quick.optimizer, .adamw)
        XCTAssertEqual(quick.lr, 1e-3)
        XCTAssertEqual(quick.lrScaling, .none)
        XCTAssertEqual(quick.temperature, 0.2)
        XCTAssertEqual(quick.warmupEpochs, 0.5)
        XCTAssertEqual(quick.augmentation.cropScale, 0.2...1.0)
        XCTAssertFalse(quick.augmentation.blur)
        var rest = quick
        let reference = PretrainSettings()
        (rest.optimizer, rest.lr, rest.lrScaling, rest.temperature, rest.warmupEpochs, rest.augmentation) =
            (reference.optimizer, reference.lr, reference.lrScaling, reference.temperature, reference.warmupEpochs,
             reference.augmentation)
        XCTAssertEqual(rest, reference)
    }

    /// Through the tool: the recipe's values reach config.json, and flags given explicitly win over them.
    func testFlagsGivenExplicitlyWin() throws {
        let dir = try makeTemporaryDirectory(self)
        let common = ["--width", "0.0625", "--batch-size", "8", "--steps", "1", "--synthetic-train-count", "16",
                      "--synthetic-test-count", "8", "--threads", "1", "--workers", "0", "--progress", "none",
                      "--no-tensorboard"]
        func settings(_ name: String, _ flags: [String]) throws -> [String: Any] {
            let run = try runSimclr(["pretrain", "--out", dir.appendingPathComponent(name).path] + common + flags, in: dir)
            XCTAssertEqual(run.status, 0, run.stderr)
            let data = try Data(contentsOf: dir.appendingPathComponent(name).appendingPathComponent("config.json"))
            let config = try XCTUnwrap(JSONSerialization.jsonObject(with: data) as? [String: Any])
            return try XCTUnwrap(config["settings"] as? [String: Any])
        }
        let quick = try settings("quick", ["--recipe", "quick"])
        XCTAssertEqual(quick["optimizer"] as? String, "adamw")
        XCTAssertEqual(try XCTUnwrap(quick["temperature"] as? Double), 0.2, accuracy: 1e-6)
        XCTAssertEqual((quick["augmentation"] as? [String: Any])?["blur"] as? Bool, false)

        let changed = try settings("changed", ["--recipe", "quick", "--optimizer", "sgd", "--temperature", "0.5",
                                               "--blur-sigma", "0.1,1.0", "--warmup-epochs", "0"])
        XCTAssertEqual(changed["optimizer"] as? String, "sgd")
        XCTAssertEqual(try XCTUnwrap(changed["lr"] as? Double), 1e-3, accuracy: 1e-9)
        XCTAssertEqual(try XCTUnwrap(changed["temperature"] as? Double), 0.5, accuracy: 1e-6)
        XCTAssertEqual(changed["warmupEpochs"] as? Double, 0)
        XCTAssertEqual((changed["augmentation"] as? [String: Any])?["blur"] as? Bool, true)

        let reference = try settings("reference", [])
        XCTAssertEqual(reference["optimizer"] as? String, "sgd")
        XCTAssertEqual(try XCTUnwrap(reference["temperature"] as? Double), 0.07, accuracy: 1e-6)
        XCTAssertEqual((reference["augmentation"] as? [String: Any])?["blur"] as? Bool, true)
    }
}
