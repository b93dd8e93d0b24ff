import Datasets
import Foundation
import Kernels
import XCTest

/// The random parameters of the augmentations, as distributions, against torchvision's samplers
/// (`Fixtures/sampler_reference.json`, written by `Fixtures/make_sampler_reference.py`; the golden tests
/// check each op with fixed parameters).
///
/// Every test rejects at `significance` (1e-6): a chi-square test (p-value of Pearson's statistic, cells
/// expected below 5 pooled), a Kolmogorov-Smirnov test (p-value of the Kolmogorov limit) or a binomial test.
/// The sample sizes are chosen so that a 2% deviation is rejected, and each test shows it with a mutant:
/// the same sampler with a parameter off by 2% (or, where no parameter gives the deviation, its draws
/// altered by 2%) must be rejected by the same check.
/// - rates (flip 0.5, grayscale 0.2, jitter gate 0.8, blur gate 0.5): 10^6 draws; a rate 2% too high (p x 1.02)
///   lies 10 to 40 standard deviations out (the threshold is 4.9);
/// - uniform factors (ColorJitter, blur sigma): 2 x 10^5 draws, KS critical D = 0.006; a strength 2% too large
///   moves the CDF by 0.0098 at the ends of the range;
/// - the 24 jitter orders: chi-square on 23 df; 2% of draws given one fixed order is rejected;
/// - RandomResizedCrop: kept box sizes (h, w), their area and aspect marginals and their positions against
///   torchvision's exact distribution on five image/scale/ratio settings, and the fallback rate; area and
///   log-ratio also by KS on a 4096 px image, where rounding vanishes, against their closed forms;
/// - the two views of one image: contingency tables and correlations of every parameter; 2% of pairs
///   sharing their parameters is rejected.
final class SamplerDistributionTests: XCTestCase {
    struct Reference: Decodable {
        struct Jitter: Decodable {
            let brightness: [Double], contrast: [Double], saturation: [Double], hue: [Double]
        }
        struct Crop: Decodable {
            let name: String
            let height: Int, width: Int
            let scale: [Double], ratio: [Double]
            let fallback_rate: Double
            let fallback_box: [Int]
            let kept_sizes: [[Double]]
        }
        let color_jitter: Jitter
        let grayscale_probability: Double
        let flip_probability: Double
        let blur_sigma: [Double]
        let crops: [Crop]
    }

    static let reference: Reference = {
        let url = Bundle.module.url(forResource: "sampler_reference", withExtension: "json", subdirectory: "Fixtures")!
        return try! JSONDecoder().decode(Reference.self, from: Data(contentsOf: url))
    }()

    /// The stream of draw `i`: each sample's first view, as the loader keys it.
    private func stream(_ i: Int, view: Int = 0) -> RandomStream {
        BatchLoader.viewStream(seed: 20_240_611, epoch: 3, sample: i, view: view)
    }

    // MARK: ColorJitter

    private struct JitterDraws {
        var factors: [[Double]] = [[], [], [], []]   // brightness, contrast, saturation, hue
        var orders: [Int] = []                       // index of the order among the 24
    }

    private static let permutationIndex: [[Int]: Int] = {
        var all: [[Int]] = []
        func extend(_ p: [Int]) {
            if p.count == 4 { all.append(p); return }
            for k in 0..<4 where !p.contains(k) { extend(p + [k]) }
        }
        extend([])
        return Dictionary(uniqueKeysWithValues: all.enumerated().map { ($1, $0) })
    }()

    private func jitterDraws(strength: JitterStrength, count: Int) -> JitterDraws {
        var config = AugmentationConfig.none(outputSize: 8)
        config.colorJitter = true
        config.jitterStrength = strength
        let augmentation = Augmentation(config)
        var draws = JitterDraws()
        for i in 0..<count {
            var rng = stream(i)
            var order: [Int] = []
            for adjustment in augmentation.sampleParameters(height: 8, width: 8, rng: &rng).colorAdjustments {
                switch adjustment {
                case .brightness(let f): draws.factors[0].append(f); order.append(0)
                case .contrast(let f): draws.factors[1].append(f); order.append(1)
                case .saturation(let f): draws.factors[2].append(f); order.append(2)
                case .hue(let f): draws.factors[3].append(f); order.append(3)
                }
            }
            draws.orders.append(Self.permutationIndex[order] ?? -1)
        }
        return draws
    }

