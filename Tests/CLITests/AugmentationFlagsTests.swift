import Datasets
import XCTest

/// The mapping behind `AugmentationOptions` (the CLI's flags) to `AugmentationConfig`.
final class AugmentationFlagsTests: XCTestCase {
    func testDefaultsAreTheSeedPipeline() throws {
        XCTAssertEqual(try AugmentationFlags().config(outputSize: 32), .simclr(outputSize: 32))
        XCTAssertEqual(try AugmentationFlags(augment: "none").config(outputSize: 96), .none(outputSize: 96))
        // Switches are harmless with --augment none.
        XCTAssertEqual(try AugmentationFlags(augment: "none", noFlip: true, noBlur: true).config(outputSize: 32),
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
        let flags = AugmentationFlags(cropScale: "0.2,1.0", noFlip: true, jitterStrength: "0.4, 0.3, 0.2, 0.1",
                                      jitterProb: 0.8, grayscaleProb: 0.5, noBlur: true)
        XCTAssertEqual(try flags.config(outputSize: 64), expected)

        var other = AugmentationConfig.simclr(outputSize: 32)
        other.crop = false
        other.colorJitter = false
        other.grayscale = false
        other.blurKernelSize = 5
        other.blurSigma = 0.5...0.5
        XCTAssertEqual(try AugmentationFlags(noCrop: true, noColorJitter: true, noGrayscale: true, blurKernel: 5,
                                             blurSigma: "0.5,0.5").config(outputSize: 32), other)
        // Zero strengths are allowed (the op is skipped), as are probabilities 0 and 1.
        XCTAssertNoThrow(try AugmentationFlags(jitterStrength: "0,0,0,0", jitterProb: 0, grayscaleProb: 1).config(outputSize: 32))
    }

    func testBadValuesNameTheFlag() {
        let cases: [(AugmentationFlags, String)] = [
            (AugmentationFlags(augment: "heavy"), "--augment 'heavy'"),
            (AugmentationFlags(blurKernel: 4), "--blur-kernel 4 must be odd and positive"),
            (AugmentationFlags(blurKernel: -3), "--blur-kernel -3 must be odd and positive"),
            (AugmentationFlags(blurKernel: 0), "--blur-kernel 0"),
            (AugmentationFlags(grayscaleProb: 1.5), "--grayscale-prob 1.5 must be a probability in [0, 1]"),
            (AugmentationFlags(jitterProb: -0.1), "--jitter-prob -0.1"),
            (AugmentationFlags(cropScale: "0.9,0.1"), "--crop-scale 0.9,0.1: lo must not exceed hi"),
            (AugmentationFlags(cropScale: "0,1"), "--crop-scale 0,1: both ends must lie in (0, 1]"),
            (AugmentationFlags(cropScale: "0.5,1.5"), "(0, 1]"),
            (AugmentationFlags(cropScale: "big"), "--crop-scale 'big': expected 2 comma-separated numbers"),
            (AugmentationFlags(jitterStrength: "1,2,3"), "--jitter-strength '1,2,3': expected 4"),
            (AugmentationFlags(jitterStrength: "0.8,0.8,0.8,0.6"), "hue must lie in [0, 0.5]"),
            (AugmentationFlags(jitterStrength: "-1,0,0,0"), "non-negative"),
            (AugmentationFlags(blurSigma: "0,2"), "--blur-sigma 0,2: sigma must be positive"),
            (AugmentationFlags(augment: "none", cropScale: "0.2,1"), "--crop-scale cannot be combined with --augment none"),
            (AugmentationFlags(noBlur: true, blurKernel: 5), "--blur-kernel cannot be combined with --no-blur"),
            (AugmentationFlags(noColorJitter: true, jitterProb: 0.5), "--jitter-prob cannot be combined with --no-color-jitter"),
            (AugmentationFlags(cropScale: "0.5,1", noCrop: true), "--crop-scale cannot be combined with --no-crop"),
            (AugmentationFlags(noGrayscale: true, grayscaleProb: 0.1), "--grayscale-prob cannot be combined"),
        ]
        for (flags, message) in cases {
            XCTAssertThrowsError(try flags.config(outputSize: 32), message) { error in
                XCTAssertTrue("\(error)".contains(message), "'\(error)' should contain '\(message)'")
            }
        }
    }
}
