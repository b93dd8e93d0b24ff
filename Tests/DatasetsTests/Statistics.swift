import Foundation

// Goodness-of-fit statistics for the sampler tests. Every test rejects at the same significance level
// (its seeds are fixed, so a result never changes between runs; the level says how unlikely a correct
// sampler is to fail with a new seed or stream).

/// The significance level of every distribution test: a correct sampler fails one with probability 1e-6.
let significance = 1e-6

/// A chi-square statistic with its degrees of freedom and upper-tail probability.
struct ChiSquare: CustomStringConvertible {
    let statistic: Double
    let degreesOfFreedom: Int
    var pValue: Double { chiSquareUpperTail(statistic, degreesOfFreedom: degreesOfFreedom) }
    var rejects: Bool { pValue < significance }
    var description: String {
        String(format: "chi2 = %.1f on %d df (p = %.3g)", statistic, degreesOfFreedom, pValue)
    }

    /// Pearson's statistic of counts against cell probabilities (summing to 1). Cells expected to hold
    /// fewer than 5 are pooled into one, so the chi-square approximation holds; observations in no cell
    /// go to the pooled cell, where they count against the fit.
    init(observed: [Int], probabilities: [Double], outside: Int = 0) {
        let total = Double(observed.reduce(outside, +))
        var statistic = 0.0, cells = 0
        var pooledObserved = Double(outside), pooledExpected = 0.0
        for (o, p) in zip(observed, probabilities) {
            let e = p * total
            if e < 5 {
                pooledObserved += Double(o)
                pooledExpected += e
            } else {
                statistic += (Double(o) - e) * (Double(o) - e) / e
                cells += 1
            }
        }
        if pooledExpected > 0 || pooledObserved > 0 {
            let e = max(pooledExpected, 1e-9)
            statistic += (pooledObserved - e) * (pooledObserved - e) / e
            cells += 1
        }
        self.init(statistic: statistic, degreesOfFreedom: max(cells - 1, 1))
    }

    init(statistic: Double, degreesOfFreedom: Int) {
        self.statistic = statistic
        self.degreesOfFreedom = degreesOfFreedom
    }

    /// The test of independence of two categorical variables from their contingency table (expected
    /// counts from the margins; df = (rows - 1)(columns - 1)). Rows and columns that are empty are dropped.
    static func independence(_ table: [[Int]]) -> ChiSquare {
        let rows = table.map { $0.reduce(0, +) }
        let columns = (0..<(table.first?.count ?? 0)).map { c in table.reduce(0) { $0 + $1[c] } }
        let total = Double(rows.reduce(0, +))
        var statistic = 0.0
        for (r, row) in table.enumerated() where rows[r] > 0 {
            for (c, o) in row.enumerated() where columns[c] > 0 {
                let e = Double(rows[r]) * Double(columns[c]) / total
                statistic += (Double(o) - e) * (Double(o) - e) / e
            }
        }
        let df = (rows.filter { $0 > 0 }.count - 1) * (columns.filter { $0 > 0 }.count - 1)
        return ChiSquare(statistic: statistic, degreesOfFreedom: max(df, 1))
    }
}

/// P(X > x) for X chi-square with `df` degrees of freedom: the regularized upper incomplete gamma function
/// Q(df/2, x/2), by its power series below a + 1 and its continued fraction (modified Lentz) above.
func chiSquareUpperTail(_ x: Double, degreesOfFreedom df: Int) -> Double {
    let a = Double(df) / 2, z = x / 2
    if z <= 0 { return 1 }
    let logPrefactor = -z + a * log(z) - lgamma(a)
    if z < a + 1 {
        var term = 1 / a, sum = term, n = a
        while term > sum * 1e-16 {
            n += 1
            term *= z / n
            sum += term
        }
        return max(0, 1 - sum * exp(logPrefactor))
    }
    let tiny = 1e-300
    var b = z + 1 - a, c = 1 / tiny, d = 1 / b, h = d
    for i in 1...10_000 {
        let an = -Double(i) * (Double(i) - a)
        b += 2
        d = an * d + b
        if abs(d) < tiny { d = tiny }
        c = b + an / c
        if abs(c) < tiny { c = tiny }
        d = 1 / d
        let step = d * c
        h *= step
        if abs(step - 1) < 1e-15 { break }
    }
    return exp(logPrefactor) * h
}

