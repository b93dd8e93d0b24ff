import Foundation

/// A linear axis over a data interval, with "nice" tick values (1, 2 or 5 times a power of ten).
public struct LinearAxis: Equatable {
    /// The interval drawn, widened to whole tick steps.
    public let lower: Double
    public let upper: Double
    public let ticks: [Double]
    public let step: Double

    /// An axis covering `lower...upper` (in any order) with about `targetTicks` ticks. A degenerate or
    /// non-finite interval is widened to something drawable.
    public init(covering lower: Double, _ upper: Double, targetTicks: Int = 6) {
        var lo = Swift.min(lower, upper), hi = Swift.max(lower, upper)
        if !lo.isFinite || !hi.isFinite { (lo, hi) = (0, 1) }
        if hi - lo < 1e-12 * Swift.max(1, abs(lo)) {
            let pad = lo == 0 ? 1 : abs(lo) * 0.1
            (lo, hi) = (lo - pad, hi + pad)
        }
        let step = LinearAxis.niceStep((hi - lo) / Double(Swift.max(1, targetTicks - 1)))
        let first = (lo / step).rounded(.down) * step, last = (hi / step).rounded(.up) * step
        var ticks: [Double] = []
        var k = 0
        while true {
            let t = first + Double(k) * step
            if t > last + step * 1e-9 { break }
            ticks.append(abs(t) < step * 1e-9 ? 0 : t)   // no "-0"
            k += 1
        }
        self.lower = first
        self.upper = last
        self.ticks = ticks
        self.step = step
    }

    /// The smallest 1, 2 or 5 x 10^k that is at least `rough`.
    public static func niceStep(_ rough: Double) -> Double {
        guard rough > 0, rough.isFinite else { return 1 }
        let magnitude = pow(10, (log10(rough)).rounded(.down))
        let fraction = rough / magnitude
        let nice: Double = fraction <= 1 ? 1 : fraction <= 2 ? 2 : fraction <= 5 ? 5 : 10
        return nice * magnitude
    }

    /// Position of `value` in [0, 1] along the axis.
    public func fraction(_ value: Double) -> Double { (value - lower) / (upper - lower) }

    /// A tick label with as many decimals as the step needs (plain exponent notation for very large or
    /// very small steps).
    public func label(_ value: Double) -> String {
        if step >= 1e6 || step < 1e-4 { return String(format: "%g", value) }
        let decimals = Swift.max(0, Int((-log10(step)).rounded(.up)))
        return String(format: "%.\(decimals)f", value)
    }
}

/// The finite range of some values, nil when none is finite.
func finiteRange<S: Sequence>(_ values: S) -> (Double, Double)? where S.Element == Double {
    var lo = Double.infinity, hi = -Double.infinity
    for v in values where v.isFinite { lo = min(lo, v); hi = max(hi, v) }
    return lo <= hi ? (lo, hi) : nil
}
