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
}
