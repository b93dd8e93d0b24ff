/// A float image, CHW (channel planes, each row-major), values normally in [0, 1].
/// This is what augmentations work on and what goes into the network's NCHW batch.
public struct FloatImage: Equatable, Sendable {
    public let channels: Int
    public let height: Int
    public let width: Int
    public var data: [Float]

    public init(channels: Int, height: Int, width: Int, repeating value: Float = 0) {
        self.channels = channels
        self.height = height
        self.width = width
        self.data = [Float](repeating: value, count: channels * height * width)
    }

    public init(channels: Int, height: Int, width: Int, data: [Float]) {
        precondition(data.count == channels * height * width,
                     "\(data.count) values for a \(channels)x\(height)x\(width) image")
        self.channels = channels
        self.height = height
        self.width = width
        self.data = data
    }

    /// Plain preprocessing: uint8 HWC bytes -> float CHW, `value / 255`.
    public init(hwcBytes: UnsafeBufferPointer<UInt8>, height: Int, width: Int, channels: Int) {
        precondition(hwcBytes.count == height * width * channels, "byte count does not match the image shape")
        self.init(channels: channels, height: height, width: width)
        let plane = height * width
        data.withUnsafeMutableBufferPointer { out in
            for p in 0..<plane {
                for c in 0..<channels {
                    out[c * plane + p] = Float(hwcBytes[p * channels + c]) / 255
                }
            }
        }
    }

    public init(hwcBytes: [UInt8], height: Int, width: Int, channels: Int = 3) {
        self = hwcBytes.withUnsafeBufferPointer {
            FloatImage(hwcBytes: $0, height: height, width: width, channels: channels)
        }
    }

    public var planeSize: Int { height * width }

    public subscript(c: Int, y: Int, x: Int) -> Float {
        get { data[(c * height + y) * width + x] }
        set { data[(c * height + y) * width + x] = newValue }
    }
}
