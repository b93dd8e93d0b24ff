import Commands
import Datasets
import XCTest

/// The mapping of the augmentation flags (`AugmentationOptions`) to `AugmentationConfig`.
final class AugmentationFlagsTests: XCTestCase {
    private func flags(_ arguments: String...) throws -> AugmentationOptions { try AugmentationOptions.parse(arguments) }

    func testDefaultsAreTheSeedPipeline() throws {
        XCTAssertEqual(try flags().config(outputSize: 32), .simclr(outputSize: 32))
        XCTAssertEqual(try flags("--augment", "none").config(outputSize: 96), .none(outputSize: 96))
        // Switches are harmless with --augment none.
        XCTAssertEqual(try flags("--augment", "none", "--no-flip", "--no-blur").config(outputSize: 32),
                       .none(outputSize: 32))
    }

    func testSwitchesAndParameters() throws {
        var expected = AugmentationConfig.simclr(outputSize: 64)
        expected.flip = false
        expected.blur = false
        expected.cropScale = 0.2...1.0
        expected.jitterStrength = JitterStrength(brightness: 0.4, contrast: 0.3, saturation: 0.2, hue: 0.1)
        expected.jitterProbability = 0.8
        expected.grayscaleProbability = 0.5
        let options = try flags("--crop-scale", "0.2,1.0", "--no-flip", "--jitter-strength", "0.4, 0.3, 0.2, 0.1",
                                "--jitter-prob", "0.8", "--grayscale-prob", "0.5", "--no-blur")
        XCTAssertEqual(try options.config(outputSize: 64), expected)

        var other = AugmentationConfig.simclr(outputSize: 32)
        other.crop = false
        other.colorJitter = false
        other.grayscale = false
        other.blurKernelSize = 5
        other.blurSigma = 0.5...0.5
        XCTAssertEqual(try flags("--no-crop", "--no-color-jitter", "--no-grayscale", "--blur-kernel", "5",
                                 "--blur-sigma", "0.5,0.5").config(outputSize: 32), other)
        // Zero strengths are allowed (the op is skipped), as are probabilities 0 and 1.
        XCTAssertNoThrow(try flags("--jitter-strength", "0,0,0,0", "--jitter-prob", "0", "--grayscale-prob", "1")
            .config(outputSize: 32))
    }

    func testBadValuesNameTheFlag() {
        let cases: [([String], String)] = [
            (["--augment", "heavy"], "--augment 'heavy'"),
            (["--blur-kernel", "4"], "--blur-kernel 4 must be odd and positive"),
            (["--blur-kernel=-3"], "--blur-kernel -3 must be odd and positive"),
            (["--blur-kernel", "0"], "--blur-kernel 0"),
            (["--grayscale-prob", "1.5"], "--grayscale-prob 1.5 must be a probability in [0, 1]"),
            (["--jitter-prob=-0.1"], "--jitter-prob -0.1"),
            (["--crop-scale", "0.9,0.1"], "--crop-scale 0.9,0.1: lo must not exceed hi"),
            (["--crop-scale", "0,1"], "--crop-scale 0,1: both ends must lie in (0, 1]"),
            (["--crop-scale", "0.5,1.5"], "(0, 1]"),
            (["--crop-scale", "big"], "--crop-scale 'big': expected 2 comma-separated numbers"),
            (["--jitter-strength", "1,2,3"], "--jitter-strength '1,2,3': expected 4"),
            (["--jitter-strength", "0.8,0.8,0.8,0.6"], "hue must lie in [0, 0.5]"),
            (["--jitter-strength=-1,0,0,0"], "non-negative"),
            (["--blur-sigma", "0,2"], "--blur-sigma 0,2: sigma must be positive"),
            (["--augment", "none", "--crop-scale", "0.2,1"], "--crop-scale cannot be combined with --augment none"),
            (["--no-blur", "--blur-kernel", "5"], "--blur-kernel cannot be combined with --no-blur"),
            (["--no-color-jitter", "--jitter-prob", "0.5"], "--jitter-prob cannot be combined with --no-color-jitter"),
            (["--crop-scale", "0.5,1", "--no-crop"], "--crop-scale cannot be combined with --no-crop"),
            (["--no-grayscale", "--grayscale-prob", "0.1"], "--grayscale-prob cannot be combined"),
        ]
        for (arguments, message) in cases {
            XCTAssertThrowsError(try AugmentationOptions.parse(arguments).config(outputSize: 32), message) { error in
                let text = AugmentationOptions.message(for: error)
                XCTAssertTrue(text.contains(message), "'\(text)' should contain '\(message)'")
            }
        }
    }
}
