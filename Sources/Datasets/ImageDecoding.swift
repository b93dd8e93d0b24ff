import Foundation
import ImageCodecs

/// Decoding PNG and JPEG files to 8-bit RGB with the system's libpng and libjpeg-turbo.
///
/// PNG: every bit depth and colour type (gray, palette, gray/RGB with alpha, 16-bit); alpha is dropped, as
/// PIL's `convert("RGB")` does for torchvision's ImageFolder. JPEG: gray and YCbCr (CMYK is refused).
/// Truncated or corrupt data is an error naming the file, never a partly gray image.
public enum ImageDecoder {
    public enum Kind: String, Sendable { case png, jpeg }

    /// The kind of image `data` holds, from its signature; nil for anything else.
    public static func kind(of data: Data) -> Kind? {
        let head = [UInt8](data.prefix(8))
        if head == [0x89, 0x50, 0x4E, 0x47, 0x0D, 0x0A, 0x1A, 0x0A] { return .png }
        if head.count >= 3, head[0] == 0xFF, head[1] == 0xD8, head[2] == 0xFF { return .jpeg }
        return nil
    }

    /// The RGB pixels of PNG or JPEG bytes; `file` names them in errors.
    public static func decode(_ data: Data, file: String) throws -> RGBImage {
        guard let kind = kind(of: data) else {
            throw DatasetError.unreadableImage(file: file, reason: "not a PNG or JPEG file")
        }
        var pixels: UnsafeMutablePointer<UInt8>?
        var width: Int32 = 0, height: Int32 = 0
        var message = [CChar](repeating: 0, count: 256)
        let ok = data.withUnsafeBytes { raw -> Int32 in
            let bytes = raw.bindMemory(to: UInt8.self).baseAddress!
            switch kind {
            case .png: return simclr_decode_png(bytes, raw.count, &pixels, &width, &height, &message, message.count)
            case .jpeg: return simclr_decode_jpeg(bytes, raw.count, &pixels, &width, &height, &message, message.count)
            }
        }
        guard ok == 1, let pixels else {
            let reason = String(decoding: message.prefix { $0 != 0 }.map { UInt8(bitPattern: $0) }, as: UTF8.self)
            throw DatasetError.unreadableImage(file: file, reason: "\(kind.rawValue.uppercased()): \(reason)")
        }
        defer { simclr_free_pixels(pixels) }
        let count = 3 * Int(width) * Int(height)
        return RGBImage(width: Int(width), height: Int(height), pixels: Array(UnsafeBufferPointer(start: pixels, count: count)))
    }
}
