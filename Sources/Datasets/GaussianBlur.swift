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
    var out = image
    // Precomputed source indices for every tap keep the inner loops branch-free.
    let xIndex = (0..<w).flatMap { x in (0..<kernelSize).map { reflectIndex(x + $0 - radius, w) } }
    let yIndex = (0..<h).flatMap { y in (0..<kernelSize).map { reflectIndex(y + $0 - radius, h) } }
    kernel.withUnsafeBufferPointer { k in
        image.data.withUnsafeBufferPointer { src in
            temp.withUnsafeMutableBufferPointer { tmp in
                for row in 0..<(image.channels * h) {
                    let s = row * w
                    for x in 0..<w {
                        var acc: Float = 0
                        for t in 0..<kernelSize { acc += k[t] * src[s + xIndex[x * kernelSize + t]] }
                        tmp[s + x] = acc
                    }
                }
            }
        }
        temp.withUnsafeBufferPointer { tmp in
            out.data.withUnsafeMutableBufferPointer { dst in
                for c in 0..<image.channels {
                    let plane = c * h * w
                    for y in 0..<h {
                        let d = plane + y * w
                        for x in 0..<w { dst[d + x] = 0 }
                        for t in 0..<kernelSize {
                            let kt = k[t], s = plane + yIndex[y * kernelSize + t] * w
                            for x in 0..<w { dst[d + x] += kt * tmp[s + x] }
                        }
                    }
                }
            }
        }
    }
    return out
}
