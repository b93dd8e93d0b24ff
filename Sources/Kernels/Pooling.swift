/// Max pooling and global average pooling on CNHW feature maps.
public enum Pooling {
    public static func outputSize(_ input: Int, kernel: Int, stride: Int, padding: Int) -> Int {
        (input + 2 * padding - kernel) / stride + 1
    }

    /// Max pool; `argmax` receives, per output element, the flat in-plane index of the chosen input.
    public static func maxPoolForward(_ x: FeatureMap, kernel: Int, stride: Int, padding: Int,
                                      output: Tensor, argmax: UnsafeMutableBufferPointer<Int32>) {
        let oh = outputSize(x.height, kernel: kernel, stride: stride, padding: padding)
        let ow = outputSize(x.width, kernel: kernel, stride: stride, padding: padding)
        let planes = x.channels * x.batch, ih = x.height, iw = x.width
        precondition(output.count == planes * oh * ow && argmax.count >= output.count)
        let xp = x.tensor.base, yp = output.base, ap = argmax.baseAddress!
        Parallel.forEach(planes) { plane in
            let src = xp + plane * ih * iw, dst = yp + plane * oh * ow, arg = ap + plane * oh * ow
            for y in 0..<oh {
                for xo in 0..<ow {
                    var best = -Float.infinity, bestIndex: Int32 = -1
                    for ky in 0..<kernel {
                        let iy = y * stride - padding + ky
                        if iy < 0 || iy >= ih { continue }
                        for kx in 0..<kernel {
                            let ix = xo * stride - padding + kx
                            if ix < 0 || ix >= iw { continue }
                            let v = src[iy * iw + ix]
                            // Strict > keeps the first maximum, as PyTorch does.
                            if v > best || bestIndex < 0 { best = v; bestIndex = Int32(iy * iw + ix) }
                        }
                    }
                    dst[y * ow + xo] = best
                    arg[y * ow + xo] = bestIndex
                }
            }
        }
    }

    public static func maxPoolBackward(gradOutput: Tensor, argmax: UnsafeMutableBufferPointer<Int32>,
                                       planes: Int, outPlane: Int, inPlane: Int, gradInput: Tensor) {
        precondition(gradOutput.count == planes * outPlane && gradInput.count == planes * inPlane)
        gradInput.fill(0)
        let gp = gradOutput.base, dp = gradInput.base, ap = argmax.baseAddress!
        Parallel.forEach(planes) { plane in
            let g = gp + plane * outPlane, a = ap + plane * outPlane, d = dp + plane * inPlane
            for i in 0..<outPlane { d[Int(a[i])] += g[i] }
        }
    }

    /// features[n, c] = mean over h, w of x[c, n, :, :]  (row-major [batch, channels] for the head).
    public static func globalAverageForward(_ x: FeatureMap, features: Tensor) {
        precondition(features.count == x.batch * x.channels)
        let hw = x.height * x.width, inv = 1 / Float(hw)
        let xp = x.tensor.base, fp = features.base, n = x.batch, c = x.channels
        Parallel.forEach(c) { ci in
            for ni in 0..<n {
                let p = xp + (ci * n + ni) * hw
                var s: Float = 0
                for i in 0..<hw { s += p[i] }
                fp[ni * c + ci] = s * inv
            }
        }
    }

    public static func globalAverageBackward(gradFeatures: Tensor, channels c: Int, batch n: Int,
                                             plane hw: Int, gradInput: Tensor) {
        precondition(gradFeatures.count == n * c && gradInput.count == c * n * hw)
        let gp = gradFeatures.base, dp = gradInput.base, inv = 1 / Float(hw)
        Parallel.forEach(c) { ci in
            for ni in 0..<n {
                let v = gp[ni * c + ci] * inv
                (dp + (ci * n + ni) * hw).update(repeating: v, count: hw)
            }
        }
    }
}
