import CKernels

/// Batch norm, element-wise and pooling kernels on blocked feature maps (`FeatureMap`), spread over
/// `Parallel.threadCount` threads by planes (one image's channel block). Per-channel arrays passed in or
/// out have `channelBlocks * 16` entries ("lanes"); padded lanes are zero on output and must be zero
/// (scale, shift, k) on input so padded channels stay zero.
public enum BlockedKernels {
    /// Planes per thread so that each thread gets at least ~32K floats.
    private static func planeGrain(_ map: FeatureMap) -> Int { max(1, (1 << 15) / max(1, map.pixels * SK_BLOCK_COUNT)) }

    private static func forPlanes(_ map: FeatureMap, _ body: (_ thread: Int, _ q0: Int32, _ q1: Int32) -> Void) {
        Parallel.forThreads(map.planes, grain: planeGrain(map)) { t, r in body(t, Int32(r.lowerBound), Int32(r.upperBound)) }
    }

    /// Per-lane sums of the threads' partials into `first` and `second` (overwritten).
    private static func sumPartials(_ map: FeatureMap, first: UnsafeMutablePointer<Double>, second: UnsafeMutablePointer<Double>,
                                    _ body: (_ a: UnsafeMutablePointer<Double>, _ b: UnsafeMutablePointer<Double>, Int32, Int32) -> Void) {
        let lanes = map.channelBlocks * SK_BLOCK_COUNT
        let threads = Parallel.threads(map.planes, grain: planeGrain(map))
        withUnsafeTemporaryAllocation(of: Double.self, capacity: 2 * threads * lanes) { partials in
            let p = partials.baseAddress!
            p.initialize(repeating: 0, count: 2 * threads * lanes)
            forPlanes(map) { t, q0, q1 in body(p + 2 * t * lanes, p + (2 * t + 1) * lanes, q0, q1) }
            first.initialize(repeating: 0, count: lanes)
            second.initialize(repeating: 0, count: lanes)
            for t in 0..<threads {
                let a = p + 2 * t * lanes, b = p + (2 * t + 1) * lanes
                for l in 0..<lanes { first[l] += a[l]; second[l] += b[l] }
            }
        }
    }

    /// sum[l] = sum of x, sumOfSquares[l] = sum of x^2 over every image and pixel, per lane.
    public static func channelSums(_ x: FeatureMap, sum: UnsafeMutablePointer<Double>, sumOfSquares: UnsafeMutablePointer<Double>) {
        let xp = x.tensor.base, cb = Int32(x.channelBlocks), hw = Int32(x.pixels)
        sumPartials(x, first: sum, second: sumOfSquares) { a, b, q0, q1 in sk_bn_sums(xp, cb, hw, q0, q1, a, b) }
    }

    /// y = x * scale + shift (+ residual), then ReLU if asked; into float32 `output` and/or its bf16 copy.
    public static func scaleShift(_ x: FeatureMap, scale: UnsafePointer<Float>, shift: UnsafePointer<Float>, residual: Tensor?,
                                  relu: Bool, output: Tensor?, outputBF16: BF16Tensor?) {
        precondition(output != nil || outputBF16 != nil, "scaleShift needs an output")
        precondition(residual.map { $0.count == x.storageCount } ?? true, "residual size")
        let xp = x.tensor.base, rp = residual?.base, yp = output?.base, y16 = outputBF16?.base
        let cb = Int32(x.channelBlocks), hw = Int32(x.pixels)
        forPlanes(x) { _, q0, q1 in sk_bn_apply(xp, rp, yp, y16, scale, shift, relu ? 1 : 0, cb, hw, q0, q1) }
    }

    /// Per-lane sum(g) and sum(g * (x - mean)), where g = dy, or dy masked by `reluOutput > 0` (then
    /// also written to `masked`).
    public static func gradientSums(x: FeatureMap, gradOutput dy: Tensor, reluOutput: Tensor?, masked: Tensor?,
                                    mean: UnsafePointer<Float>, sumDy: UnsafeMutablePointer<Double>,
                                    sumDyCentered: UnsafeMutablePointer<Double>) {
        precondition(dy.count == x.storageCount, "gradient size")
        let xp = x.tensor.base, gp = dy.base, rp = reluOutput?.base, mp = masked?.base
        let cb = Int32(x.channelBlocks), hw = Int32(x.pixels)
        sumPartials(x, first: sumDy, second: sumDyCentered) { a, b, q0, q1 in
            sk_bn_grad_sums(xp, gp, rp, mp, mean, cb, hw, q0, q1, a, b)
        }
    }