    private var torchvisionRanges: [[Double]] {
        let j = Self.reference.color_jitter
        return [j.brightness, j.contrast, j.saturation, j.hue]
    }

    func testColorJitterFactorsAreUniformOnTorchvisionsRanges() {
        let n = 200_000
        XCTAssertEqual(torchvisionRanges.map { $0.map { ($0 * 1e6).rounded() / 1e6 } },
                       [[0.2, 1.8], [0.2, 1.8], [0.2, 1.8], [-0.2, 0.2]])
        let draws = jitterDraws(strength: .simclr, count: n)
        let mutant = jitterDraws(strength: JitterStrength(brightness: 0.816, contrast: 0.816, saturation: 0.816, hue: 0.204),
                                 count: n)
        for (k, name) in ["brightness", "contrast", "saturation", "hue"].enumerated() {
            let range = torchvisionRanges[k]
            XCTAssertEqual(draws.factors[k].count, n, name)
            XCTAssertTrue(draws.factors[k].allSatisfy { $0 >= range[0] && $0 <= range[1] }, name)
            let fit = KolmogorovSmirnov(draws.factors[k], cdf: uniformCDF(range[0], range[1]))
            XCTAssertFalse(fit.rejects, "\(name): \(fit)")
            let off = KolmogorovSmirnov(mutant.factors[k], cdf: uniformCDF(range[0], range[1]))
            XCTAssertTrue(off.rejects, "\(name) with a strength 2% too large is not caught: \(off)")
        }
    }

    func testColorJitterOrderIsUniformOverThe24Orders() {
        let draws = jitterDraws(strength: .simclr, count: 200_000)
        XCTAssertFalse(draws.orders.contains(-1), "an order that is not a permutation of the four adjustments")
        func histogram(_ orders: [Int]) -> [Int] {
            var h = [Int](repeating: 0, count: 24)
            for o in orders { h[o] += 1 }
            return h
        }
        let uniform = [Double](repeating: 1.0 / 24, count: 24)
        let fit = ChiSquare(observed: histogram(draws.orders), probabilities: uniform)
        XCTAssertFalse(fit.rejects, "orders: \(fit)")
        // A sampler that gives 2% of the draws the order brightness, contrast, saturation, hue.
        let biased = draws.orders.enumerated().map { $0.offset % 50 == 0 ? 0 : $0.element }
        let off = ChiSquare(observed: histogram(biased), probabilities: uniform)
        XCTAssertTrue(off.rejects, "2% of draws in one order is not caught: \(off)")
    }

    // MARK: coins and the blur sigma

    private struct CoinDraws { var flips = 0, jitters = 0, grays = 0, blurs = 0, count = 0; var sigmas: [Double] = [] }

    private func coinDraws(flip: Double, jitter: Double, grayscale: Double, blur: Double,
                           sigma: ClosedRange<Double>, count: Int) -> CoinDraws {
        var config = AugmentationConfig.simclr(outputSize: 8)
        config.crop = false
        config.flipProbability = flip
        config.jitterProbability = jitter
        config.grayscaleProbability = grayscale
        config.blurProbability = blur
        config.blurSigma = sigma
        let augmentation = Augmentation(config)
        var d = CoinDraws(count: count)
        d.sigmas.reserveCapacity(count)
        for i in 0..<count {
            var rng = stream(i)
            let p = augmentation.sampleParameters(height: 8, width: 8, rng: &rng)
            if p.flip { d.flips += 1 }
            if !p.colorAdjustments.isEmpty { d.jitters += 1 }
            if p.grayscale { d.grays += 1 }
            if let s = p.blurSigma { d.blurs += 1; d.sigmas.append(s) }
        }
        return d
    }

