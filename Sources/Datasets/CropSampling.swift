#if canImport(Glibc)
import Glibc
#elseif canImport(Darwin)
import Darwin
#endif
import Kernels

/// torchvision's `RandomResizedCrop.get_params`: up to 10 attempts of a target area uniform in
/// `scale * H * W` and an aspect ratio log-uniform in `ratio`, `w = round(sqrt(area * ratio))`,
/// `h = round(sqrt(area / ratio))` (round half to even, like Python), accepted when it fits, then top and
/// left uniform; otherwise the central crop of the whole image clamped to the ratio range.
public func randomResizedCropBox(height: Int, width: Int, scale: ClosedRange<Double>,
                                 ratio: ClosedRange<Double>, rng: inout RandomStream) -> CropBox {
    randomResizedCropAttempts(height: height, width: width, scale: scale, ratio: ratio, rng: &rng)
        ?? centralCropBox(height: height, width: width, ratio: ratio)
}

/// The 10 attempts of `randomResizedCropBox`: the first box that fits, or nil when none does (then the
/// caller falls back to `centralCropBox`). Separate so tests can count the fallbacks.
public func randomResizedCropAttempts(height: Int, width: Int, scale: ClosedRange<Double>,
                                      ratio: ClosedRange<Double>, rng: inout RandomStream) -> CropBox? {
    let area = Double(height * width)
    let logRatio = log(ratio.lowerBound)...log(ratio.upperBound)
    for _ in 0..<10 {
        let targetArea = area * rng.uniform(in: scale)
        let aspect = exp(rng.uniform(in: logRatio))
        let w = Int((targetArea * aspect).squareRoot().rounded(.toNearestOrEven))
        let h = Int((targetArea / aspect).squareRoot().rounded(.toNearestOrEven))
        if w > 0 && w <= width && h > 0 && h <= height {
            let top = rng.int(below: height - h + 1)
            let left = rng.int(below: width - w + 1)
            return CropBox(top: top, left: left, height: h, width: w)
        }
    }
    return nil
}

/// The fallback of `randomResizedCropBox`: the whole image, cut to the nearest allowed aspect ratio, centred.
public func centralCropBox(height: Int, width: Int, ratio: ClosedRange<Double>) -> CropBox {
    let inRatio = Double(width) / Double(height)
    var w = width, h = height
    if inRatio < ratio.lowerBound {
        h = Int((Double(w) / ratio.lowerBound).rounded(.toNearestOrEven))
    } else if inRatio > ratio.upperBound {
        w = Int((Double(h) * ratio.upperBound).rounded(.toNearestOrEven))
    }
    return CropBox(top: (height - h) / 2, left: (width - w) / 2, height: h, width: w)
}

/// torchvision's `RandomCrop.get_params`: a `size` x `size` box, top and left uniform.
public func randomCropBox(height: Int, width: Int, size: Int, rng: inout RandomStream) -> CropBox {
    precondition(height >= size && width >= size, "a \(size) crop of a \(height)x\(width) image")
    let top = height == size ? 0 : rng.int(below: height - size + 1)
    let left = width == size ? 0 : rng.int(below: width - size + 1)
    return CropBox(top: top, left: left, height: size, width: size)
}
