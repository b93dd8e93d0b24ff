/// A small, fast, deterministic PRNG: xoshiro256** seeded through splitmix64.
///
/// Streams are pure functions of their key: the program makes every stream with `init(_:seed:key:)`, whose
/// domain tag says what the numbers are for (docs/random-streams.md lists every domain and its key), so the
/// augmentation of a sample depends on nothing else: not on thread scheduling, worker count, the rank that
/// reads it or what was drawn before.
public struct RandomStream: RandomNumberGenerator, Sendable {
    private var s0: UInt64, s1: UInt64, s2: UInt64, s3: UInt64

    /// A stream seeded by one 64-bit value (state filled by splitmix64, as xoshiro's authors recommend).
    public init(seed: UInt64) {
        var splitMix = SplitMix64(seed: seed)
        s0 = splitMix.next(); s1 = splitMix.next(); s2 = splitMix.next(); s3 = splitMix.next()
    }

    /// A stream keyed by `seed` and a path of integers, splitmix64's mixer chained over them. The program's
    /// streams start the path with their domain's tag (`init(_:seed:key:)`); this raw form is that derivation.
    public init(seed: UInt64, key: [Int]) {
        var h = SplitMix64.mix(seed)
        for k in key { h = SplitMix64.mix(h ^ SplitMix64.mix(UInt64(bitPattern: Int64(k)))) }
        self.init(seed: h)
    }

    /// The stream of `domain` for `seed` and the domain's `key` (see `RandomDomain`).
    public init(_ domain: RandomDomain, seed: UInt64, key: Int...) {
        precondition(domain.generator == .xoshiro, "\(domain) draws from SplitMix64")
        // The augmentation's path keeps a 0 where early versions put the rank (every caller passed 0), so
        // every view stays what it was.
        self.init(seed: seed, key: domain == .augmentation ? [domain.rawValue, 0] + key : [domain.rawValue] + key)
    }

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
