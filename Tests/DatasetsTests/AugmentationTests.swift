import Datasets
import Foundation
import Kernels
import XCTest

final class AugmentationTests: XCTestCase {
    /// Area fraction and aspect ratio of sampled crops stay in the requested ranges. On a 1000x1000 image
    /// rounding w and h to integers moves them by < 0.3 %; we allow 1 %. On 32x32 images rounding is
    /// coarser: the box must fit and the aspect stays within ratio +- rounding of one pixel.
    func testRandomResizedCropStatistics() {
        var rng = RandomStream(seed: 3)
        var minArea = 1.0, maxArea = 0.0, logAspectSum = 0.0
        let n = 5000
        for _ in 0..<n {
            let b = randomResizedCropBox(height: 1000, width: 1000, scale: 0.08...1.0, ratio: 0.75...(4.0 / 3), rng: &rng)
            let area = Double(b.height * b.width) / 1e6, aspect = Double(b.width) / Double(b.height)
            XCTAssertTrue(area >= 0.08 * 0.99 && area <= 1.0, "area \(area)")
            XCTAssertTrue(aspect >= 0.75 * 0.99 && aspect <= 4.0 / 3 * 1.01, "aspect \(aspect)")
            XCTAssertTrue(b.top >= 0 && b.left >= 0 && b.top + b.height <= 1000 && b.left + b.width <= 1000)
            minArea = min(minArea, area); maxArea = max(maxArea, area)
            logAspectSum += log(aspect)
        }
        XCTAssertLessThan(minArea, 0.1)
        XCTAssertGreaterThan(maxArea, 0.9)
        XCTAssertEqual(logAspectSum / Double(n), 0, accuracy: 0.02)   // log-uniform around 1

        for _ in 0..<n {
            let b = randomResizedCropBox(height: 32, width: 32, scale: 0.08...1.0, ratio: 0.75...(4.0 / 3), rng: &rng)
            XCTAssertTrue(b.height >= 1 && b.width >= 1 && b.top + b.height <= 32 && b.left + b.width <= 32)
            let area = Double(b.height * b.width) / 1024
            XCTAssertTrue(area >= 0.05 && area <= 1.0, "area \(area)")
            // some unrounded (w0, h0) within 0.5 of (w, h) has an allowed ratio
            let w = Double(b.width), h = Double(b.height)
            XCTAssertTrue((w + 0.5) / (h - 0.5) >= 0.75 && (w - 0.5) / (h + 0.5) <= 4.0 / 3, "box \(b)")
        }
        // Fallback: no attempt can fit a 2:1 to 3:1 box of the whole area, so the central crop clamped to ratio 2.
        let fallback = randomResizedCropBox(height: 40, width: 40, scale: 1...1, ratio: 2...3, rng: &rng)
        XCTAssertEqual(fallback, CropBox(top: 10, left: 0, height: 20, width: 40))
        let tall = randomResizedCropBox(height: 40, width: 10, scale: 1...1, ratio: 0.75...(4.0 / 3), rng: &rng)
        XCTAssertEqual(tall, CropBox(top: 13, left: 0, height: 13, width: 10))   // h = round(10 / 0.75)
    }

    /// 4000 flips with p = 0.5: the count is Binomial(4000, 0.5), sd = 31.6; we allow 5 sd (a false alarm
    /// has probability ~6e-7, and the random seed is fixed, so the test is not flaky).
    func testFlipProbability() {
        var config = AugmentationConfig.none(outputSize: 8)
        config.flip = true
        let augmentation = Augmentation(config)
        var flips = 0
        for i in 0..<4000 {
            var rng = RandomStream(seed: 1, rank: 0, epoch: 0, sample: i)
            if augmentation.sampleParameters(height: 8, width: 8, rng: &rng).flip { flips += 1 }
        }
        XCTAssertEqual(Double(flips), 2000, accuracy: 5 * 31.6)
        // the flip itself
        let x = FloatImage(channels: 3, height: 2, width: 3, data: (0..<18).map(Float.init))
        XCTAssertEqual(horizontalFlip(x).data[0..<3], [2, 1, 0])
    }