    func testFlipGrayscaleJitterAndBlurRates() {
        let r = Self.reference
        let n = 1_000_000
        let rates = (flip: r.flip_probability, jitter: 0.8, gray: r.grayscale_probability, blur: 0.5)
        let sigma = r.blur_sigma[0]...r.blur_sigma[1]
        let d = coinDraws(flip: rates.flip, jitter: rates.jitter, grayscale: rates.gray, blur: rates.blur, sigma: sigma, count: n)
        let m = coinDraws(flip: rates.flip * 1.02, jitter: rates.jitter * 1.02, grayscale: rates.gray * 1.02,
                          blur: rates.blur * 1.02, sigma: sigma, count: n)
        let checks: [(String, Int, Int, Double)] = [("flip", d.flips, m.flips, rates.flip),
                                                    ("jitter gate", d.jitters, m.jitters, rates.jitter),
                                                    ("grayscale", d.grays, m.grays, rates.gray),
                                                    ("blur gate", d.blurs, m.blurs, rates.blur)]
        for (name, count, mutantCount, p) in checks {
            let fit = BinomialCount(successes: count, trials: n, p: p)
            XCTAssertFalse(fit.rejects, "\(name): \(fit)")
            let off = BinomialCount(successes: mutantCount, trials: n, p: p)
            XCTAssertTrue(off.rejects, "\(name) 2% too often is not caught: \(off)")
        }
    }

    func testBlurSigmaIsUniformOnTorchvisionsRange() {
        let r = Self.reference.blur_sigma
        XCTAssertEqual(r, [0.1, 2.0])
        let d = coinDraws(flip: 0.5, jitter: 0, grayscale: 0, blur: 1, sigma: r[0]...r[1], count: 200_000)
        let fit = KolmogorovSmirnov(d.sigmas, cdf: uniformCDF(r[0], r[1]))
        XCTAssertFalse(fit.rejects, "sigma: \(fit)")
        let m = coinDraws(flip: 0.5, jitter: 0, grayscale: 0, blur: 1, sigma: r[0]...(r[1] * 1.02), count: 200_000)
        let off = KolmogorovSmirnov(m.sigmas, cdf: uniformCDF(r[0], r[1]))
        XCTAssertTrue(off.rejects, "a sigma range 2% too wide is not caught: \(off)")
    }

    // MARK: RandomResizedCrop

    /// Kept boxes of `count` calls and the number that fell back.
    private func crops(height: Int, width: Int, scale: ClosedRange<Double>, ratio: ClosedRange<Double>,
                       count: Int) -> (kept: [CropBox], fallbacks: Int) {
        var kept: [CropBox] = [], fallbacks = 0
        kept.reserveCapacity(count)
        for i in 0..<count {
            var rng = stream(i)
            if let box = randomResizedCropAttempts(height: height, width: width, scale: scale, ratio: ratio, rng: &rng) {
                kept.append(box)
            } else {
                fallbacks += 1
            }
        }
        return (kept, fallbacks)
    }

    /// Chi-square of kept boxes grouped by `key` against the reference sizes grouped the same way.
    private func fit<Key: Hashable>(_ kept: [CropBox], _ reference: Reference.Crop, by key: (Int, Int) -> Key) -> ChiSquare {
        var expected: [Key: Double] = [:]
        for cell in reference.kept_sizes { expected[key(Int(cell[0]), Int(cell[1])), default: 0] += cell[2] }
        var observed: [Key: Int] = [:]
        var outside = 0
        for b in kept {
            let k = key(b.height, b.width)
            if expected[k] == nil { outside += 1 } else { observed[k, default: 0] += 1 }
        }
        let keys = Array(expected.keys)
        return ChiSquare(observed: keys.map { observed[$0] ?? 0 }, probabilities: keys.map { expected[$0]! }, outside: outside)
    }

    /// Positions given the size: top uniform on 0...H-h and left on 0...W-w (chi-square of the (h, top) and
    /// (w, left) tables against counts / positions, df = cells - sizes).
    private func positionFit(_ kept: [CropBox], height: Int, width: Int) -> ChiSquare {
        var statistic = 0.0, df = 0
        for axis in 0..<2 {
            var table: [Int: [Int]] = [:]
            for b in kept {
                let (size, offset, full) = axis == 0 ? (b.height, b.top, height) : (b.width, b.left, width)
                table[size, default: [Int](repeating: 0, count: full - size + 1)][offset] += 1
            }
            for (_, counts) in table where counts.count > 1 {
                let e = Double(counts.reduce(0, +)) / Double(counts.count)
                guard e >= 5 else { continue }
                statistic += counts.reduce(0) { $0 + (Double($1) - e) * (Double($1) - e) / e }
                df += counts.count - 1
            }
        }
        return ChiSquare(statistic: statistic, degreesOfFreedom: max(df, 1))
    }

    private func reduced(_ w: Int, _ h: Int) -> [Int] {
        var a = w, b = h
        while b != 0 { (a, b) = (b, a % b) }
        return [w / a, h / a]
    }

