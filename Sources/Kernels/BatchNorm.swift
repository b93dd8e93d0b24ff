import Foundation

/// Batch normalization kernels over `channels` contiguous blocks of `perChannel` elements
/// (a CNHW feature map, or a transposed [features, batch] matrix for BatchNorm1d).
///
/// Statistics are split from their use so a caller can combine them across processes (SyncBN)
/// in between: `batchNormSums` produces per-channel sums, the caller may all-reduce them, and
/// `batchNormNormalize` / `batchNormInputGradient` consume the global values.
public enum BatchNormKernels {
    /// sums[c] = sum x, sums[channels + c] = sum x^2, accumulated in Double.
    public static func sums(input: Tensor, channels: Int, perChannel: Int, into sums: inout [Double]) {
        precondition(input.count == channels * perChannel && sums.count == 2 * channels)
        let x = input.base
        sums.withUnsafeMutableBufferPointer { out in
            let o = out.baseAddress!
            Parallel.forEach(channels) { c in
                let p = x + c * perChannel
                var s: Double = 0, s2: Double = 0
                // Float partial sums over short runs keep the loop vectorized; Double across runs keeps precision.
                var i = 0
                while i < perChannel {
                    let end = min(i + 256, perChannel)
                    var fs: Float = 0, fs2: Float = 0
                    for j in i..<end { let v = p[j]; fs += v; fs2 += v * v }
                    s += Double(fs); s2 += Double(fs2)
                    i = end
                }
                o[c] = s; o[channels + c] = s2
            }
        }
    }

    /// y = gamma * (x - mean) * invStd + beta, per channel.
    public static func normalize(input: Tensor, output: Tensor, channels: Int, perChannel: Int,
                                 mean: [Float], invStd: [Float], gamma: Tensor, beta: Tensor) {
        precondition(input.count == channels * perChannel && output.count == input.count)
        let x = input.base, y = output.base, g = gamma.base, b = beta.base
        mean.withUnsafeBufferPointer { m in
            invStd.withUnsafeBufferPointer { s in
                Parallel.forEach(channels) { c in
                    let scale = g[c] * s[c], shift = b[c] - m[c] * scale
                    let xp = x + c * perChannel, yp = y + c * perChannel
                    for i in 0..<perChannel { yp[i] = xp[i] * scale + shift }
                }
            }
        }
    }

    /// Per-channel sum(dy) and sum(dy * xhat) with xhat = (x - mean) * invStd, in Double:
    /// out[c] = sum dy, out[channels + c] = sum dy*xhat. These are also dbeta and dgamma.
    public static func gradientSums(input: Tensor, gradOutput: Tensor, channels: Int, perChannel: Int,
                                    mean: [Float], invStd: [Float], into out: inout [Double]) {
        precondition(out.count == 2 * channels)
        let x = input.base, dy = gradOutput.base
        mean.withUnsafeBufferPointer { m in
            invStd.withUnsafeBufferPointer { s in
                out.withUnsafeMutableBufferPointer { o in
                    let op = o.baseAddress!
                    Parallel.forEach(channels) { c in
                        let xp = x + c * perChannel, gp = dy + c * perChannel
                        let mc = m[c]
                        var sdy: Double = 0, sdyx: Double = 0
                        var i = 0
                        while i < perChannel {
                            let end = min(i + 256, perChannel)
                            var a: Float = 0, b: Float = 0
                            for j in i..<end { let g = gp[j]; a += g; b += g * (xp[j] - mc) }
                            sdy += Double(a); sdyx += Double(b)
                            i = end
                        }
                        op[c] = sdy; op[channels + c] = sdyx * Double(s[c])
                    }
                }
            }
        }
    }

    /// Training-mode input gradient given global sums over `totalCount` elements per channel:
    /// dx = gamma * invStd * (dy - sum(dy)/M - xhat * sum(dy*xhat)/M).
    public static func inputGradient(input: Tensor, gradOutput: Tensor, gradInput: Tensor,
                                     channels: Int, perChannel: Int, totalCount: Int,
                                     mean: [Float], invStd: [Float], gamma: Tensor, sums: [Double]) {
        let x = input.base, dy = gradOutput.base, dx = gradInput.base, g = gamma.base
        let inv = 1.0 / Double(totalCount)
        mean.withUnsafeBufferPointer { m in
            invStd.withUnsafeBufferPointer { s in
                sums.withUnsafeBufferPointer { sm in
                    Parallel.forEach(channels) { c in
                        let meanDy = Float(sm[c] * inv), meanDyX = Float(sm[channels + c] * inv)
                        let k = g[c] * s[c], mc = m[c], sc = s[c]
                        let xp = x + c * perChannel, gp = dy + c * perChannel, dp = dx + c * perChannel
                        for i in 0..<perChannel {
                            let xhat = (xp[i] - mc) * sc
                            dp[i] = k * (gp[i] - meanDy - xhat * meanDyX)
                        }
                    }
                }
            }
        }
    }

    /// Eval-mode input gradient: dx = dy * gamma * invStd (statistics are constants).
    public static func scaleGradient(gradOutput: Tensor, gradInput: Tensor, channels: Int, perChannel: Int,
                                     invStd: [Float], gamma: Tensor) {
        let dy = gradOutput.base, dx = gradInput.base, g = gamma.base
        invStd.withUnsafeBufferPointer { s in
            Parallel.forEach(channels) { c in
                let k = g[c] * s[c]
                let gp = dy + c * perChannel, dp = dx + c * perChannel
                for i in 0..<perChannel { dp[i] = gp[i] * k }
            }
        }
    }
}
