import Kernels

#if canImport(Glibc)
import Glibc
#elseif canImport(Darwin)
import Darwin
#endif

/// A synthetic 10-class dataset that is a real (if easy) vision problem, for tests and the offline demo.
///
/// Each image is one shape or pattern (the class) drawn in a random colour at a random position, scale
/// and rotation over a random background: a two-colour gradient with a coarse value-noise texture, plus
/// per-pixel noise on everything. Foreground and background colours are drawn independently of the class
/// (the foreground only kept away from the background's mean colour), so colour statistics carry no class
/// information and a model must look at shape. Stripe orientation is part of the class (horizontal and
/// vertical stripes are rotated by at most ±14°); every other shape is rotated freely.
///
/// Image i of a split is a pure function of (seed, split, i), so generation is deterministic in `seed`
/// and parallel (over `Parallel.threadCount` threads). Label of image i: `i % classes`.
public enum SyntheticShapes {
    public static let classNames = ["circle", "square", "triangle", "cross", "ring", "horizontal-stripes",
                                    "vertical-stripes", "checkerboard", "line", "two-dots"]

    /// The dataset's sizes unless a run asks for others: enough for a few minutes of training to show the
    /// method work on two cores.
    public static let defaultTrainCount = 5000
    public static let defaultTestCount = 1000

    /// Training and test splits (different streams of the same seed).
    public static func generate(classes: Int = 10, trainCount: Int, testCount: Int, imageSize: Int = 32,
                                seed: UInt64) -> (train: LabeledImages, test: LabeledImages) {
        (render(count: trainCount, classes: classes, imageSize: imageSize, seed: seed, split: 0),
         render(count: testCount, classes: classes, imageSize: imageSize, seed: seed, split: 1))
    }

    /// Generates a dataset and writes it as `directory/cifar-10-batches-bin/{data_batch_1.bin, test_batch.bin,
    /// batches.meta.txt}` (32x32 images). Returns the `cifar-10-batches-bin` path.
    @discardableResult
    public static func writeCIFAR(to directory: String, classes: Int = 10, trainCount: Int, testCount: Int,
                                  seed: UInt64) throws -> String {
        guard trainCount > 0, testCount > 0 else {
            throw DatasetError.invalidConfiguration("synthetic dataset needs train and test images")
        }
        let (train, test) = generate(classes: classes, trainCount: trainCount, testCount: testCount,
                                     imageSize: CIFAR10.imageSize, seed: seed)
        return try CIFAR10.writeDirectory(train: train, test: test, to: directory)
    }

    /// `count` images of one split.
    public static func render(count: Int, classes: Int = 10, imageSize: Int = 32, seed: UInt64,
                              split: Int = 0) -> LabeledImages {
        precondition((1...classNames.count).contains(classes), "1...\(classNames.count) classes")
        precondition(imageSize >= 8, "images of at least 8x8")
        let bytes = imageSize * imageSize * 3
        var pixels = [UInt8](repeating: 0, count: count * bytes)
        pixels.withUnsafeMutableBufferPointer { buffer in
            let base = buffer.baseAddress!
            Parallel.forEach(count, minimumPerThread: 256) { i in
                var rng = RandomStream(.syntheticImage, seed: seed, key: split, i)
                renderImage(label: i % classes, size: imageSize, rng: &rng, into: base + i * bytes)
            }
        }
        return LabeledImages(height: imageSize, width: imageSize, channels: 3, pixels: pixels,
                             labels: (0..<count).map { $0 % classes }, classNames: Array(classNames.prefix(classes)))
    }

