import Datasets
import Foundation
import XCTest

/// A PNG taken apart by code independent of the writer: chunks with checked CRCs, and the IDAT zlib
/// stream inflated (stored blocks only) back to the filtered scanlines.
struct ParsedPNG {
    var width = 0, height = 0, bitDepth = 0, colourType = 0, interlace = 0
    var chunkTypes: [String] = []
    var scanlines: [UInt8] = []

    init(_ data: [UInt8]) throws {
        func fail(_ why: String) -> Error { NSError(domain: "PNG", code: 1, userInfo: [NSLocalizedDescriptionKey: why]) }
        func u32(_ at: Int) -> Int { data[at..<(at + 4)].reduce(0) { $0 << 8 | Int($1) } }
        guard data.count >= 8, Array(data[0..<8]) == [0x89, 0x50, 0x4E, 0x47, 0x0D, 0x0A, 0x1A, 0x0A] else {
            throw fail("bad signature")
        }
        var idat: [UInt8] = []
        var at = 8
        while at < data.count {
            guard at + 12 <= data.count else { throw fail("truncated chunk") }
            let length = u32(at)
            let type = String(bytes: data[(at + 4)..<(at + 8)], encoding: .ascii)!
            let body = Array(data[(at + 8)..<(at + 8 + length)])
            guard u32(at + 8 + length) == Int(bitwiseCRC32(Array(data[(at + 4)..<(at + 8 + length)]))) else {
                throw fail("CRC mismatch in \(type)")
            }
            chunkTypes.append(type)
            if type == "IHDR" {
                width = body[0..<4].reduce(0) { $0 << 8 | Int($1) }
                height = body[4..<8].reduce(0) { $0 << 8 | Int($1) }
                (bitDepth, colourType, interlace) = (Int(body[8]), Int(body[9]), Int(body[12]))
            }
            if type == "IDAT" { idat += body }
            at += 12 + length
        }
        // zlib: header, stored deflate blocks, Adler-32.
        guard idat.count >= 6, (Int(idat[0]) << 8 | Int(idat[1])) % 31 == 0, idat[0] & 0x0F == 8 else { throw fail("zlib header") }
        var p = 2, final = false
        while !final {
            final = idat[p] & 1 == 1
            guard (idat[p] >> 1) & 3 == 0 else { throw fail("not a stored block") }
            let len = Int(idat[p + 1]) | Int(idat[p + 2]) << 8, nlen = Int(idat[p + 3]) | Int(idat[p + 4]) << 8
            guard len ^ nlen == 0xFFFF else { throw fail("LEN/NLEN mismatch") }
            scanlines += idat[(p + 5)..<(p + 5 + len)]
            p += 5 + len
        }
        var a = 1, b = 0
        for x in scanlines { a = (a + Int(x)) % 65521; b = (b + a) % 65521 }
        guard idat[p..<(p + 4)].reduce(0, { $0 << 8 | Int($1) }) == b << 16 | a, p + 4 == idat.count else {
            throw fail("Adler-32 mismatch or trailing bytes")
        }
    }
}

func bitwiseCRC32(_ bytes: [UInt8]) -> UInt32 {
    var crc: UInt32 = 0xFFFF_FFFF
    for byte in bytes {
        crc ^= UInt32(byte)
        for _ in 0..<8 { crc = (crc >> 1) ^ (crc & 1 == 1 ? 0xEDB8_8320 : 0) }
    }
    return ~crc
}

final class ImageFileTests: XCTestCase {
    func pattern(width: Int, height: Int) -> RGBImage {
        RGBImage(width: width, height: height, pixels: (0..<(width * height * 3)).map { UInt8(truncatingIfNeeded: $0 * 7 + $0 / 5) })
    }

