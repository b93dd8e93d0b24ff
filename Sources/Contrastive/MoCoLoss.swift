import Foundation
import Kernels

/// MoCo's InfoNCE over one positive key and a queue of K negative keys (docs/moco.md, note 'Loss rows'):
///
///     u_i      = q_i / max(|q_i|, 1e-12)                     (F.normalize, as MoCo normalizes the queries)
///     l_i      = [u_i . k_i, u_i . queue_0, ..., u_i . queue_(K-1)] / tau
///     loss     = (1/N) * sum_i ( logsumexp_j l_ij - l_i0 )   (cross-entropy with the positive at index 0)
///
/// The keys k (already unit rows, from the key encoder) and the queue are constants: only the queries get a
/// gradient. Each query's term depends on its own row, its own key and the queue alone, so in a data-parallel
/// step a rank computes exactly its local rows, divided by the global batch N, and no gather backward is needed.
///
/// Metrics: the positive's rank among the 1 + K candidates (1 + the number of candidates whose logit is >= the
/// positive's, ties counted against it as `InfoNCELoss` does).
///
/// Scratch memory is kept between calls and reallocated only when the batch, D or K grows.
public final class MoCoLoss {
    public var temperature: Float

    /// Below this norm a row is divided by `normEpsilon` instead (torch.nn.functional.normalize's eps).
    public static let normEpsilon: Float = 1e-12

    private var unitBuffer = ReusableTensor()        // [b, D] unit queries
    private var logitsBuffer = ReusableTensor()      // [b, K] u . queue^T / tau, then dLoss/d logits
    private var norms = Reusable<RawBuffer<Float>>()         // [b] |q_i|
    private var positive = Reusable<RawBuffer<Float>>()      // [b] l_i0, then its gradient
    private var rowLoss = Reusable<RawBuffer<Double>>()      // [b]
    private var rowRank = Reusable<RawBuffer<Int>>()         // [b]

    public init(temperature: Float) {
        precondition(temperature > 0, "MoCo temperature must be positive, got \(temperature)")
        self.temperature = temperature
    }

    /// Rows of `x` divided by their clamped norm, into `result` (same shape): the keys before they are
    /// compared and enqueued.
    public static func normalizeRows(_ x: Tensor, into result: Tensor) {
        precondition(x.shape.count == 2 && result.shape == x.shape, "normalizeRows: [n, D] into the same shape")
        RowNormalization.forward(x, rows: x.shape[0], dim: x.shape[1], into: result, norms: nil, epsilon: normEpsilon)
    }

    /// Loss, metrics and (when `gradient` is given) dLoss/dq of the b rows in `queries`.
    ///
    /// - Parameters:
    ///   - queries: q, [b, D], the query encoder's raw outputs (normalized here).
    ///   - keys: [b, D] unit rows; row i is the positive of query i.
    ///   - queue: [K, D] unit rows, the negatives.
    ///   - normalization: the divisor N of the summed terms (the global batch in a data-parallel step).
    ///   - gradient: [b, D], overwritten with dLoss/dq.
    @discardableResult
    public func compute(queries q: Tensor, keys: Tensor, queue: Tensor, normalization n: Int,
                        gradient: Tensor? = nil) -> InfoNCEResult {
        precondition(q.shape.count == 2 && keys.shape == q.shape, "MoCo queries and keys must both be [b, D]")
        let b = q.shape[0], d = q.shape[1]
        precondition(queue.shape.count == 2 && queue.shape[1] == d, "MoCo queue must be [K, \(d)], got \(queue.shape)")
        let k = queue.shape[0]
        precondition(n > 0, "MoCo normalization count must be positive")
        if let gradient { precondition(gradient.shape == q.shape, "MoCo gradient must be [b, D]") }
        guard b > 0 else { return InfoNCEResult(loss: 0, metrics: ContrastiveMetrics()) }
        let unit = unitBuffer.get(count: b * d)
        let logits = logitsBuffer.get(count: max(b * k, 1))
        let norm = norms.atLeast(b).pointer, pos = positive.atLeast(b).pointer
        let loss = rowLoss.atLeast(b).pointer, rank = rowRank.atLeast(b).pointer

        RowNormalization.forward(q, rows: b, dim: d, into: unit, norms: norm, epsilon: Self.normEpsilon)
        let up = unit.address, kp = keys.address
        let inverseTau = 1 / temperature
        Parallel.forEach(b, minimumPerThread: 64) { i in
            var dot: Float = 0
            for c in 0..<d { dot += up[i * d + c] * kp[i * d + c] }
            pos[i] = dot * inverseTau
        }
        if k > 0 { matmul(unit, transposed: false, rows: b, inner: d, queue, transposed: true, columns: k, into: logits, alpha: inverseTau) }

        // Per row: logsumexp over [positive, negatives], the loss term, the rank, and (if asked) the gradient
        // (softmax - onehot(0)) / N in place of the logits.
        let lp = logits.address, wantGradient = gradient != nil, scale = 1 / Float(n)
        Parallel.forEach(b, minimumPerThread: max(1, 8192 / max(k, 1))) { i in
            let s = lp + i * k, p = pos[i]
            var largest = p, better = 1
            for j in 0..<k {
                largest = max(largest, s[j])
                if s[j] >= p { better += 1 }
            }
            rank[i] = better
            var total = exp(p - largest)
            for j in 0..<k { total += exp(s[j] - largest) }
            // (largest - positive) first: exact when the positive leads, so a near-zero loss keeps its digits.
            loss[i] = Double(largest - p) + Double(log(total))
            guard wantGradient else { return }
            let w = scale / total
            for j in 0..<k { s[j] = exp(s[j] - largest) * w }
            pos[i] = exp(p - largest) * w - scale
        }
        var total = 0.0
        var metrics = ContrastiveMetrics(anchors: b)
        for i in 0..<b {  // in row order, so the sum does not depend on the thread count
            total += loss[i]
            metrics.rankSum += rank[i]
            if rank[i] == 1 { metrics.top1Hits += 1 }
            if rank[i] <= 5 { metrics.top5Hits += 1 }
        }
        if let gradient { backward(into: gradient, unit: unit, keys: keys, queue: queue, logits: logits, rows: b, dim: d, queueSize: k) }
        return InfoNCEResult(loss: total / Double(n), metrics: metrics)
    }

    /// dLoss/du = (G_pos k + G queue) / tau, then through u = q / |q|: dq = (du - u (u.du)) / |q|.
    private func backward(into gradient: Tensor, unit: Tensor, keys: Tensor, queue: Tensor, logits: Tensor,
                          rows b: Int, dim d: Int, queueSize k: Int) {
        let inverseTau = 1 / temperature
        // dLoss/du, built in `gradient` and then taken through the normalization in place.
        if k > 0 { matmul(logits, rows: b, inner: k, queue, columns: d, into: gradient, alpha: inverseTau) } else { gradient.fill(0) }
        let gp = gradient.address, kp = keys.address, pos = positive.current.pointer
        Parallel.forEach(b, minimumPerThread: 64) { i in
            let g = gp + i * d, key = kp + i * d
            for c in 0..<d { g[c] += pos[i] * inverseTau * key[c] }
        }
        RowNormalization.backward(unit: unit, norms: norms.current.pointer, gradient: gradient, rows: b, dim: d,
                                  epsilon: Self.normEpsilon)
    }
}
