import Foundation

/// How an MPI collective moves its bytes, as the latency-bandwidth (alpha-beta) model sees it: a call on W
/// ranks of n bytes takes `latencySteps(W) * alpha + bandwidthFactor(W) * n * beta`, where alpha is the cost of
/// one message step and beta the seconds per byte one link carries (Thakur, Rabenseifner and Gropp,
/// "Optimization of collective communication operations in MPICH", 2005; nccl-tests' busbw uses the same
/// bandwidth factors). The reduction's arithmetic is folded into beta.
public enum CollectiveAlgorithm: String, Codable, CaseIterable, Sendable {
    /// All-reduce: reduce-scatter then all-gather around a ring (libnbc 1, coll/tuned 4).
    case ring
    /// All-reduce: recursive-halving reduce-scatter then recursive-doubling all-gather (libnbc 3, coll/tuned 6).
    case rabenseifner
    /// All-reduce as the project sets it at MPI init (Sources/Cluster/CollectiveAlgorithms.swift): Rabenseifner
    /// on a power-of-two rank count, the ring on any other.
    case projectAllReduce = "rabenseifner-or-ring"
    /// All-reduce: log2(W) exchanges of the whole message (libnbc 4 / coll/tuned 3).
    case recursiveDoubling = "recursive-doubling"
    /// All-gather: log2(W) exchanges, each of everything gathered so far (libnbc 2 / coll/tuned 3), so each
    /// link carries (W - 1)/W of the result, as a ring does, in log2(W) steps instead of W - 1.
    case recursiveDoublingGather = "recursive-doubling-gather"
    /// All-reduce: binomial reduce to rank 0, then binomial broadcast (libnbc 2, and libnbc's choice for
    /// in-place calls when no algorithm is set).
    case binomial
    /// All-gather: each rank's block around a ring (coll/tuned 4).
    case ringGather = "ring-gather"

    /// Message steps on the critical path.
    ///
    /// On a rank count that is not a power of two, libnbc's Rabenseifner and recursive-doubling all-reduces
    /// first fold the W - P extra ranks (P = the largest power of two below W) into partners and hand them the
    /// result at the end: Rabenseifner exchanges half vectors, reduces, sends the partner's half back and finally
    /// the whole result (3 more steps moving 2 more vectors), recursive doubling sends the whole vector before and
    /// after (2 more steps, 2 more vectors); libnbc's recursive-doubling all-gather falls back to the linear one
    /// (every block to every rank), costed as a ring: W - 1 steps of 1/W of the result.
    public func latencySteps(ranks w: Int) -> Double {
        guard w > 1 else { return 0 }
        let log2w = ceil(log2(Double(w)))
        let p = Self.powerOfTwo(atMost: w), log2p = log2(Double(p)), folded = p != w
        switch self {
        case .ring: return 2 * Double(w - 1)
        case .projectAllReduce: return (folded ? CollectiveAlgorithm.ring : .rabenseifner).latencySteps(ranks: w)
        case .rabenseifner: return 2 * log2p + (folded ? 3 : 0)
        case .recursiveDoubling: return log2p + (folded ? 2 : 0)
        case .recursiveDoublingGather: return folded ? Double(w - 1) : log2p
        case .binomial: return 2 * log2w
        case .ringGather: return Double(w - 1)
        }
    }

    /// Bytes each link carries per byte of the message (of an all-gather: of its result).
    public func bandwidthFactor(ranks w: Int) -> Double {
        guard w > 1 else { return 0 }
        let n = Double(w), p = Double(Self.powerOfTwo(atMost: w)), folded = p != n
        switch self {
        case .ring, .projectAllReduce: return 2 * (n - 1) / n
        case .rabenseifner: return (p > 1 ? 2 * (p - 1) / p : 0) + (folded ? 2 : 0)
        case .recursiveDoubling: return log2(p) + (folded ? 2 : 0)
        case .binomial: return 2 * ceil(log2(n))
        case .ringGather, .recursiveDoublingGather: return (n - 1) / n
        }
    }

    /// The largest power of two <= w (w >= 1).
    static func powerOfTwo(atMost w: Int) -> Int { 1 << (Int.bitWidth - 1 - w.leadingZeroBitCount) }
}

/// One collective's fitted cost on one link.
public struct AlphaBeta: Codable, Equatable, Sendable {
    public var algorithm: CollectiveAlgorithm
    /// Seconds per message step.
    public var alpha: Double
    /// Seconds per byte a link carries.
    public var beta: Double