    func testGrayscaleHasEqualChannels() {
        let x = randomImages(count: 1, size: 8, seed: 1).floatImage(at: 0)
        let g = rgbToGrayscale(x, outputChannels: 3)
        XCTAssertEqual(Array(g.data[0..<64]), Array(g.data[64..<128]))
        XCTAssertEqual(Array(g.data[0..<64]), Array(g.data[128..<192]))
        XCTAssertEqual(rgbToGrayscale(x, outputChannels: 1).data, Array(g.data[0..<64]))
        // through the pipeline with p = 1
        var config = AugmentationConfig.simclr(outputSize: 8)
        config.grayscaleProbability = 1
        var rng = RandomStream(seed: 2)
        let v = Augmentation(config)(x, rng: &rng)
        XCTAssertEqual(Array(v.data[0..<64]), Array(v.data[128..<192]))
    }

    func testBlurOfConstantImageIsConstant() {
        for size in [1, 3, 8, 32] {
            let x = FloatImage(channels: 3, height: size, width: size, repeating: 0.37)
            for sigma in [0.1, 1.0, 2.0] {
                let y = gaussianBlur(x, kernelSize: 9, sigma: sigma)
                XCTAssertLessThan(y.data.map { abs($0 - 0.37) }.max()!, 1e-6, "size \(size) sigma \(sigma)")
            }
        }
        let k = gaussianKernel1D(size: 9, sigma: 1.5)
        XCTAssertEqual(k.reduce(0, +), 1, accuracy: 1e-6)
        XCTAssertEqual(k[0], k[8])
    }

    func testResizeOfConstantAndIdentity() {
        let x = randomImages(count: 1, size: 8, seed: 4).floatImage(at: 0)
        XCTAssertEqual(resizedCrop(x, CropBox(top: 0, left: 0, height: 8, width: 8), height: 8, width: 8), x)
        let c = FloatImage(channels: 3, height: 5, width: 7, repeating: 0.5)
        for (h, w) in [(13, 3), (2, 2), (32, 32)] {
            XCTAssertLessThan(resize(c, height: h, width: w).data.map { abs($0 - 0.5) }.max()!, 1e-6)
        }
    }

    func testSameKeySameViewOtherKeyOtherView() {
        let images = randomImages(count: 4, size: 32, seed: 7)
        let augmentation = Augmentation(.simclr(outputSize: 32))
        func view(_ seed: UInt64, _ rank: Int, _ epoch: Int, _ sample: Int, _ sub: Int) -> [Float] {
            var rng = RandomStream(seed: seed, rank: rank, epoch: epoch, sample: sample, substream: sub)
            return augmentation(images.floatImage(at: 1), rng: &rng).data
        }
        let base = view(1, 0, 0, 1, 0)
        XCTAssertEqual(base.count, 3 * 32 * 32)
        XCTAssertEqual(base, view(1, 0, 0, 1, 0))
        for other in [view(2, 0, 0, 1, 0), view(1, 1, 0, 1, 0), view(1, 0, 1, 1, 0), view(1, 0, 0, 2, 0), view(1, 0, 0, 1, 1)] {
            XCTAssertNotEqual(base, other)
        }
        XCTAssertTrue(base.allSatisfy { $0 >= 0 && $0 <= 1 })
    }

