/// The float64 reference the convolution tests measure against: a 3x3, stride 1, padding 1 convolution of NCHW
/// `x` [n, cin, h, w] with `weights` [cout, cin, 3, 3], written as plainly as possible. Returns y = conv(x, w),
/// dx = conv^T(dy, w) and dw = the correlation of x with dy, for dy [n, cout, h, w].
func referenceConvolution3x3(x: [Float], dy: [Float], weights: [Float], batch n: Int, inChannels cin: Int,
                             outChannels cout: Int, height h: Int, width w: Int) -> (y: [Double], dx: [Double], dw: [Double]) {
    var y = [Double](repeating: 0, count: dy.count), dx = [Double](repeating: 0, count: x.count)
    var dw = [Double](repeating: 0, count: weights.count)
    for b in 0..<n { for o in 0..<cout { for i in 0..<cin { for ky in 0..<3 { for kx in 0..<3 {
        let wi = ((o * cin + i) * 3 + ky) * 3 + kx, wv = Double(weights[wi])
        for oy in 0..<h { for ox in 0..<w {
            let iy = oy + ky - 1, ix = ox + kx - 1
            guard iy >= 0, iy < h, ix >= 0, ix < w else { continue }
            let xi = ((b * cin + i) * h + iy) * w + ix, yi = ((b * cout + o) * h + oy) * w + ox
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