    func testRandomResizedCropMatchesTorchvisionsExactDistribution() {
        for c in Self.reference.crops {
            let scale = c.scale[0]...c.scale[1], ratio = c.ratio[0]...c.ratio[1]
            // The fallback case needs 10^6 calls for a rate 2% off to be caught; the others 2 x 10^5.
            let n = c.name == "fallback16" ? 1_000_000 : 200_000
            let (kept, fallbacks) = crops(height: c.height, width: c.width, scale: scale, ratio: ratio, count: n)
            let rate = BinomialCount(successes: fallbacks, trials: n, p: c.fallback_rate)
            XCTAssertFalse(rate.rejects, "\(c.name) fallback: \(rate)")
            let central = centralCropBox(height: c.height, width: c.width, ratio: ratio)
            XCTAssertEqual([central.height, central.width], c.fallback_box, c.name)
            XCTAssertEqual(central.top, (c.height - central.height) / 2, c.name)
            XCTAssertEqual(central.left, (c.width - central.width) / 2, c.name)

            let sizes = fit(kept, c) { [$0, $1] }
            XCTAssertFalse(sizes.rejects, "\(c.name) kept sizes: \(sizes)")
            let areas = fit(kept, c) { $0 * $1 }
            XCTAssertFalse(areas.rejects, "\(c.name) kept areas: \(areas)")
            let aspects = fit(kept, c) { reduced($1, $0) }
            XCTAssertFalse(aspects.rejects, "\(c.name) kept aspect ratios: \(aspects)")
            let positions = positionFit(kept, height: c.height, width: c.width)
            XCTAssertFalse(positions.rejects, "\(c.name) positions: \(positions)")

            if c.name == "simclr32" {
                // Mutant: an area fraction drawn from a scale range whose lower end is 2% of the range too high.
                let shifted = (scale.lowerBound + 0.02 * (scale.upperBound - scale.lowerBound))...scale.upperBound
                let m = crops(height: c.height, width: c.width, scale: shifted, ratio: ratio, count: n).kept
                let off = fit(m, c) { $0 * $1 }
                XCTAssertTrue(off.rejects, "an area range 2% off is not caught: \(off)")
            }
            if c.name == "fallback16" {
                // Mutant: 2% more fallbacks (some kept boxes turned into fallbacks).
                let extra = Int((Double(fallbacks) * 0.02).rounded())
                let off = BinomialCount(successes: fallbacks + extra, trials: n, p: c.fallback_rate)
                XCTAssertTrue(off.rejects, "a fallback rate 2% too high is not caught: \(off)")
            }
        }
    }

    /// On a 4096 px square image rounding to pixels no longer matters, and a kept box is uniform on the
    /// region s <= exp(-|t|) of (area fraction s, log-ratio t): closed forms for both marginals.
    func testCropAreaAndLogRatioOnALargeImage() {
        let side = 4096, n = 200_000
        let s0 = 0.08, a = log(4.0 / 3)
        let scale = s0...1.0, ratio = exp(-a)...exp(a)
        // CDF of t: integral of exp(-|u|) - s0 over [-a, x], normalized.
        func logRatioCDF(_ x: Double) -> Double {
            let total = 2 * (1 - exp(-a)) - 2 * a * s0
            let g = x <= 0 ? exp(x) - exp(-a) - s0 * (x + a) : (1 - exp(-a)) + (1 - exp(-x)) - s0 * (x + a)
            return min(1, max(0, g / total))
        }
        // CDF of s: integral of 2 min(a, -ln s) over [s0, x], normalized.
        func areaCDF(_ x: Double) -> Double {
            func h(_ x: Double) -> Double {
                x <= exp(-a) ? 2 * a * (x - s0)
                    : 2 * a * (exp(-a) - s0) + 2 * ((x - x * log(x)) - exp(-a) * (1 + a))
            }
            return min(1, max(0, h(x) / h(1)))
        }
        func marginals(_ kept: [CropBox]) -> (area: KolmogorovSmirnov, logRatio: KolmogorovSmirnov) {
            let area = Double(side * side)
            return (KolmogorovSmirnov(kept.map { Double($0.height * $0.width) / area }, cdf: areaCDF),
                    KolmogorovSmirnov(kept.map { log(Double($0.width) / Double($0.height)) }, cdf: logRatioCDF))
        }
        let (kept, fallbacks) = crops(height: side, width: side, scale: scale, ratio: ratio, count: n)
        XCTAssertEqual(fallbacks, 0)
        let fits = marginals(kept)
        XCTAssertFalse(fits.area.rejects, "area: \(fits.area)")
        XCTAssertFalse(fits.logRatio.rejects, "log-ratio: \(fits.logRatio)")
        // Mutants: the scale range's lower end 2% of the range too high; the log-ratio range 2% too wide.
        let shifted = crops(height: side, width: side, scale: (s0 + 0.02 * (1 - s0))...1.0, ratio: ratio, count: n).kept
        XCTAssertTrue(marginals(shifted).area.rejects, "an area range 2% off is not caught: \(marginals(shifted).area)")
        let wide = crops(height: side, width: side, scale: scale, ratio: exp(-1.02 * a)...exp(1.02 * a), count: n).kept
        XCTAssertTrue(marginals(wide).logRatio.rejects, "a log-ratio range 2% wide is not caught: \(marginals(wide).logRatio)")
    }

