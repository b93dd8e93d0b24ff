import Foundation
import Kernels

/// InfoNCE (NT-Xent) over M = 2B embedding rows laid out `[view1 of all B images; view2 of all B images]`,
/// the reference formula (docs/reference-semantics.md, note 'Loss'):
///
///     s_ij   = sim(z_i, z_j) / tau                      (cosine, or -|z_i - z_j|^2)
///     pos(i) = (i + B) mod 2B
///     loss   = (1/N) * sum_{i in anchors} ( -s_i,pos(i) + logsumexp_{j != i} s_ij )
///
/// The diagonal is left out of the logsumexp (the reference masks it with -9e15).
///
/// Distributed use (docs/distributed-step.md, note 'Loss rows'): every process passes the full gathered
/// matrix and its own anchor rows. The call writes
/// dLoss/dZ for all M rows (each row enters as anchor and as candidate of other anchors), so with N = M
/// summing the losses and the gradients over processes whose anchor sets partition 0..<M gives exactly the
/// single-process loss and gradient (the gather's backward is that sum, an all-reduce). Parameter gradients
/// are then summed over processes; with N = the local anchor count instead, they are averaged (DDP style).
///
/// Scratch memory is kept between calls and reallocated only when M, D or the anchor count grows.
public final class InfoNCELoss {
    public var config: InfoNCEConfig

    /// Below this norm a row is divided by `normEpsilon` instead (torch's cosine_similarity eps).
    static let normEpsilon: Float = 1e-8

    // Buffers kept between calls, grown only when M, D or the anchor count grows.
    private var unitBuffer = ReusableTensor()          // [M, D] rows divided by their clamped norm (cosine)
    private var gatheredBuffer = ReusableTensor()      // [K, D] the anchors' rows of the compared matrix
    private var logitsBuffer = ReusableTensor()        // [K, M] s_ij, then overwritten with dLoss/d sim_ij
    private var anchorTermsBuffer = ReusableTensor()   // [K, D] the gradient reaching each anchor's own row
    private var norms = Reusable<RawBuffer<Float>>()         // [M] |z_j| (cosine) or |z_j|^2 (L2)
    private var rowLoss = Reusable<RawBuffer<Double>>()      // [K]
    private var rowRank = Reusable<RawBuffer<Int>>()         // [K]
    private var rowSum = Reusable<RawBuffer<Float>>()        // [K] sum_j G_kj (L2 backward)
    private var candidateSum = Reusable<RawBuffer<Float>>()  // [M] sum_k G_kj (L2 backward)
    private var anchorOf = Reusable<RawBuffer<Int>>()        // [M] k when row j is anchor k, else -1
    private var anchorRow = Reusable<RawBuffer<Int>>()       // [K] the row of anchor k
    private var unit: Tensor { unitBuffer.current }
    private var gathered: Tensor { gatheredBuffer.current }
    private var logits: Tensor { logitsBuffer.current }
    private var anchorTerms: Tensor { anchorTermsBuffer.current }

    public init(config: InfoNCEConfig = InfoNCEConfig()) {
        self.config = config
    }

