import Kernels

/// The float64 reference the convolution tests measure against: a 3x3, padding 1 convolution (stride 1 unless
/// asked) of NCHW `x` [n, cin, h, w] with `weights` [cout, cin, 3, 3], written as plainly as possible. Returns
/// y = conv(x, w), dx = conv^T(dy, w) and dw = the correlation of x with dy, for dy [n, cout, oh, ow] (oh = h at
/// stride 1, (h - 1) / 2 + 1 at stride 2).
func referenceConvolution3x3(x: [Float], dy: [Float], weights: [Float], batch n: Int, inChannels cin: Int,
                             outChannels cout: Int, height h: Int, width w: Int, stride: Int = 1)
    -> (y: [Double], dx: [Double], dw: [Double]) {
    let oh = (h - 1) / stride + 1, ow = (w - 1) / stride + 1
    precondition(dy.count == n * cout * oh * ow, "dy is [n, cout, oh, ow]")
    var y = [Double](repeating: 0, count: dy.count), dx = [Double](repeating: 0, count: x.count)
    var dw = [Double](repeating: 0, count: weights.count)
    for b in 0..<n { for o in 0..<cout { for i in 0..<cin { for ky in 0..<3 { for kx in 0..<3 {
        let wi = ((o * cin + i) * 3 + ky) * 3 + kx, wv = Double(weights[wi])
        for oy in 0..<oh { for ox in 0..<ow {
            let iy = stride * oy + ky - 1, ix = stride * ox + kx - 1
            guard iy >= 0, iy < h, ix >= 0, ix < w else { continue }
            let xi = ((b * cin + i) * h + iy) * w + ix, yi = ((b * cout + o) * oh + oy) * ow + ox
            y[yi] += wv * Double(x[xi])
            dx[xi] += wv * Double(dy[yi])
            dw[wi] += Double(dy[yi]) * Double(x[xi])
        } }
    } } } } }
    return (y, dx, dw)
}

/// max |a - reference| / max |reference|: an error on the scale of the values.
func relativeError(_ a: [Float], _ reference: [Double]) -> Double {
    zip(a, reference).map { abs(Double($0) - $1) }.max()! / reference.map(abs).max()!
}

/// The bf16 weight gradient of shape `g` (blocked source `x` and output gradient `dy`, rounded to bf16; with
/// `float32Source`, x's float32 values passed beside its bf16 copy) with `algorithm` asked for the pass, written
/// over a gradient filled with garbage (the pass must overwrite it, not add to it). Returns the gradient and the
/// kernel (what ran).
func bf16WeightGradient(_ g: ConvGeometry, algorithm: ConvAlgorithm, source x: Tensor, float32Source: Bool,
                        gradOutput dy: Tensor) -> (dw: [Float], kernel: ConvolutionKernel) {
    func low(_ t: Tensor) -> ConvOperand {
        let r = BF16Tensor(count: t.count)
        r.round(from: t)
        return .bf16(r)
    }
    let conv = ConvolutionKernel(g, bf16: true, plainSource: false, inputGradient: true,
                                 algorithms: ConvPassAlgorithms(forward: .direct, backwardData: .direct, backwardWeights: algorithm))
    conv.setWeights(Tensor(shape: [g.weightCount]))   // the weight gradient does not depend on the weights
    let dw = Tensor(shape: [g.weightCount])
    for j in 0..<dw.count { dw[j] = 7 }
    conv.backwardWeights(source: low(x), float32Source: float32Source ? x : nil, gradOutput: low(dy), gradWeight: dw)
    return (dw.array, conv)
}
