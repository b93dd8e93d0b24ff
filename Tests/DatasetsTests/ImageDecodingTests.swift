import Datasets
import Foundation
import Kernels
import XCTest

/// PNG and JPEG decoding against Pillow (`Fixtures/images/`, written by `Fixtures/make_image_fixtures.py`
/// with the RGB Pillow decodes each file to) and against our own PNG writer.
final class ImageDecodingTests: XCTestCase {
    struct Expected: Decodable { let height: Int; let width: Int; let rgb: [UInt8] }

    private func fixture(_ name: String) throws -> Data {
        let url = try XCTUnwrap(Bundle.module.url(forResource: name, withExtension: nil, subdirectory: "Fixtures/images"))
        return try Data(contentsOf: url)
    }

    func testEveryColourTypeDecodesAsPillowDoes() throws {
        let expected = try JSONDecoder().decode([String: Expected].self, from: fixture("expected.json"))
        XCTAssertEqual(expected.count, 7)
        for (name, e) in expected.sorted(by: { $0.key < $1.key }) {
            let image = try ImageDecoder.decode(try fixture(name), file: name)
            XCTAssertEqual([image.height, image.width], [e.height, e.width], name)
            // Both decode JPEG with libjpeg-turbo's default integer IDCT and fancy upsampling: exact.
            let worst = zip(image.pixels, e.rgb).map { abs(Int($0) - Int($1)) }.max() ?? 0
            XCTAssertEqual(worst, 0, "\(name): largest difference from Pillow \(worst)")
        }
    }

    func testSixteenBitPNGIsScaledToEightBits() throws {
        let image = try ImageDecoder.decode(try fixture("gray16.png"), file: "gray16.png")
        let values: [Double] = [0, 257, 32768, 65535, 1000, 20000, 40000, 60000, 128, 255, 256, 65280]
        XCTAssertEqual([image.width, image.height], [4, 3])
        for (p, v) in values.enumerated() {
            let expected = (v / 257).rounded()
            XCTAssertEqual(Double(image.pixels[3 * p]), expected, accuracy: 1, "value \(v)")
            XCTAssertEqual(image.pixels[3 * p], image.pixels[3 * p + 2])
        }
    }

    func testOurPNGWriterIsReadBackExactly() throws {
        var rng = RandomStream(seed: 5)
        let pixels = (0..<(13 * 9 * 3)).map { _ in UInt8(truncatingIfNeeded: rng.next()) }
        let image = RGBImage(width: 13, height: 9, pixels: pixels)
        XCTAssertEqual(try ImageDecoder.decode(ImageFile.png(image), file: "ours.png"), image)
    }

    func testBadFilesAreNamedErrors() throws {
        let png = try fixture("rgb.png"), jpeg = try fixture("smooth.jpg")
        let cases: [(String, Data)] = [
            ("text.png", Data("not an image".utf8)),
            ("empty.jpg", Data()),
            ("truncated.png", png.prefix(png.count - 20)),
            ("truncated.jpg", jpeg.prefix(jpeg.count / 2)),
            ("header-only.png", png.prefix(33)),
        ]
        for (name, data) in cases {
            XCTAssertThrowsError(try ImageDecoder.decode(data, file: name), name) { error in
                guard case DatasetError.unreadableImage(let file, let reason) = error else { return XCTFail("\(error)") }
                XCTAssertEqual(file, name)
                XCTAssertFalse(reason.isEmpty)
            }
        }
    }

    // MARK: hostile headers

    /// A PNG whose header claims `width` x `height` (the pixel data is a few bytes: the claim is what counts).
    static func pngClaiming(width: UInt32, height: UInt32) -> Data {
        var data = ImageFile.png(RGBImage(width: 1, height: 1))
        // IHDR's width and height follow the signature (8), the chunk length (4) and its type (4).
        let be = { (v: UInt32) in [UInt8(v >> 24), UInt8((v >> 16) & 0xFF), UInt8((v >> 8) & 0xFF), UInt8(v & 0xFF)] }
        data.replaceSubrange(16..<24, with: be(width) + be(height))
        let crc = ImageFile.crc32(data[12..<29])
        data.replaceSubrange(29..<33, with: be(crc))
        return data
    }

