/// A crop rectangle in pixels: rows `top ..< top + height`, columns `left ..< left + width`
/// (torchvision's `i, j, h, w`).
public struct CropBox: Equatable, Hashable, Sendable {
    public var top: Int
    public var left: Int
    public var height: Int
    public var width: Int

    public init(top: Int, left: Int, height: Int, width: Int) {
        self.top = top
        self.left = left
        self.height = height
        self.width = width
    }
}

/// `crop(img, top, left, height, width)` for a box inside the image.
public func crop(_ image: FloatImage, _ box: CropBox) -> FloatImage {
    precondition(box.top >= 0 && box.left >= 0 && box.height > 0 && box.width > 0
                 && box.top + box.height <= image.height && box.left + box.width <= image.width,
                 "crop \(box) outside a \(image.height)x\(image.width) image")
    var out = FloatImage(channels: image.channels, height: box.height, width: box.width)
    for c in 0..<image.channels {
        for y in 0..<box.height {
            let s = (c * image.height + box.top + y) * image.width + box.left
            let d = (c * box.height + y) * box.width
            for x in 0..<box.width { out.data[d + x] = image.data[s + x] }
        }
    }
    return out
}

/// `hflip`: mirror left-right.
public func horizontalFlip(_ image: FloatImage) -> FloatImage {
    var out = image
    let w = image.width
    for row in 0..<(image.channels * image.height) {
        let s = row * w
        for x in 0..<w { out.data[s + x] = image.data[s + w - 1 - x] }
    }
    return out
}

/// `pad(img, padding, fill=0)`: a constant border on all four sides.
public func pad(_ image: FloatImage, _ padding: Int, fill: Float = 0) -> FloatImage {
    if padding == 0 { return image }
    let h = image.height + 2 * padding, w = image.width + 2 * padding
    var out = FloatImage(channels: image.channels, height: h, width: w, repeating: fill)
    for c in 0..<image.channels {
        for y in 0..<image.height {
            let s = (c * image.height + y) * image.width
            let d = (c * h + y + padding) * w + padding
            for x in 0..<image.width { out.data[d + x] = image.data[s + x] }
        }
    }
    return out
}

/// Taps of 1-D bilinear resampling from `inputSize` to `outputSize` samples, as PyTorch's antialiased
/// bilinear interpolation (`interpolate(..., mode="bilinear", align_corners=False, antialias=True)`, which
/// torchvision's `resize` / `resized_crop` use by default): output pixel i is centred at
/// `center = scale * (i + 0.5)` in input coordinates (half-pixel centres), `scale = in / out`, and takes
/// the triangle filter `max(0, 1 - |d|)` at the input pixel centres, normalized to sum 1.
/// Upscaling (scale <= 1): the filter has radius 1, which is exactly ordinary bilinear interpolation with
/// half-pixel centres and clamping at the edges. Downscaling (scale > 1): the triangle is stretched to
/// radius `scale`, averaging all covered input pixels (the antialias that avoids aliasing).
struct ResampleTaps {
    var start: [Int]      // first input index of each output sample
    var count: [Int]      // number of taps of each output sample
    var weights: [Float]  // `maxTaps` weights per output sample
    var maxTaps: Int

    init(inputSize: Int, outputSize: Int) {
        let scale = Double(inputSize) / Double(outputSize)
        let support = scale >= 1 ? scale : 1.0
        let invScale = scale >= 1 ? 1 / scale : 1.0
        maxTaps = Int(support.rounded(.up)) * 2 + 1
        start = [Int](repeating: 0, count: outputSize)
        count = [Int](repeating: 0, count: outputSize)
        weights = [Float](repeating: 0, count: outputSize * maxTaps)
        var w = [Double](repeating: 0, count: maxTaps)
        for i in 0..<outputSize {
            let center = scale * (Double(i) + 0.5)
            // C++ casts truncate toward zero; `max(..., 0)` then clamps, as in PyTorch.
            let lo = max(Int(center - support + 0.5), 0)
            let hi = min(Int(center + support + 0.5), inputSize)
            var total = 0.0
            for j in lo..<hi {
                w[j - lo] = max(0, 1 - abs((Double(j) - center + 0.5) * invScale))
                total += w[j - lo]
            }
            start[i] = lo
            count[i] = hi - lo
            for t in 0..<(hi - lo) { weights[i * maxTaps + t] = Float(total != 0 ? w[t] / total : w[t]) }
        }
    }
}

/// `resize(img, [height, width], bilinear, antialias=True)`; see `ResampleTaps` for the filter.
/// Separable: rows first, then columns.
public func resize(_ image: FloatImage, height outH: Int, width outW: Int) -> FloatImage {
    if outH == image.height && outW == image.width { return image }
    let tx = ResampleTaps(inputSize: image.width, outputSize: outW)
    let ty = ResampleTaps(inputSize: image.height, outputSize: outH)
    let inH = image.height, inW = image.width, channels = image.channels
    var temp = [Float](repeating: 0, count: channels * inH * outW)
    var out = FloatImage(channels: channels, height: outH, width: outW)
    image.data.withUnsafeBufferPointer { srcBuffer in
        temp.withUnsafeMutableBufferPointer { tmpBuffer in
            tx.start.withUnsafeBufferPointer { start in
                tx.count.withUnsafeBufferPointer { count in
                    tx.weights.withUnsafeBufferPointer { weights in
                        let src = srcBuffer.baseAddress!, tmp = tmpBuffer.baseAddress!
                        for row in 0..<(channels * inH) {
                            for x in 0..<outW {
                                var acc: Float = 0
                                let s = src + row * inW + start[x], w = weights.baseAddress! + x * tx.maxTaps
                                for t in 0..<count[x] { acc += w[t] * s[t] }
                                tmp[row * outW + x] = acc
                            }
                        }
                    }
                }
            }
        }
    }
    temp.withUnsafeBufferPointer { tmpBuffer in
        out.data.withUnsafeMutableBufferPointer { dstBuffer in
            let tmp = tmpBuffer.baseAddress!, dst = dstBuffer.baseAddress!
            for c in 0..<channels {
                for y in 0..<outH {
                    let d = dst + (c * outH + y) * outW
                    for t in 0..<ty.count[y] {
                        let wt = ty.weights[y * ty.maxTaps + t]
                        let s = tmp + (c * inH + ty.start[y] + t) * outW
                        for x in 0..<outW { d[x] += wt * s[x] }
                    }
                }
            }
        }
    }
    return out
}

/// `resized_crop(img, top, left, height, width, [outH, outW], bilinear, antialias=True)`.
public func resizedCrop(_ image: FloatImage, _ box: CropBox, height outH: Int, width outW: Int) -> FloatImage {
    resize(crop(image, box), height: outH, width: outW)
}
