import Kernels
import XCTest

/// Our bf16 Winograd weight gradient (F(3x3, 2x2), CKernels/winograd_weights.c) against a float64 weight
/// gradient. Its error must stay within three times the direct bf16 weight gradient's (oneDNN's), as the bf16
/// F(2x2) forward and backward-data passes must (Winograd2x2Tests): each transformed tile is rounded to bf16,
/// with values up to 4x the inputs'. A wrong tile, channel or position would be an error of order 1.
final class WinogradWeightGradientTests: XCTestCase {
    /// `cin` -> `cout` channels on side x side maps of `batch` images: the direct and Winograd bf16 weight
    /// gradients' errors (max |error| / max |value|), with the bf16 source alone and with its float32 values.
    private func errors(batch n: Int, cin: Int, cout: Int, side: Int, seed: UInt64) throws
        -> (direct: Double, winograd: Double, winogradFromFloat32: Double) {
        try XCTSkipUnless(CPUFeatures.current.avx512BF16, "no AVX512_BF16 on this CPU")
        Parallel.threadCount = 2
        let g = ConvGeometry(inChannels: cin, outChannels: cout, kernel: 3, stride: 1, padding: 1, batch: n, inHeight: side, inWidth: side)
        var rng = SplitMix64(seed: seed)
        func random(_ count: Int) -> [Float] { (0..<count).map { _ in Float(rng.nextUnit() * 2 - 1) } }
        let x = random(n * cin * side * side), dy = random(n * cout * side * side)
        // The weight gradient does not depend on the weights, so zeros stand in for them.
        let dw64 = referenceConvolution3x3(x: x, dy: dy, weights: [Float](repeating: 0, count: g.weightCount), batch: n,
                                           inChannels: cin, outChannels: cout, height: side, width: side).dw
        let xm = Layout.blocked(fromNCHW: Tensor(shape: [n, cin, side, side], values: x), channels: cin, batch: n, height: side, width: side)
        let dym = Layout.blocked(fromNCHW: Tensor(shape: [n, cout, side, side], values: dy), channels: cout, batch: n, height: side, width: side)
        func run(_ algorithm: ConvAlgorithm, float32Source: Bool) -> (dw: [Float], ran: ConvAlgorithm?) {
            let r = bf16WeightGradient(g, algorithm: algorithm, source: xm.tensor, float32Source: float32Source, gradOutput: dym.tensor)
            return (r.dw, r.kernel.algorithm(of: .backwardWeights))
        }
        let direct = run(.direct, float32Source: false), wino = run(.winograd2x2, float32Source: false)
        let winoF32 = run(.winograd2x2, float32Source: true)
        XCTAssertEqual(direct.ran, .direct)
        XCTAssertEqual(wino.ran, .winograd2x2)
        XCTAssertEqual(winoF32.ran, .winograd2x2)
        return (relativeError(direct.dw, dw64), relativeError(wino.dw, dw64), relativeError(winoF32.dw, dw64))
    }

    /// Odd shape: 40 -> 24 channels (not whole 16-channel blocks), 7x7 maps (half tiles at the border), an odd
    /// number of tiles (3 images x 16 tiles, split over 2 threads), threads splitting the tiles.
    func testSmallShapeMatchesFloat64() throws {
        let e = try errors(batch: 3, cin: 40, cout: 24, side: 7, seed: 5)
        print(String(format: "bf16 weight gradient error / scale: direct %.2e F(2x2) %.2e (float32 source %.2e)", e.direct, e.winograd, e.winogradFromFloat32))
        XCTAssertLessThanOrEqual(e.winograd, 3 * e.direct)
        XCTAssertLessThanOrEqual(e.winogradFromFloat32, 3 * e.direct)
    }

    /// 9x9 maps: rows of 5 tiles (the transforms walk each channel block along the rows, neighbours sharing two
    /// input columns), a half tile at the end of each row, and 23 images, so that the threads' tiles and a
    /// chunk of 256 tiles both end in the middle of a row: a column carried over from the wrong tile, row or
    /// channel block would be an error of order 1.
    func testRowsOfOddLengthMatchFloat64() throws {
        let e = try errors(batch: 23, cin: 40, cout: 24, side: 9, seed: 13)
        print(String(format: "bf16 weight gradient error / scale: direct %.2e F(2x2) %.2e (float32 source %.2e)", e.direct, e.winograd, e.winogradFromFloat32))
        XCTAssertLessThanOrEqual(e.winograd, 3 * e.direct)
        XCTAssertLessThanOrEqual(e.winogradFromFloat32, 3 * e.direct)
    }

    /// Maps smaller than 4x4 (layer4 of 16 px multi-crop views: 2x2), where bf16 `auto` computes the forward
    /// and backward-data passes direct and the weight gradient by F(3x3, 2x2): one tile (2x2 map) or a tile and
    /// half tiles (3x3) per image, its input window mostly padding.
    func testMapsSmallerThanFourByFourMatchFloat64() throws {
        for side in [2, 3] {
            let e = try errors(batch: 40, cin: 64, cout: 48, side: side, seed: 21 + UInt64(side))
            print(String(format: "bf16 weight gradient error / scale, %dx%d: direct %.2e F(2x2) %.2e (float32 source %.2e)", side, side, e.direct, e.winograd, e.winogradFromFloat32))
            XCTAssertLessThanOrEqual(e.winograd, 3 * e.direct, "\(side)x\(side)")
            XCTAssertLessThanOrEqual(e.winogradFromFloat32, 3 * e.direct, "\(side)x\(side)")
        }
    }

    /// Enough channels (260 -> 256: 16 x 256 x 272 float32 sums, more than 4 MB) that the threads split the
    /// output channels instead of the tiles; 5x5 maps, more tiles than one chunk holds (2 x 9 x 20 = 360).
    func testManyChannelsMatchFloat64() throws {
        let e = try errors(batch: 20, cin: 260, cout: 256, side: 5, seed: 9)
        print(String(format: "bf16 weight gradient error / scale: direct %.2e F(2x2) %.2e (float32 source %.2e)", e.direct, e.winograd, e.winogradFromFloat32))
        XCTAssertLessThanOrEqual(e.winograd, 3 * e.direct)
        XCTAssertLessThanOrEqual(e.winogradFromFloat32, 3 * e.direct)
    }
}
