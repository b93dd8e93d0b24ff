// Colour operations on float CHW images in [0, 1], with torchvision's tensor semantics
// (torchvision.transforms.functional on float tensors). Each result is clamped to [0, 1].
// Arithmetic is float32 in torchvision's order of operations, so the golden tests agree to ~1e-7.

/// Luma weights of torchvision's tensor `rgb_to_grayscale`. ITU-R 601-2 is (0.299, 0.587, 0.114);
/// torchvision's tensor code (following TensorFlow) uses 0.2989 for red, and we match it.
public let lumaWeights: (r: Float, g: Float, b: Float) = (0.2989, 0.587, 0.114)

/// `rgb_to_grayscale(img, num_output_channels)`: the luma of each pixel, as 1 or 3 equal channels.
public func rgbToGrayscale(_ image: FloatImage, outputChannels: Int = 3) -> FloatImage {
    precondition(image.channels == 3, "grayscale needs 3 channels")
    precondition(outputChannels == 1 || outputChannels == 3, "1 or 3 output channels")
    let luma = lumaPlane(image)
    var data = luma
    if outputChannels == 3 { data = luma + luma + luma }
    return FloatImage(channels: outputChannels, height: image.height, width: image.width, data: data)
}

func lumaPlane(_ image: FloatImage) -> [Float] {
    let n = image.planeSize
    return [Float](unsafeUninitializedCapacity: n) { out, initialized in
        image.data.withUnsafeBufferPointer { d in
            for p in 0..<n {
                out[p] = lumaWeights.r * d[p] + lumaWeights.g * d[n + p] + lumaWeights.b * d[2 * n + p]
            }
        }
        initialized = n
    }
}

/// torchvision's `_blend`: `ratio * img + (1 - ratio) * other`, clamped to [0, 1]. `other` is a constant
/// (`otherPlane == nil`, value `otherConstant`) or a single plane shared by every channel.
func blend(_ image: inout FloatImage, ratio: Double, otherPlane: [Float]?, otherConstant: Float = 0) {
    let a = Float(ratio), b = Float(1 - ratio)
    let n = image.planeSize
    image.data.withUnsafeMutableBufferPointer { d in
        if let otherPlane {
            otherPlane.withUnsafeBufferPointer { o in
                for c in 0..<image.channels {
                    for p in 0..<n { d[c * n + p] = min(max(a * d[c * n + p] + b * o[p], 0), 1) }
                }
            }
        } else {
            let bo = b * otherConstant
            for i in 0..<d.count { d[i] = min(max(a * d[i] + bo, 0), 1) }
        }
    }
}

/// `adjust_brightness`: blend with black.
public func adjustBrightness(_ image: FloatImage, _ factor: Double) -> FloatImage {
    var out = image
    blend(&out, ratio: factor, otherPlane: nil, otherConstant: 0)
    return out
}

/// `adjust_contrast`: blend with the mean of the image's grayscale.
public func adjustContrast(_ image: FloatImage, _ factor: Double) -> FloatImage {
    precondition(image.channels == 3, "contrast needs 3 channels")
    var sum = 0.0
    for v in lumaPlane(image) { sum += Double(v) }
    let mean = Float(sum / Double(image.planeSize))
    var out = image
    blend(&out, ratio: factor, otherPlane: nil, otherConstant: mean)
    return out
}

/// `adjust_saturation`: blend with the grayscale image.
public func adjustSaturation(_ image: FloatImage, _ factor: Double) -> FloatImage {
    precondition(image.channels == 3, "saturation needs 3 channels")
    var out = image
    blend(&out, ratio: factor, otherPlane: lumaPlane(image))
    return out
}

/// `adjust_hue`: shift the hue by `factor` (in turns, -0.5...0.5) in HSV space.
/// Follows torchvision's `_rgb2hsv` / `_hsv2rgb` (Pillow's conversion) step by step.
public func adjustHue(_ image: FloatImage, _ factor: Double) -> FloatImage {
    precondition(image.channels == 3, "hue needs 3 channels")
    precondition((-0.5...0.5).contains(factor), "hue factor \(factor) outside [-0.5, 0.5]")
    let shift = Float(factor)
    let n = image.planeSize
    var out = image
    out.data.withUnsafeMutableBufferPointer { d in
        for p in 0..<n {
            let r = d[p], g = d[n + p], b = d[2 * n + p]
            // RGB -> HSV
            let maxc = max(r, g, b), minc = min(r, g, b)
            let equal = maxc == minc
            let cr = maxc - minc
            let s = cr / (equal ? 1 : maxc)
            let divisor = equal ? 1 : cr
            let rc = (maxc - r) / divisor, gc = (maxc - g) / divisor, bc = (maxc - b) / divisor
            var h: Float
            if maxc == r { h = bc - gc } else if maxc == g { h = 2 + rc - bc } else { h = 4 + gc - rc }
            // torch.fmod(h / 6 + 1, 1): the argument lies in [0, 2), so subtracting 1 when >= 1 is exact
            // and equal (no libm floor call in this per-pixel loop).
            h = h / 6 + 1
            if h >= 1 { h -= 1 }
            // shift, wrapping like torch's `%` (floor modulo); h + shift lies in [-0.5, 1.5]
            h += shift
            if h < 0 { h += 1 } else if h >= 1 { h -= 1 }
            // HSV -> RGB
            let v = maxc
            let h6 = h * 6
            let i = Float(Int(h6))    // floor, h6 >= 0
            let f = h6 - i
            let pp = min(max(v * (1 - s), 0), 1)
            let q = min(max(v * (1 - s * f), 0), 1)
            let t = min(max(v * (1 - s * (1 - f)), 0), 1)
            let sector = ((Int(i) % 6) + 6) % 6
            let rgb: (Float, Float, Float)
            switch sector {
            case 0: rgb = (v, t, pp)
            case 1: rgb = (q, v, pp)
            case 2: rgb = (pp, v, t)
            case 3: rgb = (pp, q, v)
            case 4: rgb = (t, pp, v)
            default: rgb = (v, pp, q)
            }
            d[p] = rgb.0; d[n + p] = rgb.1; d[2 * n + p] = rgb.2
        }
    }
    return out
}

#if canImport(Glibc)
import Glibc
#elseif canImport(Darwin)
import Darwin
#endif