    /// dx = k * (g - meanDy - (x - mean) * c2) per lane, into float32 `gradInput` and/or its bf16 copy.
    /// With `reluOutput`, g is first masked by reluOutput > 0.
    public static func batchNormInputGradient(x: FeatureMap, gradient g: Tensor, reluOutput: Tensor?,
                                              mean: UnsafePointer<Float>, k: UnsafePointer<Float>,
                                              meanDy: UnsafePointer<Float>, c2: UnsafePointer<Float>,
                                              gradInput: Tensor?, gradInputBF16: BF16Tensor?) {
        precondition(gradInput != nil || gradInputBF16 != nil, "batch-norm backward needs an output")
        let xp = x.tensor.base, gp = g.base, rp = reluOutput?.base, dp = gradInput?.base, d16 = gradInputBF16?.base
        let cb = Int32(x.channelBlocks), hw = Int32(x.pixels)
        forPlanes(x) { _, q0, q1 in sk_bn_input_grad(xp, gp, rp, dp, d16, mean, k, meanDy, c2, cb, hw, q0, q1) }
    }

    /// y = a + b.
    public static func add(_ a: Tensor, _ b: Tensor, into y: Tensor) {
        precondition(a.count == b.count && b.count == y.count, "add of unequal sizes")
        let ap = a.base, bp = b.base, yp = y.base
        Parallel.forRanges(a.count) { r in sk_add(ap, bp, yp, r.lowerBound, r.upperBound) }
    }

    /// features [batch, channels] = mean over pixels.
    public static func globalAverage(_ x: FeatureMap, into features: Tensor) {
        precondition(features.count == x.batch * x.channels, "pooled features size")
        let xp = x.tensor.base, fp = features.base, c = Int32(x.channels), hw = Int32(x.pixels)
        Parallel.forRanges(x.batch, grain: 1) { r in sk_global_avg_forward(xp, fp, c, hw, Int32(r.lowerBound), Int32(r.upperBound)) }
    }

    /// The gradient of `globalAverage`: every pixel gets its image's feature gradient / pixels.
    public static func globalAverageBackward(gradFeatures: Tensor, into dx: FeatureMap) {
        precondition(gradFeatures.count == dx.batch * dx.channels, "pooled gradient size")
        let gp = gradFeatures.base, dp = dx.tensor.base, c = Int32(dx.channels), hw = Int32(dx.pixels)
        Parallel.forRanges(dx.batch, grain: 1) { r in sk_global_avg_backward(gp, dp, c, hw, Int32(r.lowerBound), Int32(r.upperBound)) }
    }

    public static func poolOutputSize(_ input: Int, kernel: Int, stride: Int, padding: Int) -> Int {
        (input + 2 * padding - kernel) / stride + 1
    }

    /// Max pool; `argmax` receives, per output lane, the input pixel chosen (first maximum, as PyTorch).
    public static func maxPool(_ x: FeatureMap, kernel: Int, stride: Int, padding: Int, output y: FeatureMap,
                               argmax: UnsafeMutablePointer<Int32>) {
        let xp = x.tensor.base, yp = y.tensor.base
        let (ih, iw, oh, ow) = (Int32(x.height), Int32(x.width), Int32(y.height), Int32(y.width))
        forPlanes(x) { _, q0, q1 in
            sk_maxpool_forward(xp, yp, argmax, ih, iw, oh, ow, Int32(kernel), Int32(stride), Int32(padding), q0, q1)
        }
    }

    public static func maxPoolBackward(gradOutput dy: FeatureMap, argmax: UnsafePointer<Int32>, gradInput dx: FeatureMap) {
        let gp = dy.tensor.base, dp = dx.tensor.base
        let (ih, iw, oh, ow) = (Int32(dx.height), Int32(dx.width), Int32(dy.height), Int32(dy.width))
        forPlanes(dx) { _, q0, q1 in sk_maxpool_backward(gp, argmax, dp, ih, iw, oh, ow, q0, q1) }
    }
}
