import Foundation
import Kernels

/// Projection onto the leading principal subspace, as t-SNE implementations do before computing affinities
/// (50 dimensions). The covariance C = Xc^T Xc / N is one SGEMM; its top-k subspace comes from orthogonal
/// (subspace) iteration Q <- orth(C Q) from a seeded random start. t-SNE depends only on distances, so any
/// orthonormal basis of the subspace serves; no eigen-decomposition inside it is needed.
public enum PCA {
    public struct Projection {
        /// N x k, row-major.
        public var values: [Float]
        public var components: Int
        /// The fraction of the total variance the subspace keeps.
        public var keptVariance: Double
    }

    public static func project(_ x: [Float], rows n: Int, columns d: Int, components k: Int, iterations: Int = 30,
                               seed: UInt64 = 0) -> Projection {
        precondition(x.count == n * d && k >= 1 && k <= d, "cannot project \(n) x \(d) onto \(k) components")
        // Center the columns (means in double precision).
        var means = [Double](repeating: 0, count: d)
        for i in 0..<n { for j in 0..<d { means[j] += Double(x[i * d + j]) } }
        let centered = Tensor(shape: [n, d], values: (0..<(n * d)).map { Float(Double(x[$0]) - means[$0 % d] / Double(n)) })
        let cov = Tensor(shape: [d, d])
        matmul(centered, transposed: true, rows: d, inner: n, centered, columns: d, into: cov, alpha: 1 / Float(n))
        var rng = SplitMix64(.pca, seed: seed)
        let q = Tensor(shape: [d, k], values: (0..<(d * k)).map { _ in Float(rng.nextNormal()) })
        orthonormalizeColumns(q, rows: d, columns: k)
        let cq = Tensor(shape: [d, k])
        for _ in 0..<iterations {
            matmul(cov, rows: d, inner: d, q, columns: k, into: cq)
            q.copy(from: cq.array)
            orthonormalizeColumns(q, rows: d, columns: k)
        }
        // Kept variance: trace(Q^T C Q) / trace(C).
        matmul(cov, rows: d, inner: d, q, columns: k, into: cq)
        var kept = 0.0, total = 0.0
        for j in 0..<(d * k) { kept += Double(q[j]) * Double(cq[j]) }
        for j in 0..<d { total += Double(cov[j * d + j]) }
        let out = Tensor(shape: [n, k])
        matmul(centered, rows: n, inner: d, q, columns: k, into: out)
        return Projection(values: out.array, components: k, keptVariance: total > 0 ? kept / total : 1)
    }

    /// Modified Gram-Schmidt on the columns of a row-major rows x columns matrix, in double precision; a column
    /// that vanishes is replaced by a unit vector orthogonal to the others where one exists.
    static func orthonormalizeColumns(_ m: Tensor, rows: Int, columns: Int) {
        var cols = (0..<columns).map { c in (0..<rows).map { Double(m[$0 * columns + c]) } }
        for c in 0..<columns {
            for attempt in 0...rows {
                for prev in 0..<c {
                    var dot = 0.0
                    for r in 0..<rows { dot += cols[c][r] * cols[prev][r] }
                    for r in 0..<rows { cols[c][r] -= dot * cols[prev][r] }
                }
                let norm = cols[c].reduce(0) { $0 + $1 * $1 }.squareRoot()
                if norm > 1e-10 || attempt == rows {
                    for r in 0..<rows { cols[c][r] /= max(norm, 1e-300) }
                    break
                }
                cols[c] = (0..<rows).map { $0 == attempt ? 1 : 0 }   // try the next basis vector
            }
        }
        m.withUnsafeMutableBufferPointer { p in
            for c in 0..<columns { for r in 0..<rows { p[r * columns + c] = Float(cols[c][r]) } }
        }
    }
}
