import Foundation
import Kernels

/// The small crops' terms of the multi-crop contrastive loss (docs/multi-crop.md, note 'Loss'). Each small
/// crop s of image i adds one term per global view v of image i, against the 2B global embeddings g_j laid out
/// `[view1 of all B images; view2 of all B images]`:
///
///     l_j    = sim(s, g_j) / tau                        (cosine, or -|s - g_j|^2), j in 0..<2B
///     term_v = -l_(i + v*B) + logsumexp_j l_j           v = 0, 1
///
/// so a small crop's two terms share one logsumexp and its rows never hold another small crop: small crops
/// are positives of their image's global views and never candidates. The caller divides by the count of all
/// terms (2B global rows plus 2 per small crop), which it passes as `normalization`.
///
/// Distributed use: `global` is the gathered matrix, `small` this rank's own small crops with the global
/// image index of each. The gradient w.r.t. the global rows is ADDED to `globalGradient` (which already holds
/// the global rows' InfoNCE gradient), so the gather's backward sums both parts over the ranks; the gradient
/// w.r.t. the small rows is exact on this rank alone, as no other rank's terms contain them.
///
/// Scratch memory is kept between calls and reallocated only when a shape grows.
public final class SmallCropLoss {
    public var config: InfoNCEConfig

    private var globalCompared = ReusableTensor()  // [M, D] unit rows (cosine) or Z (L2)
    private var smallCompared = ReusableTensor()   // [K, D] the same for the small crops
    private var logits = ReusableTensor()          // [K, M] l_aj, then dLoss/d sim_aj
    private var globalTerms = ReusableTensor()     // [M, D] dLoss/d compared global rows
    private var globalNorms = Reusable<RawBuffer<Float>>()  // [M] |g_j| (cosine) or |g_j|^2 (L2)
    private var smallNorms = Reusable<RawBuffer<Float>>()   // [K]
    private var rowLoss = Reusable<RawBuffer<Double>>()     // [K]
    private var rowSum = Reusable<RawBuffer<Float>>()       // [K] sum_j G_aj (L2 backward)
    private var columnSum = Reusable<RawBuffer<Float>>()    // [M] sum_a G_aj (L2 backward)

    public init(config: InfoNCEConfig = InfoNCEConfig()) {
        self.config = config
    }

    /// The summed small-crop terms divided by `normalization`, and (when the gradients are given) their gradient.
    ///
    /// - Parameters:
    ///   - global: [2B, D], all global rows (gathered from every process).
    ///   - small: [K, D], small-crop rows; `images[a]` is the global image index (0..<B) of row a.
    ///   - globalGradient: 2B*D elements; dTerms/dGlobal is added.
    ///   - smallGradient: K*D elements, overwritten with dTerms/dSmall.
    @discardableResult
    public func compute(global z: Tensor, small s: Tensor, images: [Int], normalization n: Int,
                        globalGradient: Tensor? = nil, smallGradient: Tensor? = nil) -> Double {
        precondition(z.shape.count == 2 && s.shape.count == 2 && z.shape[1] == s.shape[1],
                     "small-crop loss needs [2B, D] global and [K, D] small rows, got \(z.shape) and \(s.shape)")
        let m = z.shape[0], k = s.shape[0], d = z.shape[1], half = m / 2
        precondition(m >= 2 && m % 2 == 0, "small-crop loss needs an even number (2B) of global rows, got \(m)")
        precondition(images.count == k && images.allSatisfy { $0 >= 0 && $0 < half }, "one image index in 0..<\(half) per small row")
        precondition(n > 0, "small-crop loss normalization count must be positive")
        precondition((globalGradient == nil) == (smallGradient == nil), "both gradients or none")
        if let globalGradient { precondition(globalGradient.count == m * d && smallGradient!.count == k * d) }
        guard k > 0 else { return 0 }
        let isL2 = config.similarity == .negativeSquaredL2
        let x = prepare(z, rows: m, dim: d, into: &globalCompared, norms: &globalNorms)
        let y = prepare(s, rows: k, dim: d, into: &smallCompared, norms: &smallNorms)
        let l = logits.atLeast(k * m)
        rowLoss.atLeast(k); rowSum.atLeast(k)
        let inverseTau = 1 / config.temperature
        // L2: -|s - g|^2 = 2 s.g - |s|^2 - |g|^2; the norm terms are added per row below.
        matmul(y, transposed: false, rows: k, inner: d, x, transposed: true, columns: m, into: l, alpha: (isL2 ? 2 : 1) * inverseTau)
        let lp = l.address, gn = globalNorms.current.pointer, sn = smallNorms.current.pointer
        let loss = rowLoss.current.pointer, sums = rowSum.current.pointer
        let wantGradient = globalGradient != nil, scale = inverseTau / Float(n)
        Parallel.forEach(k, minimumPerThread: max(1, 8192 / m)) { a in
            let row = lp + a * m, p0 = images[a], p1 = images[a] + half
            if isL2 { for j in 0..<m { row[j] -= (sn[a] + gn[j]) * inverseTau } }
            let positive0 = row[p0], positive1 = row[p1]
            var largest = -Float.infinity
            for j in 0..<m { largest = max(largest, row[j]) }
            var total: Float = 0
            for j in 0..<m { let e = exp(row[j] - largest); row[j] = e; total += e }
            // (largest - positive) first, as InfoNCELoss: exact when a positive is the largest logit.
            loss[a] = Double(largest - positive0) + Double(largest - positive1) + 2 * Double(log(total))
            guard wantGradient else { return }
            // d(term_0 + term_1)/d sim_aj = (2 softmax_j - [j = p0] - [j = p1]) / tau, divided by N.
            let softmaxScale = 2 * scale / total
            for j in 0..<m { row[j] *= softmaxScale }
            row[p0] -= scale
            row[p1] -= scale
            var sum: Float = 0
            for j in 0..<m { sum += row[j] }
            sums[a] = sum
        }
        var total = 0.0
        for a in 0..<k { total += loss[a] }  // in row order, so the sum does not depend on the thread count
        if let globalGradient, let smallGradient {
            backward(z, s, x, y, globalGradient: globalGradient, smallGradient: smallGradient, rows: m, small: k, dim: d)
        }
        return total / Double(n)
    }