    // MARK: the two views of one image

    /// Each view's parameters as numbers: crop area, crop aspect, flip, gray, brightness, hue, blur sigma, order.
    private func viewFeatures(_ p: AugmentationParameters) -> [Double] {
        var brightness = 0.0, hue = 0.0, order: [Int] = []
        for adjustment in p.colorAdjustments {
            switch adjustment {
            case .brightness(let f): brightness = f; order.append(0)
            case .contrast: order.append(1)
            case .saturation: order.append(2)
            case .hue(let f): hue = f; order.append(3)
            }
        }
        let box = p.crop!
        return [Double(box.height * box.width), log(Double(box.width) / Double(box.height)), p.flip ? 1 : 0,
                p.grayscale ? 1 : 0, brightness, hue, p.blurSigma ?? 0, Double(Self.permutationIndex[order] ?? -1)]
    }

    private static let featureNames = ["crop area", "crop aspect", "flip", "grayscale", "brightness", "hue",
                                       "blur sigma", "jitter order"]

    /// Checks of independence between the views: a contingency table per feature (continuous ones cut at
    /// the deciles of view 1) and a correlation per feature. Returns the failures, by feature.
    private func dependence(_ first: [[Double]], _ second: [[Double]]) -> [String: [String]] {
        var failures: [String: [String]] = [:]
        for (k, name) in Self.featureNames.enumerated() {
            let x = first.map { $0[k] }, y = second.map { $0[k] }
            let categorical = name == "flip" || name == "grayscale" || name == "jitter order"
            let cuts = categorical ? [] : (1..<10).map { x.sorted()[x.count * $0 / 10] }
            func bin(_ v: Double) -> Int { categorical ? Int(v) : cuts.filter { v >= $0 }.count }
            let size = categorical ? (name == "jitter order" ? 24 : 2) : 10
            var table = [[Int]](repeating: [Int](repeating: 0, count: size), count: size)
            for (a, b) in zip(x, y) { table[bin(a)][bin(b)] += 1 }
            let independence = ChiSquare.independence(table)
            if independence.rejects { failures[name, default: []].append("\(independence)") }
            let (r, z) = correlation(x, y)
            // |z| > 4.89 has probability 1e-6 under independence.
            if abs(z) > 4.89 { failures[name, default: []].append(String(format: "correlation %.4f (z = %.1f)", r, z)) }
        }
        return failures
    }

    func testTheTwoViewsOfAnImageAreIndependent() {
        let augmentation = Augmentation(.simclr(outputSize: 32))
        var first: [[Double]] = [], second: [[Double]] = []
        for i in 0..<200_000 {
            var a = stream(i, view: 0), b = stream(i, view: 1)
            first.append(viewFeatures(augmentation.sampleParameters(height: 32, width: 32, rng: &a)))
            second.append(viewFeatures(augmentation.sampleParameters(height: 32, width: 32, rng: &b)))
        }
        XCTAssertEqual(dependence(first, second), [:])
        // Mutant: every 50th image's second view repeats the first view's parameters.
        let copied = second.enumerated().map { $0.offset % 50 == 0 ? first[$0.offset] : $0.element }
        let caught = dependence(first, copied)
        XCTAssertEqual(Set(caught.keys), Set(Self.featureNames), "2% of shared views is missed for some parameters: \(caught)")
    }
}
