import Kernels
import XCTest

/// Large tensors start at distinct "colors" (address bits 14-17), so buffers walked side by side do not alias in
/// the L1 way predictor (`BufferPlacement`).
final class BufferPlacementTests: XCTestCase {
    func testLargeTensorsAllocatedOneAfterAnotherGetDistinctColorsAndKeepTheirValues() {
        let count = BufferPlacement.minimumBytes / 4
        let tensors = (0..<BufferPlacement.colors).map { Tensor(shape: [count], repeating: Float($0)) }
        let colors = tensors.map { BufferPlacement.color(of: $0.address) }
        XCTAssertEqual(Set(colors).count, BufferPlacement.colors, "colors \(colors)")
        for t in tensors { XCTAssertEqual(Int(bitPattern: t.address) % 64, 0, "64-byte alignment lost") }
        // Every element is the tensor's own: writing one tensor whole leaves its neighbours untouched.
        for (k, t) in tensors.enumerated() { for i in [0, count / 2, count - 1] { t.address[i] = Float(k) + 0.5 } }
        for (k, t) in tensors.enumerated() {
            XCTAssertEqual(t.address[0], Float(k) + 0.5)
            XCTAssertEqual(t.address[1], Float(k))
            XCTAssertEqual(t.address[count - 2], Float(k))
            XCTAssertEqual(t.address[count - 1], Float(k) + 0.5)
        }
    }

    func testTheStartStaysInsideTheSlackKeepsTheLowBitsAndCyclesThroughTheColors() throws {
        let bytes = BufferPlacement.minimumBytes
        let slack = BufferPlacement.requestedBytes(for: bytes) - bytes
        XCTAssertEqual(slack, BufferPlacement.colors * BufferPlacement.colorStride)
        var previous: Int?
        for raw in [0x7f00_0000_0040, 0x7f00_0000_7040, 0x7f00_0003_c000 + 64, 0x7f12_3456_7840] {
            let pointer = try XCTUnwrap(UnsafeMutableRawPointer(bitPattern: raw))
            let start = BufferPlacement.start(in: pointer, bytes: bytes)
            let offset = start - pointer
            XCTAssert(offset >= 0 && offset < slack, "offset \(offset) outside the slack")
            XCTAssertEqual(Int(bitPattern: start) % BufferPlacement.colorStride, raw % BufferPlacement.colorStride)
            let color = BufferPlacement.color(of: start)
            if let previous { XCTAssertEqual(color, (previous + 1) % BufferPlacement.colors) }
            previous = color
        }
        let small = try XCTUnwrap(UnsafeMutableRawPointer(bitPattern: 0x7f00_0000_0040))
        XCTAssertEqual(BufferPlacement.start(in: small, bytes: BufferPlacement.minimumBytes - 4), small)
        XCTAssertEqual(BufferPlacement.requestedBytes(for: 1000), 1000)
    }
}