    func testJitterParameters() {
        let augmentation = Augmentation(.simclr(outputSize: 32))
        var orders = Set<[Int]>()
        for i in 0..<500 {
            var rng = RandomStream(seed: 5, rank: 0, epoch: 0, sample: i)
            let p = augmentation.sampleParameters(height: 32, width: 32, rng: &rng)
            XCTAssertEqual(p.colorAdjustments.count, 4)
            var order: [Int] = []
            for a in p.colorAdjustments {
                switch a {
                case .brightness(let f): XCTAssertTrue(f >= 0.2 && f <= 1.8); order.append(0)
                case .contrast(let f): XCTAssertTrue(f >= 0.2 && f <= 1.8); order.append(1)
                case .saturation(let f): XCTAssertTrue(f >= 0.2 && f <= 1.8); order.append(2)
                case .hue(let f): XCTAssertTrue(f >= -0.2 && f <= 0.2); order.append(3)
                }
            }
            XCTAssertEqual(order.sorted(), [0, 1, 2, 3])
            orders.insert(order)
            let sigma = try! XCTUnwrap(p.blurSigma)
            XCTAssertTrue(sigma >= 0.1 && sigma <= 2.0)
        }
        XCTAssertEqual(orders.count, 24)   // every order of the four occurs
        // probability 0 never jitters; zero strengths are skipped
        var config = AugmentationConfig.simclr(outputSize: 32)
        config.jitterProbability = 0
        var rng = RandomStream(seed: 1)
        XCTAssertTrue(Augmentation(config).sampleParameters(height: 32, width: 32, rng: &rng).colorAdjustments.isEmpty)
        config.jitterProbability = 1
        config.jitterStrength = JitterStrength(brightness: 0.5, contrast: 0, saturation: 0, hue: 0)
        let only = Augmentation(config).sampleParameters(height: 32, width: 32, rng: &rng).colorAdjustments
        XCTAssertEqual(only.count, 1)
    }

    func testPresetsAndValidation() throws {
        let images = randomImages(count: 1, size: 32, seed: 8)
        // none: plain value / 255
        let plain = Augmentation(.none(outputSize: 32))
        var rng = RandomStream(seed: 1)
        let expected = (0..<3).flatMap { c in (0..<1024).map { p in Float(images.pixels[p * 3 + c]) / 255 } }
        XCTAssertEqual(plain(images.floatImage(at: 0), rng: &rng).data, expected)
        XCTAssertTrue(AugmentationConfig.none(outputSize: 32).isPlain)
        assertDatasetError(try AugmentationConfig.none(outputSize: 24).validate(imageHeight: 32, imageWidth: 32),
                           mentions: "32x32") { if case .invalidConfiguration = $0 { return true } else { return false } }
        XCTAssertNoThrow(try AugmentationConfig.simclr(outputSize: 24).validate(imageHeight: 96, imageWidth: 96))
        // supervised: padded crop keeps the size, and some views are shifted into the zero border
        let supervised = Augmentation(.supervised(outputSize: 32))
        var sawBorder = false
        for i in 0..<50 {
            var r = RandomStream(seed: 3, rank: 0, epoch: 0, sample: i)
            let p = supervised.sampleParameters(height: 32, width: 32, rng: &r)
            XCTAssertEqual(p.padding, 4)
            let box = try XCTUnwrap(p.crop)
            XCTAssertTrue(box.top >= 0 && box.top <= 8 && box.left >= 0 && box.left <= 8 && box.height == 32)
            if box.top == 0 || box.left == 0 { sawBorder = true }
            XCTAssertEqual(supervised.apply(p, to: images.floatImage(at: 0)).height, 32)
        }
        XCTAssertTrue(sawBorder)
        var bad = AugmentationConfig.simclr(outputSize: 32)
        bad.blurKernelSize = 4
        XCTAssertThrowsError(try bad.validate(imageHeight: 32, imageWidth: 32))
        bad = .simclr(outputSize: 32)
        bad.jitterStrength.hue = 0.6
        XCTAssertThrowsError(try bad.validate(imageHeight: 32, imageWidth: 32))
        bad = .simclr(outputSize: 32)
        bad.cropScale = 0...1
        XCTAssertThrowsError(try bad.validate(imageHeight: 32, imageWidth: 32))
        XCTAssertEqual(try AugmentationConfig.parseRange("0.08, 1.0"), 0.08...1.0)
        XCTAssertEqual(try JitterStrength.parse("0.8,0.8,0.8,0.2"), .simclr)
        XCTAssertThrowsError(try AugmentationConfig.parseRange("1,x"))
        XCTAssertEqual(AugmentationConfig(preset: .full, outputSize: 32), .simclr(outputSize: 32))
    }
}
