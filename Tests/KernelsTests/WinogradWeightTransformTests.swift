import CKernels
import Kernels
import XCTest

/// The F(2x2) kernels' weight transform U = G g G^T (CKernels/winograd.c) runs in blocks of 16 x 16 channels on
/// several threads; it must produce exactly the U of the plain one-pair-at-a-time loop, so the convolution
/// computed with either is the same bit for bit (our own code fixes the order of every sum).
final class WinogradWeightTransformTests: XCTestCase {
    /// `ic` -> `oc` channels, forward (`transposed` false) or the backward-data pass's transposed kernel.
    private func assertBlockedEqualsReference(ic: Int, oc: Int, bf16: Bool, transposed: Bool,
                                              file: StaticString = #filePath, line: UInt = #line) throws {
        try XCTSkipUnless(sk_wino_supported(bf16 ? 1 : 0) != 0, "no Winograd kernels on this CPU")
        let (n, side) = (3, 6)
        // The weights as the model holds them: [oc][ic][3][3] for the forward; the transposed kernel reads the
        // weights of a convolution oc -> ic, [ic][oc][3][3].
        var rng = SplitMix64(seed: 11)
        let weights = (0..<(ic * oc * 9)).map { _ in Float(rng.nextUnit() * 2 - 1) * 0.3 }
        let source = (0..<(n * ic * side * side)).map { _ in Float(rng.nextUnit() * 2 - 1) }
        func output(_ set: (OpaquePointer, UnsafePointer<Float>, Int32) -> Void) -> [Float] {
            let k = sk_wino_create(Int32(n), Int32(ic), Int32(oc), Int32(side), Int32(side), bf16 ? 1 : 0, 2)!
            defer { sk_wino_destroy(k) }
            weights.withUnsafeBufferPointer { set(k, $0.baseAddress!, transposed ? 1 : 0) }
            // 64-byte aligned output (the kernel writes it with aligned streaming stores).
            let y = UnsafeMutablePointer<Float>(OpaquePointer(UnsafeMutableRawPointer.allocate(byteCount: n * oc * side * side * 4, alignment: 64)
                .bindMemory(to: Float.self, capacity: n * oc * side * side)))
            defer { y.deallocate() }
            source.withUnsafeBufferPointer { XCTAssertEqual(sk_wino_forward(k, $0.baseAddress!, 0, y, 2), 0) }
            return Array(UnsafeBufferPointer(start: y, count: n * oc * side * side))
        }
        let blocked = output { sk_wino_set_weights($0, $1, $2) }
        let reference = output { sk_wino_set_weights_reference($0, $1, $2) }
        XCTAssertTrue(blocked.contains { $0 != 0 }, "the convolution computed nothing", file: file, line: line)
        let differing = zip(blocked, reference).filter { $0.bitPattern != $1.bitPattern }.count
        XCTAssertEqual(differing, 0, "\(differing) of \(blocked.count) outputs differ", file: file, line: line)
    }

    func testFloat32TransformEqualsThePlainLoop() throws {
        try assertBlockedEqualsReference(ic: 48, oc: 32, bf16: false, transposed: false)
        try assertBlockedEqualsReference(ic: 32, oc: 48, bf16: false, transposed: true)
    }

    func testBF16TransformEqualsThePlainLoop() throws {
        try assertBlockedEqualsReference(ic: 48, oc: 32, bf16: true, transposed: false)
        try assertBlockedEqualsReference(ic: 32, oc: 48, bf16: true, transposed: true)
    }
}
