/// Element-wise kernels: activation, residual add, accumulation.
public enum Elementwise {
    /// y = max(x, 0).
    public static func relu(_ x: Tensor, into y: Tensor) {
        precondition(x.count == y.count)
        let xp = x.base, yp = y.base
        Parallel.forRanges(x.count) { r in for i in r { yp[i] = max(xp[i], 0) } }
    }

    /// dx = dy where y > 0, else 0 (uses the forward output).
    public static func reluBackward(output y: Tensor, gradOutput dy: Tensor, into dx: Tensor) {
        precondition(y.count == dy.count && dy.count == dx.count)
        let yp = y.base, gp = dy.base, dp = dx.base
        Parallel.forRanges(y.count) { r in for i in r { dp[i] = yp[i] > 0 ? gp[i] : 0 } }
    }

    /// out = relu(a + b): the end of a residual block, fused.
    public static func addRelu(_ a: Tensor, _ b: Tensor, into out: Tensor) {
        precondition(a.count == b.count && b.count == out.count)
        let ap = a.base, bp = b.base, op = out.base
        Parallel.forRanges(a.count) { r in for i in r { op[i] = max(ap[i] + bp[i], 0) } }
    }

    /// y += x.
    public static func add(_ x: Tensor, into y: Tensor) {
        precondition(x.count == y.count)
        let xp = x.base, yp = y.base
        Parallel.forRanges(x.count) { r in for i in r { yp[i] += xp[i] } }
    }

    /// y = y * m + x * complement: an exponential moving average of x (MoCo's key encoder). `complement` is
    /// passed rather than computed as 1 - m in Float, so callers can round (1 - m) from double precision as
    /// PyTorch does with a Python float.
    public static func movingAverage(_ y: Tensor, toward x: Tensor, momentum m: Float, complement: Float) {
        precondition(x.count == y.count)
        let xp = x.base, yp = y.base
        Parallel.forRanges(y.count) { r in for i in r { yp[i] = yp[i] * m + xp[i] * complement } }
    }
}