    /// Loss, metrics and (when `gradient` is given) dLoss/dZ for the rows in `anchors`.
    ///
    /// - Parameters:
    ///   - embeddings: Z, shape [M, D] with M = 2B even; all rows (gathered from every process).
    ///   - anchors: distinct rows whose loss terms this call computes; nil means all M rows.
    ///   - normalization: the divisor N of the summed loss terms; nil means M (the mean over all rows).
    ///   - gradient: M*D elements, overwritten with dLoss/dZ (contributions of these anchors only).
    @discardableResult
    public func compute(embeddings z: Tensor, anchors: [Int]? = nil, normalization: Int? = nil,
                        gradient: Tensor? = nil) -> InfoNCEResult {
        precondition(z.shape.count == 2, "InfoNCE embeddings must be [2B, D], got \(z.shape)")
        let m = z.shape[0], d = z.shape[1]
        precondition(m >= 2 && m % 2 == 0, "InfoNCE needs an even number (2B) of rows, got \(m)")
        let k = anchors?.count ?? m
        let n = normalization ?? m
        precondition(n > 0, "InfoNCE normalization count must be positive")
        precondition(config.temperature > 0, "InfoNCE temperature must be positive")
        if let gradient { precondition(gradient.count == m * d, "InfoNCE gradient must have \(m * d) elements") }
        reserve(rows: m, dim: d, anchors: k)
        setAnchors(anchors, rows: m)
        guard k > 0 else {
            gradient?.fill(0)
            return InfoNCEResult(loss: 0, metrics: ContrastiveMetrics())
        }

        let compared = prepareCompared(z, rows: m, dim: d)
        similarities(compared, rows: m, dim: d, anchors: k)
        softmaxRows(rows: m, anchors: k, normalization: n, wantGradient: gradient != nil)

        var loss = 0.0
        var metrics = ContrastiveMetrics(anchors: k)
        for a in 0..<k {  // in anchor order, so the sum does not depend on the thread count
            loss += rowLoss.current.pointer[a]
            let rank = rowRank.current.pointer[a]
            metrics.rankSum += rank
            if rank == 1 { metrics.top1Hits += 1 }
            if rank <= 5 { metrics.top5Hits += 1 }
        }
        if let gradient { backward(z, compared, into: gradient, rows: m, dim: d, anchors: k) }
        return InfoNCEResult(loss: loss / Double(n), metrics: metrics)
    }

    private func reserve(rows m: Int, dim d: Int, anchors k: Int) {
        if config.similarity == .cosine { unitBuffer.atLeast(m * d) }
        gatheredBuffer.atLeast(k * d)
        logitsBuffer.atLeast(k * m)
        anchorTermsBuffer.atLeast(k * d)
        norms.atLeast(m)
        candidateSum.atLeast(m)
        anchorOf.atLeast(m)
        rowLoss.atLeast(k)
        rowRank.atLeast(k)
        rowSum.atLeast(k)
        anchorRow.atLeast(k)
    }

    /// Fills the anchor maps, checking that anchors are distinct rows (a repeated anchor would be counted
    /// twice and break the partition property).
    private func setAnchors(_ anchors: [Int]?, rows m: Int) {
        let of = anchorOf.current.pointer, row = anchorRow.current.pointer
        of.update(repeating: -1, count: m)
        guard let anchors else {
            for j in 0..<m { of[j] = j; row[j] = j }
            return
        }
        for (a, i) in anchors.enumerated() {
            precondition(i >= 0 && i < m, "InfoNCE anchor row \(i) outside 0..<\(m)")
            precondition(of[i] < 0, "InfoNCE anchor row \(i) given twice")
            of[i] = a
            row[a] = i
        }
    }

    /// The matrix whose rows are compared: unit rows for cosine, Z itself for L2. Also fills `norms`.
    private func prepareCompared(_ z: Tensor, rows m: Int, dim d: Int) -> Tensor {
        let zp = z.address, norm = norms.current.pointer
        switch config.similarity {
        case .cosine:
            RowNormalization.forward(z, rows: m, dim: d, into: unit, norms: norm, epsilon: Self.normEpsilon)
            return unit
        case .negativeSquaredL2:
            Parallel.forEach(m, minimumPerThread: 64) { j in
                let zr = zp + j * d
                var sq: Float = 0
                for c in 0..<d { sq += zr[c] * zr[c] }
                norm[j] = sq
            }
            return z
        }
    }

    /// logits[k, j] = s_(anchor k), j / tau, one GEMM of the gathered anchor rows against all rows.
    private func similarities(_ x: Tensor, rows m: Int, dim d: Int, anchors k: Int) {
        let xp = x.address, gp = gathered.address, row = anchorRow.current.pointer
        Parallel.forEach(k, minimumPerThread: 64) { a in
            (gp + a * d).update(from: xp + row[a] * d, count: d)
        }
        let inverseTau = 1 / config.temperature
        // L2: -|x_i - x_j|^2 = 2 x_i.x_j - |x_i|^2 - |x_j|^2; the norm terms are added per row below.
        let dotScale: Float = config.similarity == .cosine ? 1 : 2
        matmul(gathered, transposed: false, rows: k, inner: d, x, transposed: true, columns: m, into: logits,
               alpha: dotScale * inverseTau)
    }

