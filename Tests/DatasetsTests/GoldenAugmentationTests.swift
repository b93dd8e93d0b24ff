import Foundation
import XCTest
import Datasets

/// Compares our augmentation functions with torchvision.transforms.functional on float tensors, using
/// `Fixtures/golden_augmentations.json` written by `Fixtures/make_fixtures.py`.
///
/// Tolerances: everything is float32 in torchvision's order of operations, so differences are a few ulps
/// (~1e-7); 1e-5 leaves room for the separable blur/resize (torchvision uses a 2-D kernel / another pass
/// order) and the contrast mean (torch sums pairwise, we in Double). Hue gets 1e-4: the HSV round trip
/// divides by (max - min), which amplifies rounding for nearly gray pixels.
final class GoldenAugmentationTests: XCTestCase {
    struct Fixture: Decodable {
        struct Array3: Decodable { let shape: [Int]; let data: [Float] }
        struct Case: Decodable {
            let name: String
            let op: String
            let args: [String: [Double]]
            let shape: [Int]
            let data: [Float]
        }
        let input: Array3
        let cases: [Case]
    }

    func loadFixture() throws -> Fixture {
        let url = try XCTUnwrap(Bundle.module.url(forResource: "golden_augmentations", withExtension: "json",
                                                  subdirectory: "Fixtures"))
        return try JSONDecoder().decode(Fixture.self, from: Data(contentsOf: url))
    }

    func run(_ c: Fixture.Case, on x: FloatImage) -> FloatImage {
        let f = c.args["factor"]?.first ?? 0
        switch c.op {
        case "brightness": return adjustBrightness(x, f)
        case "contrast": return adjustContrast(x, f)
        case "saturation": return adjustSaturation(x, f)
        case "hue": return adjustHue(x, f)
        case "grayscale": return rgbToGrayscale(x, outputChannels: 3)
        case "hflip": return horizontalFlip(x)
        case "blur": return gaussianBlur(x, kernelSize: Int(c.args["kernel"]![0]), sigma: c.args["sigma"]![0])
        case "resized_crop":
            let b = c.args["box"]!.map { Int($0) }, s = c.args["size"]!.map { Int($0) }
            return resizedCrop(x, CropBox(top: b[0], left: b[1], height: b[2], width: b[3]), height: s[0], width: s[1])
        case "pipeline":
            let b = c.args["box"]!.map { Int($0) }
            var config = AugmentationConfig.simclr(outputSize: Int(c.args["size"]![0]))
            config.blurKernelSize = 9
            let augmentation = Augmentation(config)
            var p = AugmentationParameters()
            p.padding = Int(c.args["padding"]![0])
            p.crop = CropBox(top: b[0], left: b[1], height: b[2], width: b[3])
            p.flip = c.args["flip"]![0] != 0
            let j = c.args["jitter"]!
            for k in stride(from: 0, to: j.count, by: 2) {
                let factor = j[k + 1]
                p.colorAdjustments.append([ColorAdjustment.brightness(factor), .contrast(factor),
                                           .saturation(factor), .hue(factor)][Int(j[k])])
            }
            p.grayscale = c.args["gray"]![0] != 0
            p.blurSigma = c.args["sigma"]!.first
            return augmentation.apply(p, to: x)
        default:
            XCTFail("unknown op \(c.op)")
            return x
        }
    }

    func testMatchesTorchvision() throws {
        let fixture = try loadFixture()
        let s = fixture.input.shape
        let x = FloatImage(channels: s[0], height: s[1], width: s[2], data: fixture.input.data)
        XCTAssertGreaterThan(fixture.cases.count, 20)
        var worst: [String: Float] = [:]
        for c in fixture.cases {
            let y = run(c, on: x)
            XCTAssertEqual([y.channels, y.height, y.width], c.shape, c.name)
            guard y.data.count == c.data.count else { continue }
            let diff = maxAbsDifference(y.data, c.data)
            let tolerance: Float = c.op == "hue" || c.op == "pipeline" ? 1e-4 : 1e-5
            XCTAssertLessThanOrEqual(diff, tolerance, "\(c.name): max |difference| \(diff)")
            worst[c.op] = max(worst[c.op] ?? 0, diff)
        }
        print("golden max |difference| per op:", worst.sorted { $0.key < $1.key })
    }
}
