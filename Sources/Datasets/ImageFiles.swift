import Foundation
import Kernels

/// An 8-bit RGB picture (HWC, rows top to bottom) for writing to disk.
public struct RGBImage: Equatable, Sendable {
    public let width: Int
    public let height: Int
    public var pixels: [UInt8]

    public init(width: Int, height: Int, pixels: [UInt8]) {
        precondition(width > 0 && height > 0 && pixels.count == width * height * 3,
                     "\(pixels.count) bytes for a \(width)x\(height) RGB image")
        self.width = width
        self.height = height
        self.pixels = pixels
    }

    public init(width: Int, height: Int, fill: (UInt8, UInt8, UInt8) = (0, 0, 0)) {
        var pixels = [UInt8](repeating: 0, count: width * height * 3)
        for p in 0..<(width * height) { (pixels[3 * p], pixels[3 * p + 1], pixels[3 * p + 2]) = fill }
        self.init(width: width, height: height, pixels: pixels)
    }

    /// A float CHW image (3 channels, values in [0, 1], clamped) scaled up `scale` times by nearest neighbour.
    public init(_ image: FloatImage, scale: Int = 1) {
        precondition(image.channels == 3 && scale >= 1, "needs a 3-channel image and scale >= 1")
        let w = image.width * scale, h = image.height * scale
        var pixels = [UInt8](repeating: 0, count: w * h * 3)
        for y in 0..<h {
            for x in 0..<w {
                for c in 0..<3 {
                    let v = image[c, y / scale, x / scale]
                    pixels[(y * w + x) * 3 + c] = UInt8((min(max(v, 0), 1) * 255).rounded())
                }
            }
        }
        self.init(width: w, height: h, pixels: pixels)
    }

    /// Copies `other` into this image with its top-left corner at (x, y); it must fit.
    public mutating func paste(_ other: RGBImage, x: Int, y: Int) {
        precondition(x >= 0 && y >= 0 && x + other.width <= width && y + other.height <= height,
                     "a \(other.width)x\(other.height) image at (\(x), \(y)) does not fit in \(width)x\(height)")
        for row in 0..<other.height {
            let d = ((y + row) * width + x) * 3, s = row * other.width * 3
            pixels.replaceSubrange(d..<(d + other.width * 3), with: other.pixels[s..<(s + other.width * 3)])
        }
    }
}

/// Writing `RGBImage`s as binary PPM (P6) or PNG (8-bit RGB, no compression: stored deflate blocks).
public enum ImageFile {
    public enum Format: String, CaseIterable, Sendable {
        case ppm, png

        /// The format named by a path's extension (case-insensitive), nil for any other.
        public init?(path: String) {
            self.init(rawValue: URL(fileURLWithPath: path).pathExtension.lowercased())
        }
    }

    /// Writes `image` in the format its extension names.
    public static func write(_ image: RGBImage, to path: String) throws {
        guard let format = Format(path: path) else {
            throw DatasetError.invalidConfiguration("\(path): unknown image type (use a .ppm or .png file name)")
        }
        let data = format == .ppm ? ppm(image) : png(image)
        do {
            try data.write(to: URL(fileURLWithPath: path), options: .atomic)
        } catch {
            throw DatasetError.io(path: path, reason: "cannot write: \(SystemErrorText.reason(error))")
        }
    }

    /// `P6\n<width> <height>\n255\n` followed by the RGB bytes.
    public static func ppm(_ image: RGBImage) -> Data {
        var data = Data("P6\n\(image.width) \(image.height)\n255\n".utf8)
        data.append(contentsOf: image.pixels)
        return data
    }

    /// The PNG signature, IHDR (8-bit truecolour, no interlace), one IDAT and IEND. The IDAT holds a zlib
    /// stream of stored (uncompressed) deflate blocks over the scanlines, each prefixed by filter type 0.
    public static func png(_ image: RGBImage) -> Data {
        var data = Data([0x89, 0x50, 0x4E, 0x47, 0x0D, 0x0A, 0x1A, 0x0A])
        var ihdr = [UInt8]()
        ihdr += bigEndian(UInt32(image.width)) + bigEndian(UInt32(image.height))
        ihdr += [8, 2, 0, 0, 0]   // bit depth 8, colour type RGB, deflate, adaptive filtering, no interlace
        appendChunk("IHDR", ihdr, to: &data)
        let rowBytes = image.width * 3
        var raw = [UInt8]()
        raw.reserveCapacity(image.height * (rowBytes + 1))
        for y in 0..<image.height {
            raw.append(0)
            raw += image.pixels[(y * rowBytes)..<((y + 1) * rowBytes)]
        }
        appendChunk("IDAT", zlibStored(raw), to: &data)
        appendChunk("IEND", [], to: &data)
        return data
    }

    /// A zlib stream (RFC 1950) holding `bytes` in stored deflate blocks (RFC 1951, at most 65535 bytes each).
    public static func zlibStored(_ bytes: [UInt8]) -> [UInt8] {
        var out: [UInt8] = [0x78, 0x01]   // deflate, 32K window, no preset dictionary; 0x7801 % 31 == 0
        var offset = 0
        repeat {
            let n = min(65535, bytes.count - offset)
            let final: UInt8 = offset + n == bytes.count ? 1 : 0
            out.append(final)   // BFINAL, BTYPE = 00 (stored), rest of the byte unused
            out += [UInt8(n & 0xFF), UInt8(n >> 8), UInt8(~n & 0xFF), UInt8((~n >> 8) & 0xFF)]
            out += bytes[offset..<(offset + n)]
            offset += n
        } while offset < bytes.count
        out += bigEndian(adler32(bytes))
        return out
    }

    /// CRC-32 (ISO 3309, reflected polynomial 0xEDB88320), as PNG chunks and zip use.
    public static func crc32<S: Sequence>(_ bytes: S) -> UInt32 where S.Element == UInt8 {
        var crc: UInt32 = 0xFFFF_FFFF
        for b in bytes { crc = crcTable[Int((crc ^ UInt32(b)) & 0xFF)] ^ (crc >> 8) }
        return crc ^ 0xFFFF_FFFF
    }

    /// Adler-32 (RFC 1950).
    public static func adler32(_ bytes: [UInt8]) -> UInt32 {
        var a: UInt32 = 1, b: UInt32 = 0
        // 5552 bytes is the most that can be summed before b may overflow 32 bits.
        var i = 0
        while i < bytes.count {
            let end = min(i + 5552, bytes.count)
            for j in i..<end { a += UInt32(bytes[j]); b += a }
            a %= 65521; b %= 65521
            i = end
        }
        return b << 16 | a
    }

    private static let crcTable: [UInt32] = (0..<256).map { n in
        var c = UInt32(n)
        for _ in 0..<8 { c = c & 1 != 0 ? 0xEDB8_8320 ^ (c >> 1) : c >> 1 }
        return c
    }

    private static func bigEndian(_ v: UInt32) -> [UInt8] {
        [UInt8(v >> 24), UInt8((v >> 16) & 0xFF), UInt8((v >> 8) & 0xFF), UInt8(v & 0xFF)]
    }

    /// Length, type, data, CRC over type and data.
    private static func appendChunk(_ type: String, _ body: [UInt8], to data: inout Data) {
        let typeBytes = Array(type.utf8)
        data.append(contentsOf: bigEndian(UInt32(body.count)))
        data.append(contentsOf: typeBytes)
        data.append(contentsOf: body)
        data.append(contentsOf: bigEndian(crc32(typeBytes + body)))
    }
}
