import Foundation
import Kernels

/// Settings of exact t-SNE; the defaults are van der Maaten & Hinton (2008) with sklearn's learning rate.
public struct TSNEConfig: Equatable {
    public var perplexity = 30.0
    public var iterations = 1000
    public var learningRate = 200.0
    /// P is multiplied by this for the first `exaggerationIterations` iterations.
    public var earlyExaggeration = 12.0
    public var exaggerationIterations = 250
    public var initialMomentum = 0.5
    public var finalMomentum = 0.8
    /// The iteration from which `finalMomentum` is used.
    public var momentumSwitchIteration = 250
    public var minGain = 0.01
    /// The initial layout is drawn from N(0, initialStd^2) (1e-4 variance).
    public var initialStd = 1e-2
    public var seed: UInt64 = 0
    /// The KL divergence is computed (and `progress` called) every this many iterations and at the end.
    public var reportEvery = 100

    public init() {}
}

/// Exact t-SNE (van der Maaten & Hinton 2008), O(N^2) time and memory (8 N^2 bytes for P): Gaussian input
/// affinities with each point's bandwidth found by binary search on beta = 1 / (2 sigma^2) so the
/// conditional distribution's perplexity is the target, symmetrized P = (P_j|i + P_i|j) / 2N, a Student-t
/// (one degree of freedom) output kernel, and gradient descent with momentum, per-coordinate gains
/// (+0.2 when the gradient's sign flips against the update, x0.8 otherwise, at least `minGain`) and early
/// exaggeration. Entropies are in nats (perplexity = e^H). Rows are spread over `Parallel.threadCount` threads.
public enum TSNE {
    public struct Result {
        /// N x 2, row-major.
        public var coordinates: [Double]
        /// KL(P || Q) with the true (unexaggerated) P, every `reportEvery` iterations and at the end.
        public var klHistory: [(iteration: Int, kl: Double)]
    }

    /// Squared Euclidean distances between the rows of `x` (N x D, row-major), N x N.
    public static func squaredDistances(_ x: [Float], rows n: Int, columns d: Int) -> [Double] {
        precondition(x.count == n * d, "\(x.count) values are not \(n) x \(d)")
        var out = [Double](repeating: 0, count: n * n)
        x.withUnsafeBufferPointer { xp in
            out.withUnsafeMutableBufferPointer { op in
                let x = xp.baseAddress!, o = op.baseAddress!
                Parallel.forEach(n, minimumPerThread: 32) { i in
                    let a = x + i * d
                    for j in 0..<n where j != i {
                        let b = x + j * d
                        var s = 0.0
                        for k in 0..<d { let t = Double(a[k]) - Double(b[k]); s += t * t }
                        o[i * n + j] = s
                    }
                }
            }
        }
        return out
    }

    /// Conditional affinities P_j|i (row i sums to 1, P_i|i = 0) from squared distances (N x N), with each row's
    /// beta found by bisection so that its entropy is log(perplexity) within `tolerance` nats.
    public static func conditionalAffinities(squaredDistances dist: [Double], count n: Int, perplexity: Double,
                                             tolerance: Double = 1e-5) -> (p: [Double], beta: [Double], entropy: [Double]) {
        precondition(dist.count == n * n, "distances are not \(n) x \(n)")
        precondition(perplexity > 0 && perplexity < Double(n - 1) + 1e-9,
                     "perplexity \(perplexity) must lie in (0, N - 1 = \(n - 1)]")
        let target = log(perplexity)
        var p = [Double](repeating: 0, count: n * n)
        var betas = [Double](repeating: 1, count: n), entropies = [Double](repeating: 0, count: n)
        dist.withUnsafeBufferPointer { dp in
            p.withUnsafeMutableBufferPointer { pp in
                betas.withUnsafeMutableBufferPointer { bp in
                    entropies.withUnsafeMutableBufferPointer { hp in
                        let d = dp.baseAddress!, out = pp.baseAddress!, b = bp.baseAddress!, h = hp.baseAddress!
                        Parallel.forEach(n, minimumPerThread: 16) { i in
                            let row = d + i * n, prow = out + i * n
                            var dmin = Double.infinity
                            for j in 0..<n where j != i { dmin = min(dmin, row[j]) }
                            // Row entropy and (unnormalized) probabilities at `beta`, shifted by the nearest
                            // distance so the largest term is exp(0): no underflow to an all-zero row.
                            func entropy(_ beta: Double) -> (Double, Double) {
                                var sum = 0.0, weighted = 0.0
                                for j in 0..<n where j != i {
                                    let e = exp(-(row[j] - dmin) * beta)
                                    prow[j] = e
                                    sum += e
                                    weighted += (row[j] - dmin) * e
                                }
                                return (log(sum) + beta * weighted / sum, sum)
                            }
                            var beta = 1.0, lo = -Double.infinity, hi = Double.infinity
                            var (hBeta, sum) = entropy(beta)
                            for _ in 0..<200 where abs(hBeta - target) > tolerance {
                                if hBeta > target {
                                    lo = beta
                                    beta = hi == .infinity ? beta * 2 : (beta + hi) / 2
                                } else {
                                    hi = beta
                                    beta = lo == -.infinity ? beta / 2 : (beta + lo) / 2
                                }
                                (hBeta, sum) = entropy(beta)
                            }
                            for j in 0..<n where j != i { prow[j] /= sum }
                            prow[i] = 0
                            b[i] = beta
                            h[i] = hBeta
                        }
                    }
                }
            }
        }
        return (p, betas, entropies)
    }

