import Foundation
import XCTest

/// The statistics of the sampler tests against SciPy's values (scipy.stats.chi2.sf,
/// scipy.special.kolmogorov, scipy.stats.poisson).
final class StatisticsTests: XCTestCase {
    func testChiSquareUpperTail() {
        let cases: [(x: Double, df: Int, p: Double)] = [
            (30, 20, 0.06985366069940986), (100, 50, 3.454931382984871e-05), (3, 1, 0.08326451666355042),
            (23.93, 1, 9.990275657592941e-07), (600, 529, 0.017324882886313793), (0.5, 3, 0.9188914116546758),
            (150, 23, 1.2734306615446527e-20),
        ]
        for c in cases {
            let p = chiSquareUpperTail(c.x, degreesOfFreedom: c.df)
            XCTAssertEqual(p / c.p, 1, accuracy: 1e-9, "chi2(\(c.x), \(c.df)) = \(p), SciPy \(c.p)")
        }
    }

    func testKolmogorovTail() {
        // At n = 10^8 Stephens' correction moves the argument by 1e-5: the p-value is Kolmogorov's Q(sqrt(n) D) to 1e-3.
        let n = 100_000_000
        for (lambda, q) in [(0.5, 0.9639452436648751), (1.0, 0.26999967167735456), (2.0, 0.0006709252557796953),
                            (2.69, 1.0371304724272216e-06)] {
            let ks = KolmogorovSmirnov(statistic: lambda / Double(n).squareRoot(), count: n)
            XCTAssertEqual(ks.pValue / q, 1, accuracy: 1e-3, "Q(\(lambda))")
        }
        // The statistic itself: three samples against U(0, 1).
        XCTAssertEqual(KolmogorovSmirnov([0.1, 0.2, 0.9], cdf: uniformCDF(0, 1)).statistic, 0.4666666, accuracy: 1e-6)
    }

    func testBinomialCount() {
        // Normal range: 10 standard deviations out is rejected, 1 is not.
        XCTAssertTrue(BinomialCount(successes: 200_000 + 4000, trials: 1_000_000, p: 0.2).rejects)
        XCTAssertFalse(BinomialCount(successes: 200_000 + 400, trials: 1_000_000, p: 0.2).rejects)
        // Poisson range: P(X >= 10) for mean 2.5 is 2.77e-4 (SciPy), doubled for two sides.
        XCTAssertEqual(BinomialCount(successes: 10, trials: 1_000_000, p: 2.5e-6).pValue, 2 * 0.0002773520946208362,
                       accuracy: 1e-7)
        XCTAssertEqual(BinomialCount(successes: 0, trials: 1_000_000, p: 1e-10).pValue, 1)
    }

    func testPearsonPoolsSmallCellsAndCountsOutsiders() {
        let fit = ChiSquare(observed: [50, 50, 0], probabilities: [0.5, 0.49, 0.01])
        XCTAssertEqual(fit.degreesOfFreedom, 2)
        XCTAssertEqual(fit.statistic, 0 + 1.0 / 49 + 1, accuracy: 1e-12)   // the 0.01 cell (expected 1) is pooled
        XCTAssertTrue(ChiSquare(observed: [50, 49, 1], probabilities: [0.5, 0.49, 0.01], outside: 30).rejects)
        let independent = ChiSquare.independence([[100, 100], [100, 100]])
        XCTAssertEqual(independent.statistic, 0)
        XCTAssertEqual(independent.degreesOfFreedom, 1)
    }
}
