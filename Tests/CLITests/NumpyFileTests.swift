import Datasets
import Foundation
import XCTest

final class NumpyFileTests: XCTestCase {
    // Written by numpy 2.4: np.save(f, np.array([[1.5, -2, 0.25], [3, 1e-3, -0.0]], dtype=np.float32))
    let float32Reference = "934e554d5059010076007b276465736372273a20273c6634272c2027666f727472616e5f6f72646572273a2046616c73652c20277368617065273a2028322c2033292c207d202020202020202020202020202020202020202020202020202020202020202020202020202020202020202020202020202020202020202020200a0000c03f000000c00000803e000040406f12833a00000080"
    // np.save(f, np.array([3, -1, 7], dtype=np.int64))
    let int64Reference = "934e554d5059010076007b276465736372273a20273c6938272c2027666f727472616e5f6f72646572273a2046616c73652c20277368617065273a2028332c292c207d2020202020202020202020202020202020202020202020202020202020202020202020202020202020202020202020202020202020202020202020200a0300000000000000ffffffffffffffff0700000000000000"
    // np.save(f, np.zeros((0, 4), dtype=np.float32)): header only
    let emptyReference = "934e554d5059010076007b276465736372273a20273c6634272c2027666f727472616e5f6f72646572273a2046616c73652c20277368617065273a2028302c2034292c207d202020202020202020202020202020202020202020202020202020202020202020202020202020202020202020202020202020202020202020200a"

    func testBytesMatchNumpy() throws {
        let dir = try makeTemporaryDirectory(self)
        let f = dir.appendingPathComponent("f.npy"), i = dir.appendingPathComponent("i.npy"), e = dir.appendingPathComponent("e.npy")
        try NumpyFile.write(floats: [1.5, -2, 0.25, 3, 1e-3, -0.0], shape: [2, 3], to: f)
        try NumpyFile.write(int64s: [3, -1, 7], shape: [3], to: i)
        try NumpyFile.write(floats: [], shape: [0, 4], to: e)
        XCTAssertEqual([UInt8](try Data(contentsOf: f)), hexBytes(float32Reference))
        XCTAssertEqual([UInt8](try Data(contentsOf: i)), hexBytes(int64Reference))
        XCTAssertEqual([UInt8](try Data(contentsOf: e)), hexBytes(emptyReference))
        XCTAssertEqual(NumpyFile.header(descr: "<f4", shape: [2, 3]).count % 64, 0)
    }

    func testRoundTrip() throws {
        let dir = try makeTemporaryDirectory(self)
        let url = dir.appendingPathComponent("x.npy")
        let values = (0..<(37 * 5)).map { Float($0) * 0.37 - 11 }
        try NumpyFile.write(floats: values, shape: [37, 5], to: url)
        let (shape, read) = try NumpyFile.read(from: url)
        XCTAssertEqual(shape, [37, 5])
        XCTAssertEqual(read, values)

        let labels: [Int64] = [0, 9, -1, 123_456_789_012]
        try NumpyFile.write(int64s: labels, shape: [4], to: url)
        XCTAssertEqual(try NumpyFile.readInt64s(from: url).values, labels)
        XCTAssertEqual(try NumpyFile.readInt64s(from: url).shape, [4])
        XCTAssertEqual(try NumpyFile.read(from: url).values, labels.map { Float($0) })

        // A header whose padding is a whole 64 bytes (numpy never pads with zero spaces) still reads.
        for d in 1...70 {
            try NumpyFile.write(floats: [Float](repeating: 1, count: d), shape: [1, d], to: url)
            XCTAssertEqual(try NumpyFile.read(from: url).shape, [1, d])
        }
    }

    func testReferenceFilesRead() throws {
        let dir = try makeTemporaryDirectory(self)
        let url = dir.appendingPathComponent("ref.npy")
        try Data(hexBytes(float32Reference)).write(to: url)
        let (shape, values) = try NumpyFile.read(from: url)
        XCTAssertEqual(shape, [2, 3])
        XCTAssertEqual(values, [1.5, -2, 0.25, 3, 1e-3, -0.0])
    }

    func testErrors() throws {
        let dir = try makeTemporaryDirectory(self)
        let url = dir.appendingPathComponent("bad.npy")
        XCTAssertThrowsError(try NumpyFile.write(floats: [1, 2, 3], shape: [2, 2], to: url))
        try Data("not numpy at all".utf8).write(to: url)
        XCTAssertThrowsError(try NumpyFile.read(from: url)) { XCTAssertTrue("\($0)".contains("not a NumPy")) }
        var truncated = hexBytes(float32Reference)
        truncated.removeLast(4)
        try Data(truncated).write(to: url)
        XCTAssertThrowsError(try NumpyFile.read(from: url)) { XCTAssertTrue("\($0)".contains("24 data bytes")) }
        try Data(hexBytes(float32Reference)).write(to: url)
        XCTAssertThrowsError(try NumpyFile.readInt64s(from: url)) { XCTAssertTrue("\($0)".contains("<f4")) }
    }

    // Sizes a header claims are checked before anything is read: the first one trapped (the element count
    // overflowed) and the second was accepted with a negative shape before the checks were added.
    func testHeaderShapesThatOverflowOrAreNegativeAreRefused() {
        let huge = NumpyFile.header(descr: "<f4", shape: [1 << 40, 1 << 40])
        XCTAssertThrowsError(try NumpyFile.decodeFloats(huge, path: "huge.npy")) {
            XCTAssertTrue("\($0)".contains("huge.npy") && "\($0)".contains("more than"), "\($0)")
        }
        let bytesOverflow = NumpyFile.header(descr: "<i8", shape: [1 << 31, 1 << 31])
        XCTAssertThrowsError(try NumpyFile.decodeInt64s(bytesOverflow, path: "wide.npy")) {
            XCTAssertTrue("\($0)".contains("more than"), "\($0)")
        }
        var negative = NumpyFile.header(descr: "<f4", shape: [-2, -3])
        negative.append(Data(count: 24))
        XCTAssertThrowsError(try NumpyFile.decodeFloats(negative, path: "negative.npy")) {
            XCTAssertTrue("\($0)".contains("integers >= 0"), "\($0)")
        }
    }

    func testValuesAreReadFromUnalignedStorage() throws {
        var file = NumpyFile.header(descr: "<f8", shape: [2])
        file.append(contentsOf: [1.5, -4.0].flatMap { (v: Double) in withUnsafeBytes(of: v.bitPattern.littleEndian, Array.init) })
        // A slice that does not start at offset 0 of its storage.
        let shifted = (Data([0]) + file).dropFirst()
        XCTAssertEqual(try NumpyFile.decodeFloats(shifted, path: "x.npy").values, [1.5, -4])
    }
}
