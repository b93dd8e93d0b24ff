import Kernels
import XCTest

/// Our bf16 weight gradient of strided 3x3 convolutions (CKernels/winograd_weights.c at stride 2: tap by tap on
/// the Winograd weight gradient's micro-kernels) against a float64 weight gradient and oneDNN's direct bf16
/// one. Both are direct (the same products of bf16-rounded values, float32 sums), so ours must come as close
/// to float64 as oneDNN's does (within 1.5x its error: only the order of the sums differs); a wrong tap,
/// channel, pixel or pair would be an error of order 1.
final class StridedWeightGradientTests: XCTestCase {
    private func errors(batch n: Int, cin: Int, cout: Int, side: Int, seed: UInt64) throws -> (ours: Double, oneDNN: Double) {
        try XCTSkipUnless(CPUFeatures.current.avx512BF16, "no AVX512_BF16 on this CPU")
        Parallel.threadCount = 2
        let g = ConvGeometry(inChannels: cin, outChannels: cout, kernel: 3, stride: 2, padding: 1, batch: n, inHeight: side, inWidth: side)
        var rng = SplitMix64(seed: seed)
        func random(_ count: Int) -> [Float] { (0..<count).map { _ in Float(rng.nextUnit() * 2 - 1) } }
        let x = random(n * cin * side * side), dy = random(n * cout * g.outHeight * g.outWidth)
        // The weight gradient does not depend on the weights, so zeros stand in for them.
        let dw64 = referenceConvolution3x3(x: x, dy: dy, weights: [Float](repeating: 0, count: g.weightCount), batch: n,
                                           inChannels: cin, outChannels: cout, height: side, width: side, stride: 2).dw
        let xm = Layout.blocked(fromNCHW: Tensor(shape: [n, cin, side, side], values: x), channels: cin, batch: n, height: side, width: side)
        let dym = Layout.blocked(fromNCHW: Tensor(shape: [n, cout, g.outHeight, g.outWidth], values: dy), channels: cout, batch: n,
                                 height: g.outHeight, width: g.outWidth)
        func run(_ algorithm: ConvAlgorithm, float32Source: Bool) -> (dw: [Float], implementation: String) {
            let r = bf16WeightGradient(g, algorithm: algorithm, source: xm.tensor, float32Source: float32Source, gradOutput: dym.tensor)
            XCTAssertEqual(r.kernel.algorithm(of: .backwardWeights), .direct, "a strided layer's weight gradient is direct")
            return (r.dw, r.kernel.implementations[2])
        }
        let oneDNN = run(.direct, float32Source: false), ours = run(.winograd2x2, float32Source: false)
        let oursF32 = run(.winograd2x2, float32Source: true)
        XCTAssertFalse(oneDNN.implementation.hasPrefix("own:"), oneDNN.implementation)
        XCTAssertEqual(ours.implementation, "own:direct_3x3_s2_bf16")
        // No transform: a float32 source is rounded to bf16 as it is read, as the bf16 copy was.
        XCTAssertEqual(oursF32.dw, ours.dw, "float32 source and its bf16 copy give the same products")
        return (relativeError(ours.dw, dw64), relativeError(oneDNN.dw, dw64))
    }

    /// Odd shape: 40 -> 24 channels (not whole 16-channel blocks), 7x7 source (4x4 output: the last tap row and
    /// column fall on the padding), 3 images = 48 output pixels split over 2 threads.
    func testSmallShapeMatchesFloat64() throws {
        let e = try errors(batch: 3, cin: 40, cout: 24, side: 7, seed: 5)
        print(String(format: "strided bf16 weight gradient error / scale: ours %.2e oneDNN %.2e", e.ours, e.oneDNN))
        XCTAssertLessThanOrEqual(e.ours, 1.5 * e.oneDNN)
    }

    /// Enough channels (360 -> 352: 9 x 352 x 368 float32 sums, more than 4 MB) that the threads split the
    /// output channels instead of the pixels; 30 images of 6x6 (3x3 output): 270 pixels, more than one chunk.
    func testManyChannelsMatchFloat64() throws {
        let e = try errors(batch: 30, cin: 360, cout: 352, side: 6, seed: 9)
        print(String(format: "strided bf16 weight gradient error / scale: ours %.2e oneDNN %.2e", e.ours, e.oneDNN))
        XCTAssertLessThanOrEqual(e.ours, 1.5 * e.oneDNN)
    }
}