    func testPNGParsesToTheExactScanlines() throws {
        // 5x3 (one stored block) and 200x150 (90 kB of scanlines: two stored blocks).
        for (w, h) in [(5, 3), (200, 150)] {
            let image = pattern(width: w, height: h)
            let png = try ParsedPNG([UInt8](ImageFile.png(image)))
            XCTAssertEqual([png.width, png.height, png.bitDepth, png.colourType, png.interlace], [w, h, 8, 2, 0])
            XCTAssertEqual(png.chunkTypes, ["IHDR", "IDAT", "IEND"])
            var expected: [UInt8] = []
            for y in 0..<h { expected += [0] + image.pixels[(y * w * 3)..<((y + 1) * w * 3)] }
            XCTAssertEqual(png.scanlines, expected)
        }
    }

    func testChecksumsOnKnownValues() {
        XCTAssertEqual(ImageFile.crc32(Array("123456789".utf8)), 0xCBF4_3926)   // the CRC-32 check value
        XCTAssertEqual(ImageFile.crc32(Array("IEND".utf8)), 0xAE42_6082)        // every PNG ends with it
        XCTAssertEqual(ImageFile.adler32(Array("Wikipedia".utf8)), 0x11E6_0398)
        let long = [UInt8](repeating: 255, count: 100_000)                      // past the 5552-byte blocks
        var a = 1, b = 0
        for x in long { a = (a + Int(x)) % 65521; b = (b + a) % 65521 }
        XCTAssertEqual(Int(ImageFile.adler32(long)), b << 16 | a)
    }

    func testPPMHeaderAndPixels() throws {
        let image = pattern(width: 4, height: 2)
        let ppm = [UInt8](ImageFile.ppm(image))
        let header = Array("P6\n4 2\n255\n".utf8)
        XCTAssertEqual(Array(ppm[0..<header.count]), header)
        XCTAssertEqual(Array(ppm[header.count...]), image.pixels)
    }

    func testWriteChoosesFormatByExtension() throws {
        let dir = try makeTemporaryDirectory(self)
        let image = pattern(width: 3, height: 2)
        try ImageFile.write(image, to: dir.appendingPathComponent("a.PNG").path)
        try ImageFile.write(image, to: dir.appendingPathComponent("a.ppm").path)
        XCTAssertEqual(try Data(contentsOf: dir.appendingPathComponent("a.PNG")), ImageFile.png(image))
        XCTAssertEqual(try Data(contentsOf: dir.appendingPathComponent("a.ppm")), ImageFile.ppm(image))
        XCTAssertThrowsError(try ImageFile.write(image, to: dir.appendingPathComponent("a.jpg").path)) {
            XCTAssertTrue("\($0)".contains(".ppm or .png"))
        }
    }

    func testScaledFloatImageAndPaste() {
        let f = FloatImage(channels: 3, height: 1, width: 2, data: [0, 1, 0.5, 2, -1, 0.2])
        let img = RGBImage(f, scale: 2)
        XCTAssertEqual(img.width, 4)
        XCTAssertEqual(img.height, 2)
        // pixel (0,0) and (1,1) are source (0,0); (0,3) is source (0,1); values clamped and rounded
        XCTAssertEqual(Array(img.pixels[0..<3]), [0, 128, 0])
        XCTAssertEqual(Array(img.pixels[((1 * 4) + 1) * 3..<((1 * 4) + 2) * 3]), [0, 128, 0])
        XCTAssertEqual(Array(img.pixels[9..<12]), [255, 255, 51])
        var canvas = RGBImage(width: 6, height: 3, fill: (9, 9, 9))
        canvas.paste(img, x: 1, y: 1)
        XCTAssertEqual(Array(canvas.pixels[0..<3]), [9, 9, 9])
        XCTAssertEqual(Array(canvas.pixels[(6 + 1) * 3..<(6 + 2) * 3]), [0, 128, 0])
        XCTAssertEqual(Array(canvas.pixels[(6 + 5) * 3..<(6 + 6) * 3]), [9, 9, 9])
    }
}
