import Kernels

/// Rows scaled to unit length, u = r / max(|r|, eps), and the backward of that scaling: the one
/// implementation behind the cosine similarity of InfoNCE and multi-crop and MoCo's normalized queries and keys.
enum RowNormalization {
    /// `unit` row r = row r of `x` / max(|x_r|, epsilon); `norms[r]` = |x_r| (unclamped, for the backward),
    /// when a backward will follow.
    static func forward(_ x: Tensor, rows: Int, dim d: Int, into unit: Tensor, norms: UnsafeMutablePointer<Float>?,
                        epsilon: Float) {
        let xp = x.address, up = unit.address
        Parallel.forEach(rows, minimumPerThread: 64) { r in
            let xr = xp + r * d, ur = up + r * d
            var sq: Float = 0
            for c in 0..<d { sq += xr[c] * xr[c] }
            let length = sq.squareRoot()
            norms?[r] = length
            let inverse = 1 / max(length, epsilon)
            for c in 0..<d { ur[c] = xr[c] * inverse }
        }
    }

    /// In place, dLoss/du -> dLoss/dx for u = x / |x|: dx = (du - u (u.du)) / |x|, or du / epsilon where the
    /// norm was clamped (there u = x / epsilon is linear in x).
    static func backward(unit: Tensor, norms: UnsafeMutablePointer<Float>, gradient: Tensor, rows: Int, dim d: Int,
                         epsilon: Float) {
        let up = unit.address, gp = gradient.address
        Parallel.forEach(rows, minimumPerThread: 64) { r in
            let u = up + r * d, g = gp + r * d
            guard norms[r] >= epsilon else { for c in 0..<d { g[c] /= epsilon }; return }
            var along: Float = 0
            for c in 0..<d { along += u[c] * g[c] }
            let inverse = 1 / norms[r]
            for c in 0..<d { g[c] = (g[c] - u[c] * along) * inverse }
        }
    }
}