    /// Draws one image of class `label` (HWC bytes, `size * size * 3`) from `rng`.
    public static func renderImage(label: Int, size: Int, rng: inout RandomStream, into out: UnsafeMutablePointer<UInt8>) {
        let n = Float(size)
        // Background: gradient between two colours along a random direction, with a coarse noise texture.
        let c1 = randomColour(&rng), c2 = randomColour(&rng)
        let gradientAngle = rng.uniformFloat(0, 2 * .pi)
        let gx = cosf(gradientAngle), gy = sinf(gradientAngle)
        let grid = 5   // value-noise control points per side
        let textureAmplitude = rng.uniformFloat(10, 45)
        let texture = (0..<(grid * grid)).map { _ in
            SIMD3<Float>(rng.uniformFloat(-textureAmplitude, textureAmplitude),
                         rng.uniformFloat(-textureAmplitude, textureAmplitude),
                         rng.uniformFloat(-textureAmplitude, textureAmplitude))
        }
        // Foreground colour: independent of the class, kept away from the background's mean colour.
        let mean = (c1 + c2) / 2
        var fg = randomColour(&rng)
        for _ in 0..<32 {
            let d = fg - mean
            if (d * d).sum().squareRoot() >= 110 { break }
            fg = randomColour(&rng)
        }
        // Geometry: radius, centre (shape mostly inside), rotation.
        let radius = n * rng.uniformFloat(0.22, 0.38)
        let margin = radius * 0.8
        let cx = rng.uniformFloat(margin, n - margin), cy = rng.uniformFloat(margin, n - margin)
        let orientedClass = label == 5 || label == 6
        let angle = orientedClass ? rng.uniformFloat(-0.25, 0.25) : rng.uniformFloat(0, 2 * .pi)
        let ca = cosf(angle) / radius, sa = sinf(angle) / radius
        let noiseAmplitude = rng.uniformFloat(4, 20)
        let noiseScale = 2 * noiseAmplitude / 65535

        texture.withUnsafeBufferPointer { tex in
            for y in 0..<size {
                let py = Float(y) + 0.5
                let fy = py / n * Float(grid - 1)
                let iy = min(Int(fy), grid - 2)
                let wy = fy - Float(iy)
                for x in 0..<size {
                    let px = Float(x) + 0.5
                    // shape coordinates: rotate by -angle around the centre, radius 1
                    let dx = px - cx, dy = py - cy
                    let u = ca * dx + sa * dy, v = -sa * dx + ca * dy
                    var value: SIMD3<Float>
                    if SyntheticShapes.inside(label: label, u: u, v: v) {
                        value = fg
                    } else {
                        let t = 0.5 + 0.70710678 * ((px / n - 0.5) * gx + (py / n - 0.5) * gy)
                        let fx = px / n * Float(grid - 1)
                        let ix = min(Int(fx), grid - 2)
                        let wx = fx - Float(ix)
                        let row0 = tex[iy * grid + ix] * (1 - wx) + tex[iy * grid + ix + 1] * wx
                        let row1 = tex[(iy + 1) * grid + ix] * (1 - wx) + tex[(iy + 1) * grid + ix + 1] * wx
                        value = c1 + (c2 - c1) * t + row0 * (1 - wy) + row1 * wy
                    }
                    let bits = rng.next()
                    let noise = SIMD3<Float>(Float(bits & 0xFFFF), Float((bits >> 16) & 0xFFFF),
                                             Float((bits >> 32) & 0xFFFF)) * noiseScale - noiseAmplitude
                    let q = (value + noise).clamped(lowerBound: SIMD3(repeating: 0), upperBound: SIMD3(repeating: 255))
                    let o = out + (y * size + x) * 3
                    o[0] = UInt8(q.x.rounded()); o[1] = UInt8(q.y.rounded()); o[2] = UInt8(q.z.rounded())
                }
            }
        }
    }

    private static func randomColour(_ rng: inout RandomStream) -> SIMD3<Float> {
        SIMD3(rng.uniformFloat(0, 255), rng.uniformFloat(0, 255), rng.uniformFloat(0, 255))
    }

    /// Whether shape coordinates (u, v) (centre 0, radius 1, already rotated) are inside class `label`'s shape.
    @inline(__always)
    static func inside(label: Int, u: Float, v: Float) -> Bool {
        let au = abs(u), av = abs(v)
        switch label {
        case 0: return u * u + v * v <= 1                                        // circle
        case 1: return au <= 0.8 && av <= 0.8                                    // square
        case 2:                                                                   // equilateral triangle
            // edges at distance 0.5 from the centre, outward normals at -90°, 30°, 150°
            return -v <= 0.5 && (0.8660254 * u + 0.5 * v) <= 0.5 && (-0.8660254 * u + 0.5 * v) <= 0.5
        case 3: return (au <= 0.28 && av <= 1) || (av <= 0.28 && au <= 1)        // cross
        case 4: let r2 = u * u + v * v; return r2 <= 1 && r2 >= 0.3             // ring
        case 5: return au <= 1 && av <= 1 && Int(((v + 1) * 2.5).rounded(.down)) % 2 == 0   // horizontal stripes
        case 6: return au <= 1 && av <= 1 && Int(((u + 1) * 2.5).rounded(.down)) % 2 == 0   // vertical stripes
        case 7:                                                                   // checkerboard 4x4
            return au <= 1 && av <= 1
                && (Int(((u + 1) * 2).rounded(.down)) + Int(((v + 1) * 2).rounded(.down))) % 2 == 0
        case 8: return av <= 0.2 && au <= 1.1                                    // line
        default:                                                                  // two dots
            let a = (u - 0.55) * (u - 0.55) + v * v, b = (u + 0.55) * (u + 0.55) + v * v
            return a <= 0.16 || b <= 0.16
        }
    }
}
