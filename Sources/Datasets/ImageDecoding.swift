import Foundation
import ImageCodecs

/// Decoding PNG and JPEG files to 8-bit RGB with the system's libpng and libjpeg-turbo.
///
/// PNG: every bit depth and colour type (gray, palette, gray/RGB with alpha, 16-bit); alpha is dropped, as
/// PIL's `convert("RGB")` does for torchvision's ImageFolder. JPEG: gray and YCbCr (CMYK is refused).
/// Truncated or corrupt data is an error naming the file, never a partly gray image.
///
/// Hostile files: a few hundred bytes of PNG can claim 16384 x 16384 pixels (1.8 GB to decode). `Limits` are
/// checked from the header before any pixel is allocated, so a decode needs at most about 7 bytes per allowed
/// pixel (11 for 16-bit PNGs: libpng's buffer, then the RGB copy), and a JPEG can be decoded at a reduced
/// size straight away.
public enum ImageDecoder {
    public enum Kind: String, Sendable { case png, jpeg }

    /// What `decode` accepts and how large it decodes.
    public struct Limits: Equatable, Sendable {
        /// Pillow's `Image.MAX_IMAGE_PIXELS` (1024 * 1024 * 1024 // 4 // 3, about 89 million: a 1 GiB image at
        /// 4 bytes per pixel for 3 channels), the limit torchvision users know.
        public static let defaultMaxPixels = 89_478_485
        /// The largest value `maxPixels` may take: both codecs' row arithmetic stays in range below it.
        public static let largestMaxPixels = 1 << 32
        /// Longer side / shorter side above this is refused: a 999999 x 1 "image" resized to 32 px high
        /// would be 32 million pixels wide, and its centre square is no picture of anything.
        public static let maxAspectRatio = 50

        /// Images with more pixels than this (as the header claims) are refused.
        public var maxPixels: Int
        /// JPEGs are decoded at 1/2, 1/4 or 1/8 size while their shorter side stays at least this long (0: full
        /// size).
        public var minShorterSide: Int

        public init(maxPixels: Int = Limits.defaultMaxPixels, minShorterSide: Int = 0) {
            self.maxPixels = maxPixels
            self.minShorterSide = minShorterSide
        }
    }

    /// The kind of image `data` holds, from its signature; nil for anything else.
    public static func kind(of data: Data) -> Kind? {
        let head = [UInt8](data.prefix(8))
        if head == [0x89, 0x50, 0x4E, 0x47, 0x0D, 0x0A, 0x1A, 0x0A] { return .png }
        if head.count >= 3, head[0] == 0xFF, head[1] == 0xD8, head[2] == 0xFF { return .jpeg }
        return nil
    }

    /// The RGB pixels of PNG or JPEG bytes within `limits`; `file` names them in errors.
    public static func decode(_ data: Data, file: String, limits: Limits = Limits()) throws -> RGBImage {
        guard let kind = kind(of: data) else {
            throw DatasetError.unreadableImage(file: file, reason: "not a PNG or JPEG file")
        }
        var pixels: UnsafeMutablePointer<UInt8>?
        var width: Int32 = 0, height: Int32 = 0
        var message = [CChar](repeating: 0, count: 256)
        var cLimits = simclr_decode_limits(max_pixels: min(limits.maxPixels, Limits.largestMaxPixels),
                                           max_aspect_ratio: Int32(Limits.maxAspectRatio),
                                           min_shorter_side: Int32(clamping: limits.minShorterSide))
        let result = data.withUnsafeBytes { raw -> Int32 in
            guard let bytes = raw.bindMemory(to: UInt8.self).baseAddress else { return SIMCLR_DECODE_ERROR }
            switch kind {
            case .png: return simclr_decode_png(bytes, raw.count, &cLimits, &pixels, &width, &height, &message, message.count)
            case .jpeg: return simclr_decode_jpeg(bytes, raw.count, &cLimits, &pixels, &width, &height, &message, message.count)
            }
        }
        guard result == SIMCLR_DECODE_OK, let pixels else {
            var reason = String(decoding: message.prefix { $0 != 0 }.map { UInt8(bitPattern: $0) }, as: UTF8.self)
            if result == SIMCLR_DECODE_TOO_MANY_PIXELS { reason += " (--max-image-pixels raises it)" }
            throw DatasetError.unreadableImage(file: file, reason: "\(kind.rawValue.uppercased()): \(reason)")
        }
        defer { simclr_free_pixels(pixels) }
        let count = 3 * Int(width) * Int(height)
        return RGBImage(width: Int(width), height: Int(height), pixels: Array(UnsafeBufferPointer(start: pixels, count: count)))
    }
}