    /// A JPEG fixture with the frame header's height and width replaced.
    private func jpegClaiming(width: UInt16, height: UInt16) throws -> Data {
        var data = try fixture("smooth.jpg")
        let bytes = [UInt8](data)
        let sof = try XCTUnwrap((0..<(bytes.count - 1)).first { bytes[$0] == 0xFF && (bytes[$0 + 1] == 0xC0 || bytes[$0 + 1] == 0xC2) })
        // FF C0, length (2), precision (1), height (2), width (2)
        data.replaceSubrange((sof + 5)..<(sof + 9), with: [UInt8(height >> 8), UInt8(height & 0xFF), UInt8(width >> 8), UInt8(width & 0xFF)])
        return data
    }

    private func refusal(_ data: Data, limits: ImageDecoder.Limits = .init()) -> String {
        do {
            _ = try ImageDecoder.decode(data, file: "bomb", limits: limits)
            return "decoded"
        } catch DatasetError.unreadableImage(let file, let reason) {
            XCTAssertEqual(file, "bomb")
            return reason
        } catch { return "\(error)" }
    }

    /// A 16384 x 16384 PNG of 261 KB cost 1.8 GB to decode (and more than 2^28 pixels was the only limit). The
    /// claim is now refused from the header, before any pixel exists, above Pillow's limit by default.
    func testThePixelLimitIsCheckedFromTheHeaderBeforeDecoding() throws {
        let png = Self.pngClaiming(width: 16384, height: 16384)
        XCTAssertLessThan(png.count, 100)
        let reason = refusal(png)
        XCTAssertTrue(reason.contains("16384x16384 is 268435456 pixels, more than the limit of 89478485")
                      && reason.contains("--max-image-pixels"), reason)
        XCTAssertTrue(refusal(try jpegClaiming(width: 60000, height: 60000)).contains("more than the limit of 89478485"))
        // Under a raised limit the header passes and the decoder finds the data missing, still without a crash.
        let raised = refusal(png, limits: .init(maxPixels: 1 << 29))
        XCTAssertFalse(raised.contains("limit"), raised)
        XCTAssertNotEqual(raised, "decoded")
        // The limit is inclusive: 24 x 16 = 384 pixels decode under a limit of 384, not under 383.
        XCTAssertNoThrow(try ImageDecoder.decode(try fixture("smooth.jpg"), file: "s", limits: .init(maxPixels: 384)))
        XCTAssertTrue(refusal(try fixture("smooth.jpg"), limits: .init(maxPixels: 383)).contains("384 pixels"))
    }

    /// A 1 KB PNG claiming 999999 x 1 pixels took 5.8 GB and 44 s (a 32 million pixel wide resize); with
    /// --resize-to 96 it crashed. Such proportions are refused.
    func testExtremeAspectRatiosAreRefused() throws {
        XCTAssertTrue(refusal(Self.pngClaiming(width: 999_999, height: 1)).contains("one side is more than 50 times the other"))
        XCTAssertTrue(refusal(Self.pngClaiming(width: 2, height: 101)).contains("more than 50 times"))
        XCTAssertFalse(refusal(Self.pngClaiming(width: 2, height: 100)).contains("more than 50 times"))
    }

    /// JPEGs decode at 1/2, 1/4 or 1/8 size (libjpeg's DCT scaling) while the shorter side stays long
    /// enough, and show the same picture.
    func testJPEGsDecodeAtAReducedSizeWhenAllowed() throws {
        let data = try fixture("smooth.jpg")
        let full = try ImageDecoder.decode(data, file: "s")
        for (minSide, size) in [(0, [24, 16]), (16, [24, 16]), (8, [12, 8]), (3, [6, 4]), (1, [3, 2])] {
            let image = try ImageDecoder.decode(data, file: "s", limits: .init(minShorterSide: minSide))
            XCTAssertEqual([image.width, image.height], size, "shorter side at least \(minSide)")
            // Same mean colour (the reduced decode averages 2x2 to 8x8 blocks).
            for c in 0..<3 {
                func mean(_ im: RGBImage) -> Double {
                    stride(from: c, to: im.pixels.count, by: 3).reduce(0.0) { $0 + Double(im.pixels[$1]) } / Double(im.width * im.height)
                }
                XCTAssertEqual(mean(image), mean(full), accuracy: 4, "channel \(c) at \(size)")
            }
        }
        // PNGs have no reduced decode: full size.
        let png = try ImageDecoder.decode(try fixture("rgb.png"), file: "p", limits: .init(minShorterSide: 1))
        XCTAssertEqual([png.width, png.height], [7, 5])
    }
}