/// The Kolmogorov-Smirnov statistic of samples against a continuous CDF, with its upper-tail probability
/// (Kolmogorov's limit distribution at Stephens' corrected argument (sqrt(n) + 0.12 + 0.11 / sqrt(n)) D).
struct KolmogorovSmirnov: CustomStringConvertible {
    let statistic: Double
    let count: Int

    init(statistic: Double, count: Int) {
        self.statistic = statistic
        self.count = count
    }

    init(_ samples: [Double], cdf: (Double) -> Double) {
        let sorted = samples.sorted()
        let n = Double(sorted.count)
        var d = 0.0
        for (i, x) in sorted.enumerated() {
            let f = cdf(x)
            d = max(d, f - Double(i) / n, Double(i + 1) / n - f)
        }
        statistic = d
        count = sorted.count
    }

    var pValue: Double {
        let rootN = Double(count).squareRoot()
        let lambda = (rootN + 0.12 + 0.11 / rootN) * statistic
        if lambda < 0.2 { return 1 }
        var sum = 0.0
        for k in 1...100 {
            let term = exp(-2 * Double(k * k) * lambda * lambda)
            sum += k % 2 == 1 ? term : -term
            if term < 1e-17 { break }
        }
        return min(1, max(0, 2 * sum))
    }

    var rejects: Bool { pValue < significance }
    var description: String { String(format: "KS D = %.5f over %d samples (p = %.3g)", statistic, count, pValue) }
}

/// The uniform CDF on [lo, hi].
func uniformCDF(_ lo: Double, _ hi: Double) -> (Double) -> Double {
    { x in min(1, max(0, (x - lo) / (hi - lo))) }
}

/// A count of successes in `trials` against probability `p`: two-sided, exact enough at every size (the
/// normal approximation from 20 expected successes and failures on, a Poisson tail below).
struct BinomialCount: CustomStringConvertible {
    let successes: Int
    let trials: Int
    let p: Double

    var pValue: Double {
        let n = Double(trials), k = Double(successes)
        let mean = n * p
        if mean >= 20 && n * (1 - p) >= 20 {
            let z = abs(k - mean) / (n * p * (1 - p)).squareRoot()
            return erfc(z / 2.squareRoot())
        }
        // Rare events: Poisson(mean) tails, doubled.
        var cdf = 0.0, term = exp(-mean)
        for i in 0...successes {
            if i > 0 { term *= mean / Double(i) }
            cdf += term
        }
        let upper = 1 - cdf + term            // P(X >= k)
        return min(1, 2 * min(cdf, upper))
    }

    var rejects: Bool { pValue < significance }
    var description: String {
        String(format: "%d of %d (rate %.5f, expected %.5f, p = %.3g)", successes, trials,
               Double(successes) / Double(trials), p, pValue)
    }
}

/// Pearson's correlation coefficient and its z-score under independence (sqrt(n) r is about N(0, 1)).
func correlation(_ x: [Double], _ y: [Double]) -> (r: Double, z: Double) {
    let n = Double(x.count)
    let mx = x.reduce(0, +) / n, my = y.reduce(0, +) / n
    var sxy = 0.0, sxx = 0.0, syy = 0.0
    for (a, b) in zip(x, y) {
        sxy += (a - mx) * (b - my)
        sxx += (a - mx) * (a - mx)
        syy += (b - my) * (b - my)
    }
    let r = sxy / (sxx * syy).squareRoot()
    return (r, r * n.squareRoot())
}