    public init(algorithm: CollectiveAlgorithm, alpha: Double, beta: Double) {
        self.algorithm = algorithm; self.alpha = alpha; self.beta = beta
    }

    /// Predicted seconds of one call of `bytes` on `ranks` ranks (0 on one rank: nothing crosses).
    public func seconds(bytes: Int, ranks: Int) -> Double {
        guard ranks > 1, bytes > 0 else { return 0 }
        return algorithm.latencySteps(ranks: ranks) * alpha + algorithm.bandwidthFactor(ranks: ranks) * Double(bytes) * beta
    }

    /// The link rate beta implies, in Gbit/s of payload.
    public var gigabitsPerSecond: Double { beta > 0 ? 8 / beta / 1e9 : .infinity }

    /// Least squares on relative error: minimizes sum(((a_i alpha + b_i beta) / t_i - 1)^2) over the points,
    /// with alpha, beta >= 0. Points on one rank carry no information and are skipped.
    public static func fit(_ points: [SweepPoint], algorithm: CollectiveAlgorithm) throws -> AlphaBeta {
        let usable = points.filter { $0.ranks > 1 && $0.seconds > 0 }
        let rows = usable.map { p in
            (algorithm.latencySteps(ranks: p.ranks) / p.seconds,
             algorithm.bandwidthFactor(ranks: p.ranks) * Double(p.bytes) / p.seconds)
        }
        guard rows.count >= 2 else {
            throw ScalingModelError.notEnoughData("an alpha-beta fit needs at least 2 sweep points on 2 or more ranks, got \(rows.count)")
        }
        var sxx = 0.0, sxy = 0.0, syy = 0.0, sx = 0.0, sy = 0.0
        for (x, y) in rows { sxx += x * x; sxy += x * y; syy += y * y; sx += x; sy += y }
        let det = sxx * syy - sxy * sxy
        var alpha = det != 0 ? (sx * syy - sy * sxy) / det : 0
        var beta = det != 0 ? (sy * sxx - sx * sxy) / det : 0
        if alpha < 0 { alpha = 0; beta = syy > 0 ? sy / syy : 0 }
        if beta < 0 { beta = 0; alpha = sxx > 0 ? sx / sxx : 0 }
        return AlphaBeta(algorithm: algorithm, alpha: alpha, beta: beta)
    }

    /// Median of |predicted / measured - 1| over the points.
    public func medianRelativeError(_ points: [SweepPoint]) -> Double {
        let errors = relativeErrors(points)
        return errors.isEmpty ? 0 : errors[errors.count / 2]
    }

    /// Median of predicted / measured - 1 (negative: the model is too fast).
    public func medianSignedError(_ points: [SweepPoint]) -> Double {
        let errors = points.filter { $0.ranks > 1 && $0.seconds > 0 }.map { seconds(bytes: $0.bytes, ranks: $0.ranks) / $0.seconds - 1 }.sorted()
        return errors.isEmpty ? 0 : errors[errors.count / 2]
    }

    /// Largest |predicted / measured - 1| over the points.
    public func largestRelativeError(_ points: [SweepPoint]) -> Double { relativeErrors(points).last ?? 0 }

    private func relativeErrors(_ points: [SweepPoint]) -> [Double] {
        points.filter { $0.ranks > 1 && $0.seconds > 0 }.map { abs(seconds(bytes: $0.bytes, ranks: $0.ranks) / $0.seconds - 1) }.sorted()
    }
}

/// What the model knows of one link: the cost of the collectives the step uses.
public struct LinkModel: Codable, Equatable, Sendable {
    public var name: String
    public var allReduce: AlphaBeta
    public var allGather: AlphaBeta

    public init(name: String, allReduce: AlphaBeta, allGather: AlphaBeta) {
        self.name = name; self.allReduce = allReduce; self.allGather = allGather
    }

