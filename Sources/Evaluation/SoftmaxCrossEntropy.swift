import Foundation
import Kernels

/// Softmax cross-entropy over class scores and the rank of the true class: the loss and accuracy of the
/// linear probe, the kNN classifier (ranks only), the supervised baseline and fine-tuning.
public enum SoftmaxCrossEntropy {
    /// `sum_i (logsumexp(z_i) - z_i[y_i]) / normalization` over the rows of `logits` [N, C], and (when
    /// `gradient` is given, [N, C]) its gradient w.r.t. the logits, `(softmax(z) - onehot(y)) / normalization`.
    /// `normalization` defaults to N (the mean). A data-parallel rank passes the GLOBAL batch size: the ranks'
    /// losses and gradients then add up to those of the single-process mean (the gradient all-reduce sums).
    /// Uses a max-shifted log-sum-exp in Double.
    @discardableResult
    public static func loss(logits: Tensor, labels: [Int], normalization: Int? = nil, gradient: Tensor? = nil) -> Double {
        let n = labels.count, c = logits.count / max(n, 1)
        precondition(n >= 1 && logits.count == n * c, "logits \(logits.shape) do not match \(n) labels")
        precondition(gradient == nil || gradient!.count == n * c, "gradient buffer does not match the logits")
        let scale = 1 / Double(normalization ?? n)
        var total = 0.0
        logits.withUnsafeBufferPointer { z in
            for i in 0..<n {
                let y = labels[i]
                precondition(y >= 0 && y < c, "label \(y) outside 0..<\(c)")
                var maxZ = -Double.infinity
                for j in 0..<c { maxZ = max(maxZ, Double(z[i * c + j])) }
                var sum = 0.0
                for j in 0..<c { sum += exp(Double(z[i * c + j]) - maxZ) }
                let lse = maxZ + log(sum)
                total += lse - Double(z[i * c + y])
                if let gradient {
                    gradient.withUnsafeMutableBufferPointer { g in
                        for j in 0..<c {
                            let p = exp(Double(z[i * c + j]) - lse)
                            g[i * c + j] = Float((p - (j == y ? 1 : 0)) * scale)
                        }
                    }
                }
            }
        }
        return total * scale
    }

    /// Rank of the true class among the scores [N, C] of each row (0 = first): the number of classes scoring
    /// higher, plus those scoring equal with a lower index.
    public static func ranks(logits: Tensor, labels: [Int]) -> [Int] {
        let n = labels.count, c = logits.count / max(n, 1)
        return logits.withUnsafeBufferPointer { z in
            (0..<n).map { i in
                let target = z[i * c + labels[i]]
                var rank = 0
                for j in 0..<c {
                    let v = z[i * c + j]
                    if v > target || (v == target && j < labels[i]) { rank += 1 }
                }
                return rank
            }
        }
    }

    /// Rows whose true class is among the first `k` (top-1: k = 1; top-5: k = min(5, classes)).
    public static func hits(_ ranks: [Int], within k: Int) -> Int { ranks.filter { $0 < k }.count }
}