    /// Per anchor row: finish the logits, logsumexp, loss term, rank of the positive, and (if asked)
    /// overwrite the row with G = dLoss/d sim = (softmax - onehot(pos)) / (tau * N), zero on the diagonal.
    private func softmaxRows(rows m: Int, anchors k: Int, normalization n: Int, wantGradient: Bool) {
        let lp = logits.address, row = anchorRow.current.pointer, norm = norms.current.pointer
        let loss = rowLoss.current.pointer, rank = rowRank.current.pointer, sums = rowSum.current.pointer
        let half = m / 2, inverseTau = 1 / config.temperature
        let isL2 = config.similarity == .negativeSquaredL2
        let gradientScale = inverseTau / Float(n)
        Parallel.forEach(k, minimumPerThread: max(1, 8192 / m)) { a in
            let i = row[a], pos = (i + half) % m, s = lp + a * m
            if isL2 {
                let own = norm[i]
                for j in 0..<m { s[j] -= (own + norm[j]) * inverseTau }
            }
            s[i] = -.infinity  // the masked diagonal: exp gives 0, and it never outranks the positive
            let positive = s[pos]
            var largest = -Float.infinity, better = 0
            for j in 0..<m {
                largest = max(largest, s[j])
                if s[j] >= positive { better += 1 }  // counts the positive itself once
            }
            rank[a] = better
            var total: Float = 0
            for j in 0..<m {
                let e = exp(s[j] - largest)
                s[j] = e
                total += e
            }
            // (largest - positive) first: exact when the positive is the largest logit, so a near-zero loss
            // keeps its digits.
            loss[a] = Double(largest - positive) + Double(log(total))
            guard wantGradient else { return }
            let scale = gradientScale / total
            for j in 0..<m { s[j] *= scale }
            s[pos] -= gradientScale
            var sum: Float = 0
            for j in 0..<m { sum += s[j] }
            sums[a] = sum
        }
    }

    /// dLoss/dZ from G (in `logits`). With X the compared matrix and A its anchor rows, sim = c * A X^T
    /// (+ norm terms for L2), so dX = c * (G^T A + scatter_anchors(G X)); then back through the
    /// normalization for cosine, or through the -|x|^2 terms for L2.
    private func backward(_ z: Tensor, _ x: Tensor, into gradient: Tensor, rows m: Int, dim d: Int, anchors k: Int) {
        let isL2 = config.similarity == .negativeSquaredL2
        let c: Float = isL2 ? 2 : 1
        matmul(logits, transposed: true, rows: m, inner: k, gathered, columns: d, into: gradient, alpha: c)
        matmul(logits, rows: k, inner: m, x, columns: d, into: anchorTerms, alpha: c)

        let gp = gradient.address, tp = anchorTerms.address, of = anchorOf.current.pointer
        let zp = z.address, xp = x.address, norm = norms.current.pointer
        let sums = rowSum.current.pointer, columns = candidateSum.current.pointer, lp = logits.address
        if isL2 {
            // sum_k G_kj for every candidate row j (serial: k*m adds, small next to the GEMMs).
            columns.update(repeating: 0, count: m)
            for a in 0..<k {
                let s = lp + a * m
                for j in 0..<m { columns[j] += s[j] }
            }
        }
        let eps = Self.normEpsilon
        Parallel.forEach(m, minimumPerThread: 64) { j in
            let g = gp + j * d
            let a = of[j]
            if a >= 0 {
                let t = tp + a * d
                for c in 0..<d { g[c] += t[c] }
            }
            if isL2 {
                // d(-|x_i|^2 - |x_j|^2) reaches row j from its anchor row sum and its candidate column sum.
                let weight = 2 * (columns[j] + (a >= 0 ? sums[a] : 0))
                let zr = zp + j * d
                for c in 0..<d { g[c] -= weight * zr[c] }
            } else if norm[j] >= eps {
                // u = z/|z|: dz = (du - u (u.du)) / |z|
                let u = xp + j * d
                var along: Float = 0
                for c in 0..<d { along += u[c] * g[c] }
                let inverse = 1 / norm[j]
                for c in 0..<d { g[c] = (g[c] - u[c] * along) * inverse }
            } else {
                // Clamped norm: u = z/eps is linear in z.
                for c in 0..<d { g[c] /= eps }
            }
        }
    }
}