    /// The joint P_ij = (P_j|i + P_i|j) / 2N (symmetric, sums to 1).
    public static func jointAffinities(conditional p: [Double], count n: Int) -> [Double] {
        var joint = [Double](repeating: 0, count: n * n)
        let scale = 1 / (2 * Double(n))
        for i in 0..<n {
            for j in (i + 1)..<max(i + 1, n) {
                let v = (p[i * n + j] + p[j * n + i]) * scale
                joint[i * n + j] = v
                joint[j * n + i] = v
            }
        }
        return joint
    }

    /// The joint affinities of the rows of `x` (N x D) at `perplexity`.
    public static func affinities(_ x: [Float], rows n: Int, columns d: Int, perplexity: Double) -> [Double] {
        let dist = squaredDistances(x, rows: n, columns: d)
        return jointAffinities(conditional: conditionalAffinities(squaredDistances: dist, count: n, perplexity: perplexity).p,
                               count: n)
    }

    /// Embeds the rows of `x` (N x D) in 2-D. `progress(iteration, kl)` is called every `config.reportEvery`
    /// iterations and after the last.
    public static func embed(_ x: [Float], rows n: Int, columns d: Int, config: TSNEConfig = TSNEConfig(),
                             progress: ((Int, Double) -> Void)? = nil) -> Result {
        precondition(n >= 2, "t-SNE needs at least 2 points")
        return embed(affinities: affinities(x, rows: n, columns: d, perplexity: config.perplexity), count: n,
                     config: config, progress: progress)
    }

    /// Gradient descent on given joint affinities (N x N, symmetric, summing to 1).
    public static func embed(affinities p: [Double], count n: Int, config: TSNEConfig = TSNEConfig(),
                             progress: ((Int, Double) -> Void)? = nil) -> Result {
        precondition(p.count == n * n && n >= 2, "affinities are not \(n) x \(n)")
        var rng = SplitMix64(.tsneLayout, seed: config.seed)
        var y = (0..<(2 * n)).map { _ in rng.nextNormal() * config.initialStd }
        var update = [Double](repeating: 0, count: 2 * n), gains = [Double](repeating: 1, count: 2 * n)
        var grad = [Double](repeating: 0, count: 2 * n), rowSums = [Double](repeating: 0, count: n)
        var history: [(iteration: Int, kl: Double)] = []
        for iteration in 1...max(1, config.iterations) {
            let exaggeration = iteration <= config.exaggerationIterations ? config.earlyExaggeration : 1
            let momentum = iteration <= config.momentumSwitchIteration ? config.initialMomentum : config.finalMomentum
            gradient(p: p, y: y, n: n, exaggeration: exaggeration, rowSums: &rowSums, into: &grad)
            var mean = (0.0, 0.0)
            for k in 0..<(2 * n) {
                let sameSign = (grad[k] > 0) == (update[k] > 0)
                gains[k] = max(sameSign ? gains[k] * 0.8 : gains[k] + 0.2, config.minGain)
                update[k] = momentum * update[k] - config.learningRate * gains[k] * grad[k]
                y[k] += update[k]
                if k % 2 == 0 { mean.0 += y[k] } else { mean.1 += y[k] }
            }
            for i in 0..<n { y[2 * i] -= mean.0 / Double(n); y[2 * i + 1] -= mean.1 / Double(n) }
            if iteration % max(1, config.reportEvery) == 0 || iteration == config.iterations {
                let kl = klDivergence(p: p, y: y, count: n)
                history.append((iteration, kl))
                progress?(iteration, kl)
            }
        }
        return Result(coordinates: y, klHistory: history)
    }

