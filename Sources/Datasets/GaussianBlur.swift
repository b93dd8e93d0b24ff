#if canImport(Glibc)
import Glibc
#elseif canImport(Darwin)
import Darwin
#endif

/// torchvision's `_get_gaussian_kernel1d`: `exp(-0.5 (x / sigma)^2)` at x = -(k-1)/2 ... (k-1)/2, normalized.
public func gaussianKernel1D(size: Int, sigma: Double) -> [Float] {
    precondition(size > 0 && size % 2 == 1, "kernel size must be odd and positive, not \(size)")
    precondition(sigma > 0, "sigma must be positive")
    let half = Float(size - 1) * 0.5
    let s = Float(sigma)
    let pdf = (0..<size).map { i -> Float in
        let x = -half + Float(i)
        let z = x / s
        return expf(-0.5 * z * z)
    }
    let sum = pdf.reduce(0, +)
    return pdf.map { $0 / sum }
}

/// Index into 0..<n with reflect padding (mirror without repeating the edge: -1 -> 1, n -> n-2),
/// periodic so any overhang works (torch's reflect pad needs padding < n; we never fail).
@inline(__always)
func reflectIndex(_ i: Int, _ n: Int) -> Int {
    if n == 1 { return 0 }
    let period = 2 * (n - 1)
    var j = i % period
    if j < 0 { j += period }
    return j < n ? j : period - j
}

/// `gaussian_blur(img, [k, k], [sigma, sigma])`: reflect padding of k/2, then the Gaussian kernel.
/// torchvision convolves with the 2-D outer-product kernel; we apply the same kernel separably
/// (rows, then columns), equal up to float rounding.
public func gaussianBlur(_ image: FloatImage, kernelSize: Int, sigma: Double) -> FloatImage {
    let kernel = gaussianKernel1D(size: kernelSize, sigma: sigma)
    let radius = kernelSize / 2
    let h = image.height, w = image.width
    var temp = [Float](repeating: 0, count: image.data.count)
    var padded = [Float](repeating: 0, count: max(w, h) + 2 * radius)
    var out = image
    // Source indices of the padded row / column (reflect), so both passes are plain shifted sums.
    let xSource = (0..<(w + 2 * radius)).map { reflectIndex($0 - radius, w) }
    let ySource = (0..<(h + 2 * radius)).map { reflectIndex($0 - radius, h) }
    kernel.withUnsafeBufferPointer { kBuffer in
        padded.withUnsafeMutableBufferPointer { padBuffer in
            let k = kBuffer.baseAddress!, pad = padBuffer.baseAddress!
            image.data.withUnsafeBufferPointer { srcBuffer in
                temp.withUnsafeMutableBufferPointer { tmpBuffer in
                    // rows: pad each row, then out[x] = sum_t k[t] * padded[x + t]
                    for row in 0..<(image.channels * h) {
                        let s = srcBuffer.baseAddress! + row * w, d = tmpBuffer.baseAddress! + row * w
                        for i in 0..<(w + 2 * radius) { pad[i] = s[xSource[i]] }
                        d.update(repeating: 0, count: w)
                        for t in 0..<kernelSize {
                            let kt = k[t], p = pad + t
                            for x in 0..<w { d[x] += kt * p[x] }
                        }
                    }
                }
            }
            temp.withUnsafeBufferPointer { tmpBuffer in
                out.data.withUnsafeMutableBufferPointer { dstBuffer in
                    // columns: output row y = sum_t k[t] * row ySource[y + t]
                    for c in 0..<image.channels {
                        let plane = c * h * w
                        for y in 0..<h {
                            let d = dstBuffer.baseAddress! + plane + y * w
                            d.update(repeating: 0, count: w)
                            for t in 0..<kernelSize {
                                let kt = k[t], s = tmpBuffer.baseAddress! + plane + ySource[y + t] * w
                                for x in 0..<w { d[x] += kt * s[x] }
                            }
                        }
                    }
                }
            }
        }
    }
    return out
}
