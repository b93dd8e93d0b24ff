import Foundation

/// SplitMix64 (Steele, Lea and Flood, 2014): the mixer every `RandomStream` is seeded and keyed through, and
/// the generator of the domains that draw from it directly (model init, MoCo's queue, t-SNE, PCA, bench views).
public struct SplitMix64: RandomNumberGenerator {
    private var state: UInt64
    public init(seed: UInt64) { state = seed }

    /// The stream of `domain` (one of the SplitMix64 domains) for `seed` and the domain's `key`.
    public init(_ domain: RandomDomain, seed: UInt64, key: Int = 0) {
        precondition(domain.generator == .splitMix, "\(domain) draws from RandomStream")
        self.init(seed: domain.splitMixSeed(seed, key: key))
    }

    public mutating func next() -> UInt64 {
        state &+= 0x9E37_79B9_7F4A_7C15
        var z = state
        z = (z ^ (z >> 30)) &* 0xBF58_476D_1CE4_E5B9
        z = (z ^ (z >> 27)) &* 0x94D0_49BB_1331_11EB
        return z ^ (z >> 31)
    }

    /// The first output of the generator seeded by `value`: a bijective 64-bit mixer.
    @inline(__always)
    public static func mix(_ value: UInt64) -> UInt64 {
        var generator = SplitMix64(seed: value)
        return generator.next()
    }

    /// Uniform in [0, 1) with 53 random bits.
    public mutating func nextUnit() -> Double { Double(next() >> 11) * 0x1p-53 }
    /// Standard normal (Box-Muller).
    public mutating func nextNormal() -> Double {
        let u1 = max(nextUnit(), 1e-300), u2 = nextUnit()
        return (-2 * log(u1)).squareRoot() * cos(2 * .pi * u2)
    }
}
