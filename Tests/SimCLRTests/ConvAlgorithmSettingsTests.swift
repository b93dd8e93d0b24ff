import Foundation
import Kernels
import Pretraining
import XCTest

/// `--conv-algorithm` is part of a run's settings: recorded in its JSON (config.json, checkpoints, the ranks'
/// configuration check), compared on resume; settings written before the choice existed read as `winograd`,
/// what those runs computed.
final class ConvAlgorithmSettingsTests: XCTestCase {
    func testChoiceIsRecordedAndComparedOnResume() throws {
        var settings = PretrainSettings()
        XCTAssertEqual(settings.convAlgorithm, .auto)
        XCTAssertTrue(settings.json.contains("\"convAlgorithm\" : \"auto\""), settings.json)
        var direct = settings
        direct.convAlgorithm = .direct
        XCTAssertFalse(settings.sameTrainingAs(direct), "another algorithm is another run")

        // Settings from before the choice: no key; they resume as `winograd`, not as `auto`.
        var object = try JSONSerialization.jsonObject(with: Data(settings.json.utf8)) as! [String: Any]
        object.removeValue(forKey: "convAlgorithm")
        let old = try JSONDecoder().decode(PretrainSettings.self, from: JSONSerialization.data(withJSONObject: object))
        XCTAssertNil(old.convAlgorithm)
        settings.convAlgorithm = .winograd
        XCTAssertTrue(old.sameTrainingAs(settings))
        settings.convAlgorithm = .auto
        XCTAssertFalse(old.sameTrainingAs(settings))
    }
}
