/// An in-memory image dataset.
///
/// Pixels are `UInt8`, **HWC per image** (row-major rows, the channels of a pixel adjacent, R G B), the
/// images one after another: image `i` occupies `pixels[i * imageBytes ..< (i + 1) * imageBytes]` and pixel
/// `(y, x)` channel `c` of it is at offset `(y * width + x) * channels + c`. This is torchvision's
/// `CIFAR10.data` layout (N, H, W, C). Unlabeled images carry label -1.
public struct LabeledImages: Sendable {
    public let height: Int
    public let width: Int
    public let channels: Int
    public private(set) var pixels: [UInt8]
    public private(set) var labels: [Int]
    public var classNames: [String]

    public var count: Int { labels.count }
    public var imageBytes: Int { height * width * channels }

    public init(height: Int, width: Int, channels: Int = 3, pixels: [UInt8], labels: [Int], classNames: [String]) {
        precondition(height > 0 && width > 0 && channels > 0, "image shape \(height)x\(width)x\(channels)")
        precondition(pixels.count == labels.count * height * width * channels,
                     "\(pixels.count) pixel bytes for \(labels.count) images of \(height)x\(width)x\(channels)")
        self.height = height
        self.width = width
        self.channels = channels
        self.pixels = pixels
        self.labels = labels
        self.classNames = classNames
    }

    /// The HWC bytes of image `index`.
    public func image(at index: Int) -> ArraySlice<UInt8> {
        precondition(index >= 0 && index < count, "image \(index) out of range 0..<\(count)")
        return pixels[index * imageBytes ..< (index + 1) * imageBytes]
    }

    /// Image `index` as float CHW with values `byte / 255` (the plain preprocessing).
    public func floatImage(at index: Int) -> FloatImage {
        precondition(index >= 0 && index < count, "image \(index) out of range 0..<\(count)")
        return pixels.withUnsafeBufferPointer { all in
            FloatImage(hwcBytes: UnsafeBufferPointer(rebasing: all[index * imageBytes ..< (index + 1) * imageBytes]),
                       height: height, width: width, channels: channels)
        }
    }

    /// The images at `indices`, in that order.
    public func subset(_ indices: [Int]) -> LabeledImages {
        var bytes = [UInt8]()
        bytes.reserveCapacity(indices.count * imageBytes)
        for i in indices { bytes.append(contentsOf: image(at: i)) }
        return LabeledImages(height: height, width: width, channels: channels, pixels: bytes,
                             labels: indices.map { labels[$0] }, classNames: classNames)
    }

    /// The first `n` images (all when `n >= count`).
    public func prefix(_ n: Int) -> LabeledImages {
        subset(Array(0..<min(max(n, 0), count)))
    }

    /// Several datasets of one image shape, one after another; class names from the first.
    public static func concatenate(_ parts: [LabeledImages]) -> LabeledImages {
        precondition(!parts.isEmpty, "nothing to concatenate")
        let first = parts[0]
        for p in parts {
            precondition(p.height == first.height && p.width == first.width && p.channels == first.channels,
                         "concatenating images of different shapes")
        }
        return LabeledImages(height: first.height, width: first.width, channels: first.channels,
                             pixels: parts.flatMap(\.pixels), labels: parts.flatMap(\.labels),
                             classNames: first.classNames)
    }

    /// Number of images per label 0..<classNames.count (unlabeled images are not counted).
    public var classCounts: [Int] {
        var counts = [Int](repeating: 0, count: max(classNames.count, (labels.max() ?? -1) + 1))
        for l in labels where l >= 0 { counts[l] += 1 }
        return counts
    }
}
