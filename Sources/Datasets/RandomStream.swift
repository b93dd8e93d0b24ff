/// A small, fast, deterministic PRNG: xoshiro256** seeded through splitmix64.
///
/// Streams are pure functions of their key: `RandomStream(seed:rank:epoch:sample:substream:)` hashes the
/// five numbers (splitmix64's finalizer, chained), so the augmentation of a sample depends on nothing else:
/// not on thread scheduling, worker count or what was drawn before (docs/random-streams.md lists the keys).
public struct RandomStream: RandomNumberGenerator, Sendable {
    private var s0: UInt64, s1: UInt64, s2: UInt64, s3: UInt64

    /// splitmix64's output function: a bijective 64-bit mixer.
    @inline(__always)
    public static func mix(_ value: UInt64) -> UInt64 {
        var z = value &+ 0x9E37_79B9_7F4A_7C15
        z = (z ^ (z >> 30)) &* 0xBF58_476D_1CE4_E5B9
        z = (z ^ (z >> 27)) &* 0x94D0_49BB_1331_11EB
        return z ^ (z >> 31)
    }

    /// A stream seeded by one 64-bit value (state filled by splitmix64, as xoshiro's authors recommend).
    public init(seed: UInt64) {
        var x = seed
        func nextSplitMix() -> UInt64 {
            x = x &+ 0x9E37_79B9_7F4A_7C15
            var z = x
            z = (z ^ (z >> 30)) &* 0xBF58_476D_1CE4_E5B9
            z = (z ^ (z >> 27)) &* 0x94D0_49BB_1331_11EB
            return z ^ (z >> 31)
        }
        s0 = nextSplitMix(); s1 = nextSplitMix(); s2 = nextSplitMix(); s3 = nextSplitMix()
    }

    /// A stream keyed by `seed` and a path of integers (a domain tag first keeps different uses apart).
    public init(seed: UInt64, key: [Int]) {
        var h = RandomStream.mix(seed)
        for k in key { h = RandomStream.mix(h ^ RandomStream.mix(UInt64(bitPattern: Int64(k)))) }
        self.init(seed: h)
    }

    /// The augmentation stream of one sample: a deterministic function of these five numbers.
    /// `substream` separates the two views of a sample (0 and 1).
    public init(seed: UInt64, rank: Int, epoch: Int, sample: Int, substream: Int = 0) {
        self.init(seed: seed, key: [RandomStream.augmentationDomain, rank, epoch, sample, substream])
    }

    static let augmentationDomain = 0x4155_4755   // "AUGU"
    static let samplerDomain = 0x5341_4D50        // "SAMP"
    static let syntheticDomain = 0x5359_4E54      // "SYNT"

    @inline(__always)
    public mutating func next() -> UInt64 {
        let result = ((s1 &* 5) << 7 | (s1 &* 5) >> 57) &* 9
        let t = s1 << 17
        s2 ^= s0
        s3 ^= s1
        s1 ^= s2
        s0 ^= s3
        s2 ^= t
        s3 = s3 << 45 | s3 >> 19
        return result
    }

    /// Uniform in [0, 1) with 53 random bits.
    @inline(__always)
    public mutating func uniform() -> Double {
        Double(next() >> 11) * 0x1.0p-53
    }

    /// Uniform in [lo, hi] (hi itself has probability ~0, as with torch's `uniform_`).
    @inline(__always)
    public mutating func uniform(in range: ClosedRange<Double>) -> Double {
        range.lowerBound + (range.upperBound - range.lowerBound) * uniform()
    }

    /// Float uniform in [lo, hi).
    @inline(__always)
    public mutating func uniformFloat(_ lo: Float, _ hi: Float) -> Float {
        lo + (hi - lo) * Float(next() >> 40) * 0x1.0p-24
    }

    /// True with probability p.
    @inline(__always)
    public mutating func bernoulli(_ p: Double) -> Bool {
        uniform() < p
    }

    /// Uniform integer in 0..<n, unbiased (Lemire's multiply-and-reject).
    public mutating func int(below n: Int) -> Int {
        precondition(n > 0, "int(below: \(n))")
        let bound = UInt64(n)
        var m = next().multipliedFullWidth(by: bound)
        if m.low < bound {
            let threshold = (0 &- bound) % bound
            while m.low < threshold { m = next().multipliedFullWidth(by: bound) }
        }
        return Int(m.high)
    }

    /// A uniformly random permutation of 0..<n (Fisher-Yates; our own so it never changes with the toolchain).
    public mutating func permutation(_ n: Int) -> [Int] {
        var p = Array(0..<n)
        if n < 2 { return p }
        for i in stride(from: n - 1, to: 0, by: -1) {
            p.swapAt(i, int(below: i + 1))
        }
        return p
    }
}