    /// Unit rows for cosine, the rows themselves for L2; fills `norms` with |r| (cosine) or |r|^2 (L2).
    private func prepare(_ t: Tensor, rows: Int, dim d: Int, into compared: inout ReusableTensor,
                         norms: inout Reusable<RawBuffer<Float>>) -> Tensor {
        let norm = norms.atLeast(rows).pointer, tp = t.address
        guard config.similarity == .cosine else {
            for r in 0..<rows { var sq: Float = 0; for c in 0..<d { sq += tp[r * d + c] * tp[r * d + c] }; norm[r] = sq }
            return t
        }
        let unit = compared.atLeast(rows * d)
        RowNormalization.forward(t, rows: rows, dim: d, into: unit, norms: norm, epsilon: InfoNCELoss.normEpsilon)
        return unit
    }

    /// With G (in `logits`) = dLoss/d sim and sim = c * Y X^T (+ norm terms for L2): dY = c * G X, dX = c * G^T Y,
    /// then back through the normalization (cosine) or the -|r|^2 terms (L2).
    private func backward(_ z: Tensor, _ s: Tensor, _ x: Tensor, _ y: Tensor, globalGradient: Tensor, smallGradient: Tensor,
                          rows m: Int, small k: Int, dim d: Int) {
        let isL2 = config.similarity == .negativeSquaredL2, c: Float = isL2 ? 2 : 1
        let l = logits.current, terms = globalTerms.atLeast(m * d)
        matmul(l, rows: k, inner: m, x, columns: d, into: smallGradient, alpha: c)
        matmul(l, transposed: true, rows: m, inner: k, y, columns: d, into: terms, alpha: c)
        let lp = l.address, sums = rowSum.current.pointer
        if isL2 {
            let columns = columnSum.atLeast(m).pointer
            columns.update(repeating: 0, count: m)
            for a in 0..<k { for j in 0..<m { columns[j] += lp[a * m + j] } }
            subtractScaledRows(s, weights: { 2 * sums[$0] }, from: smallGradient, rows: k, dim: d)
            subtractScaledRows(z, weights: { 2 * columns[$0] }, from: terms, rows: m, dim: d)
        } else {
            let eps = InfoNCELoss.normEpsilon
            RowNormalization.backward(unit: x, norms: globalNorms.current.pointer, gradient: terms, rows: m, dim: d, epsilon: eps)
            RowNormalization.backward(unit: y, norms: smallNorms.current.pointer, gradient: smallGradient, rows: k, dim: d,
                                      epsilon: eps)
        }
        Elementwise.add(terms.view(shape: [m * d]), into: globalGradient.view(shape: [m * d]))
    }

    /// g_r -= w(r) * t_r: the gradient through the -|r|^2 terms of the L2 similarity.
    private func subtractScaledRows(_ t: Tensor, weights: (Int) -> Float, from g: Tensor, rows: Int, dim d: Int) {
        let tp = t.address, gp = g.address
        for r in 0..<rows {
            let w = weights(r)
            for c in 0..<d { gp[r * d + c] -= w * tp[r * d + c] }
        }
    }

}