    /// dC/dy_i = 4 sum_j (e P_ij - q_ij) w_ij (y_i - y_j), w_ij = 1 / (1 + |y_i - y_j|^2), q_ij = w_ij / Z:
    /// one pass for Z, one for the gradient (the kernel is recomputed rather than stored). The loops run over
    /// every j, i included (w_ii = 1 is taken out of Z; its gradient term is 0), on separate x and y arrays,
    /// so they vectorize.
    static func gradient(p: [Double], y: [Double], n: Int, exaggeration: Double, rowSums: inout [Double],
                         into grad: inout [Double]) {
        let xs = (0..<n).map { y[2 * $0] }, ys = (0..<n).map { y[2 * $0 + 1] }
        p.withUnsafeBufferPointer { pp in
            xs.withUnsafeBufferPointer { xp in
                ys.withUnsafeBufferPointer { yp in
                    rowSums.withUnsafeMutableBufferPointer { sp in
                        grad.withUnsafeMutableBufferPointer { gp in
                            let p = pp.baseAddress!, xs = xp.baseAddress!, ys = yp.baseAddress!
                            let sums = sp.baseAddress!, g = gp.baseAddress!
                            Parallel.forEach(n, minimumPerThread: 64) { i in
                                let xi = xs[i], yi = ys[i]
                                var s = 0.0
                                for j in 0..<n {
                                    let a = xi - xs[j], b = yi - ys[j]
                                    s += 1 / (1 + a * a + b * b)
                                }
                                sums[i] = s - 1
                            }
                            var z = 0.0
                            for i in 0..<n { z += sums[i] }
                            let invZ = 1 / z
                            Parallel.forEach(n, minimumPerThread: 64) { i in
                                let xi = xs[i], yi = ys[i], row = p + i * n
                                var g0 = 0.0, g1 = 0.0
                                for j in 0..<n {
                                    let a = xi - xs[j], b = yi - ys[j]
                                    let w = 1 / (1 + a * a + b * b)
                                    let f = (exaggeration * row[j] - w * invZ) * w
                                    g0 += f * a
                                    g1 += f * b
                                }
                                g[2 * i] = 4 * g0
                                g[2 * i + 1] = 4 * g1
                            }
                        }
                    }
                }
            }
        }
    }

    /// KL(P || Q) of a layout `y` (N x 2); pairs with P_ij = 0 contribute nothing.
    public static func klDivergence(p: [Double], y: [Double], count n: Int) -> Double {
        var z = 0.0, cross = 0.0
        for i in 0..<n {
            for j in 0..<n where j != i {
                let a = y[2 * i] - y[2 * j], b = y[2 * i + 1] - y[2 * j + 1]
                let w = 1 / (1 + a * a + b * b)
                z += w
                if p[i * n + j] > 0 { cross += p[i * n + j] * (log(p[i * n + j]) - log(w)) }
            }
        }
        // sum P log(P / (w / Z)) = sum P (log P - log w) + log Z (P sums to 1).
        return cross + log(z)
    }

    /// `keep` distinct indices of `0..<count` chosen by a seeded shuffle, ascending (all when keep >= count).
    public static func subsample(count: Int, keep: Int, seed: UInt64) -> [Int] {
        guard keep < count else { return Array(0..<count) }
        var indices = Array(0..<count), rng = SplitMix64(.tsneSubsample, seed: seed)
        for i in 0..<keep { indices.swapAt(i, i + Int(rng.next() % UInt64(count - i))) }
        return indices[0..<keep].sorted()
    }

    /// The fraction of rows whose nearest other row (squared Euclidean, in `points` N x dims) has the same
    /// label: the 1-nearest-neighbour agreement of a layout.
    public static func nearestNeighbourAgreement(_ points: [Double], dims: Int, labels: [Int]) -> Double {
        let n = labels.count
        precondition(points.count == n * dims && n >= 2)
        var agree = 0
        for i in 0..<n {
            var best = Double.infinity, bestLabel = -1
            for j in 0..<n where j != i {
                var s = 0.0
                for k in 0..<dims { let t = points[i * dims + k] - points[j * dims + k]; s += t * t }
                if s < best { best = s; bestLabel = labels[j] }
            }
            if bestLabel == labels[i] { agree += 1 }
        }
        return Double(agree) / Double(n)
    }
}