    /// Fits both collectives on the sweep points of this link with at most `maximumRanks` ranks that measured
    /// the algorithm costed (a sweep of several algorithms, as `deploy/collectives.sh` writes, is filtered).
    public static func fit(name: String, points: [SweepPoint], maximumRanks: Int,
                           allReduceAlgorithm: CollectiveAlgorithm = .projectAllReduce,
                           allGatherAlgorithm: CollectiveAlgorithm = .recursiveDoublingGather) throws -> LinkModel {
        let usable = points.filter { $0.ranks <= maximumRanks }
        do {
            return LinkModel(name: name,
                             allReduce: try AlphaBeta.fit(usable.filter { $0.collective == .allReduce && $0.measured(allReduceAlgorithm) },
                                                          algorithm: allReduceAlgorithm),
                             allGather: try AlphaBeta.fit(usable.filter { $0.collective == .allGather && $0.measured(allGatherAlgorithm) },
                                                          algorithm: allGatherAlgorithm))
        } catch ScalingModelError.notEnoughData(let why) {
            throw ScalingModelError.notEnoughData("link \(name), ranks <= \(maximumRanks): \(why)")
        }
    }

    /// Each collective's label, cost and sweep kind.
    public var costs: [(label: String, cost: AlphaBeta, collective: SweepPoint.Collective)] {
        [("all-reduce", allReduce, .allReduce), ("all-gather", allGather, .allGather)]
    }

    /// Fits every link the points name (by `link`), on ranks <= `maximumRanks`.
    public static func fitEach(_ points: [SweepPoint], maximumRanks: Int) throws -> [String: LinkModel] {
        var links: [String: LinkModel] = [:]
        for name in Set(points.map(\.link)).sorted() {
            links[name] = try LinkModel.fit(name: name, points: points.filter { $0.link == name }, maximumRanks: maximumRanks)
        }
        guard !links.isEmpty else { throw ScalingModelError.notEnoughData("no sweep points") }
        return links
    }

    /// This link's model on a link of `gigabits` Gbit/s, when this one's nominal rate is `nominalGigabits`:
    /// each collective keeps its per-step latency (alpha) and the fraction of the nominal rate it delivered
    /// (beta scaled by nominal / gigabits), for extrapolating to links not measured. At `gigabits` ==
    /// `nominalGigabits` it is this link.
    public func scaled(fromNominal nominalGigabits: Double, toGigabits gigabits: Double, name: String) -> LinkModel {
        var copy = self
        copy.name = name
        copy.allReduce.beta *= nominalGigabits / gigabits
        copy.allGather.beta *= nominalGigabits / gigabits
        return copy
    }
}

public enum ScalingModelError: Error, CustomStringConvertible, Equatable {
    case notEnoughData(String)
    case badInput(String)
    public var description: String {
        switch self {
        case .notEnoughData(let s): return "not enough data: \(s)"
        case .badInput(let s): return s
        }
    }
}

extension CollectiveAlgorithm {
    /// The algorithm an OpenMPI run label names (`deploy/collectives.sh`'s `PATH:N`: `nbc:N` = libnbc's
    /// `coll_libnbc_i<collective>_algorithm` N, `tuned:N` / `tuned-yield:N` = coll/tuned's N), or nil for a
    /// label this model has no cost formula for (OpenMPI's own choice `:0`, linear, Bruck, ...).
    public init?(openMPILabel label: String, collective: SweepPoint.Collective) {
        let parts = label.split(separator: ":")
        guard parts.count == 2, let n = Int(parts[1]) else { return nil }
        let table: [Int: CollectiveAlgorithm]
        switch (parts[0], collective) {
        case ("nbc", .allReduce): table = [1: .ring, 2: .binomial, 3: .rabenseifner, 4: .recursiveDoubling]
        case ("nbc", .allGather): table = [2: .recursiveDoublingGather]
        case ("tuned", .allReduce), ("tuned-yield", .allReduce): table = [3: .recursiveDoubling, 4: .ring, 6: .rabenseifner]
        case ("tuned", .allGather), ("tuned-yield", .allGather): table = [3: .recursiveDoublingGather, 4: .ringGather]
        default: return nil
        }
        guard let algorithm = table[n] else { return nil }
        self = algorithm
    }
}

extension SweepPoint {
    /// Whether this point measured `algorithm` (the project's all-reduce: Rabenseifner at a power-of-two rank
    /// count, the ring elsewhere). A point without a recorded algorithm is taken as measured with it: say which
    /// one its sweep ran (`cluster-check bandwidth --sweep --nonblocking` runs the project's defaults).
    public func measured(_ algorithm: CollectiveAlgorithm) -> Bool {
        guard !self.algorithm.isEmpty else { return true }
        let ran = CollectiveAlgorithm(openMPILabel: self.algorithm, collective: collective)
        if algorithm == .projectAllReduce { return ran == (ranks & (ranks - 1) == 0 ? .rabenseifner : .ring) }
        return ran == algorithm
    }
}
