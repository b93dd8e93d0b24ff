import Kernels
import XCTest

/// oneDNN convolutions (forward, backward-data, backward-weights) against direct float64 loops, for the
/// shapes ResNet uses, in float32 and bf16, with blocked and plain (image) sources.
final class ConvolutionTests: XCTestCase {
    private struct Case { let cin, cout, k, s, p, h, w: Int; let plain: Bool }
    private let cases = [Case(cin: 3, cout: 8, k: 3, s: 1, p: 1, h: 9, w: 10, plain: true),     // CIFAR stem
                         Case(cin: 3, cout: 4, k: 7, s: 2, p: 3, h: 11, w: 12, plain: true),    // ImageNet stem
                         Case(cin: 8, cout: 6, k: 3, s: 2, p: 1, h: 8, w: 9, plain: false),     // strided 3x3
                         Case(cin: 16, cout: 20, k: 3, s: 1, p: 1, h: 5, w: 5, plain: false),   // channels past a block
                         Case(cin: 6, cout: 5, k: 1, s: 2, p: 0, h: 7, w: 7, plain: false)]     // 1x1 downsample

    private var rng = SplitMix64(seed: 7)
    private func random(_ n: Int) -> [Float] { (0..<n).map { _ in Float(rng.nextUnit() * 2 - 1) } }

    /// out[n][o][y][x] in NCHW; x NCHW, w [O, C, k, k].
    private func naiveForward(_ g: ConvGeometry, _ x: [Float], _ w: [Float]) -> [Double] {
        var out = [Double](repeating: 0, count: g.batch * g.outChannels * g.outHeight * g.outWidth)
        for n in 0..<g.batch { for o in 0..<g.outChannels { for y in 0..<g.outHeight { for xo in 0..<g.outWidth {
            var s = 0.0
            for c in 0..<g.inChannels { for ky in 0..<g.kernel { for kx in 0..<g.kernel {
                let iy = y * g.stride - g.padding + ky, ix = xo * g.stride - g.padding + kx
                guard iy >= 0, iy < g.inHeight, ix >= 0, ix < g.inWidth else { continue }
                s += Double(x[((n * g.inChannels + c) * g.inHeight + iy) * g.inWidth + ix]) *
                     Double(w[((o * g.inChannels + c) * g.kernel + ky) * g.kernel + kx])
            } } }
            out[((n * g.outChannels + o) * g.outHeight + y) * g.outWidth + xo] = s
        } } } }
        return out
    }

    /// dx (NCHW) and dw of the forward above, for output gradient dy (NCHW).
    private func naiveBackward(_ g: ConvGeometry, _ x: [Float], _ w: [Float], _ dy: [Float]) -> (dx: [Double], dw: [Double]) {
        var dx = [Double](repeating: 0, count: x.count), dw = [Double](repeating: 0, count: w.count)
        for n in 0..<g.batch { for o in 0..<g.outChannels { for y in 0..<g.outHeight { for xo in 0..<g.outWidth {
            let d = Double(dy[((n * g.outChannels + o) * g.outHeight + y) * g.outWidth + xo])
            for c in 0..<g.inChannels { for ky in 0..<g.kernel { for kx in 0..<g.kernel {
                let iy = y * g.stride - g.padding + ky, ix = xo * g.stride - g.padding + kx
                guard iy >= 0, iy < g.inHeight, ix >= 0, ix < g.inWidth else { continue }
                let xi = ((n * g.inChannels + c) * g.inHeight + iy) * g.inWidth + ix
                let wi = ((o * g.inChannels + c) * g.kernel + ky) * g.kernel + kx
                dx[xi] += d * Double(w[wi])
                dw[wi] += d * Double(x[xi])
            } } }
        } } } }
        return (dx, dw)
    }

    private func maxError(_ a: [Float], _ b: [Double]) -> Double {
        let scale = max(b.map(abs).max() ?? 1, 1e-12)
        return zip(a, b).map { abs(Double($0) - $1) }.max()! / scale
    }

    /// The values in a blocked map's lanes beyond `channels` ([image][block][pixel][16]; only the last block of
    /// each image has such lanes).
    private func paddedLanes(_ t: Tensor, channels: Int, batch: Int, pixels: Int) -> [Float] {
        let blocks = (channels + 15) / 16
        var out: [Float] = []
        for n in 0..<batch { for p in 0..<pixels { for lane in (channels % 16)..<16 {
            out.append(t[((n * blocks + blocks - 1) * pixels + p) * 16 + lane])
        } } }
        return out
    }

    private func nchwTensor(_ v: [Float], _ n: Int, _ c: Int, _ h: Int, _ w: Int) -> Tensor { Tensor(shape: [n, c, h, w], values: v) }

    /// Runs every case through the kernel in the given precision; `round` is applied to the operands the
    /// reference sees (identity for float32, bf16 rounding for bf16).
    private func check(bf16: Bool, threads: Int, tolerance: Double) {
        Parallel.threadCount = threads
        let round: (Float) -> Float = bf16 ? { BFloat16.round($0) } : { $0 }
        for cs in cases {
            let n = 3
            let g = ConvGeometry(inChannels: cs.cin, outChannels: cs.cout, kernel: cs.k, stride: cs.s, padding: cs.p,
                                 batch: n, inHeight: cs.h, inWidth: cs.w)
            let x = random(n * cs.cin * cs.h * cs.w), w = random(g.weightCount)
            let dy = random(n * cs.cout * g.outHeight * g.outWidth)
            let label = "\(bf16 ? "bf16" : "fp32") \(cs.cin)->\(cs.cout) k\(cs.k) s\(cs.s) threads \(threads)"
            let conv = ConvolutionKernel(g, bf16: bf16, plainSource: cs.plain, inputGradient: true)
            conv.setWeights(Tensor(shape: [w.count], values: w))
            let xNCHW = nchwTensor(x, n, cs.cin, cs.h, cs.w)
            let xMap = Layout.blocked(fromNCHW: xNCHW, channels: cs.cin, batch: n, height: cs.h, width: cs.w)
            let sourceValues = cs.plain ? xNCHW : xMap.tensor
            let source: ConvOperand
            if bf16 {
                let low = BF16Tensor(count: sourceValues.count)
                low.round(from: sourceValues)
                source = .bf16(low)
            } else {
                source = .float32(sourceValues)
            }
            let out = Tensor(shape: [conv.outputCount])
            conv.forward(source: source, output: out)
            let outMap = FeatureMap(tensor: out, channels: cs.cout, batch: n, height: g.outHeight, width: g.outWidth)
            let expected = naiveForward(g, x.map(round), w.map(round))
            XCTAssertLessThan(maxError(Layout.nchw(outMap).array, expected), tolerance, "\(label) forward")

            let dyMap = Layout.blocked(fromNCHW: nchwTensor(dy, n, cs.cout, g.outHeight, g.outWidth), channels: cs.cout,
                                       batch: n, height: g.outHeight, width: g.outWidth)
            let gradient: ConvOperand
            if bf16 {
                let low = BF16Tensor(count: dyMap.storageCount)
                low.round(from: dyMap.tensor)
                gradient = .bf16(low)
            } else {
                gradient = .float32(dyMap.tensor)
            }
            let dx = Tensor(shape: [conv.sourceCount]), dw = Tensor(shape: [g.weightCount])
            conv.backwardData(gradOutput: gradient, gradInput: dx)
            conv.backwardWeights(source: source, gradOutput: gradient, gradWeight: dw)
            let (edx, edw) = naiveBackward(g, x.map(round), w.map(round), dy.map(round))
            // Lanes past the last channel stay zero (the next layer reads them as channels of zero weight).
            if cs.cout % 16 != 0 {
                XCTAssertEqual(paddedLanes(out, channels: cs.cout, batch: n, pixels: g.outHeight * g.outWidth).map(abs).max(), 0,
                               "\(label) output padding")
            }
            if !cs.plain && cs.cin % 16 != 0 {
                XCTAssertEqual(paddedLanes(dx, channels: cs.cin, batch: n, pixels: cs.h * cs.w).map(abs).max(), 0,
                               "\(label) input-gradient padding")
            }
            let dxNCHW = cs.plain ? dx.array
                : Layout.nchw(FeatureMap(tensor: dx, channels: cs.cin, batch: n, height: cs.h, width: cs.w)).array
            XCTAssertLessThan(maxError(dxNCHW, edx), tolerance, "\(label) input gradient")
            XCTAssertLessThan(maxError(dw.array, edw), tolerance, "\(label) weight gradient")
        }
    }

    func testFloat32MatchesDirectLoops() {
        for threads in [1, 2] { check(bf16: false, threads: threads, tolerance: 1e-5) }
    }

    /// Products of bf16 values are exact in float32, so the only differences from the float64 loop over
    /// the rounded operands are float32 accumulation (~1e-7 relative per term).
    func testBF16MatchesDirectLoopsOnRoundedOperands() throws {
        try XCTSkipUnless(CPUFeatures.current.avx512BF16, "the CPU has no AVX512_BF16 (the reference path is tested elsewhere)")
        for threads in [1, 2] { check(bf16: true, threads: threads, tolerance: 1e-5) }
    }
}

/// Every ResNet-18 convolution shape, from width 0.0625 (4-32 channels) to 1, runs on oneDNN's vector
/// kernels in every pass: maps of fewer than 16 channels are computed as whole 16-channel blocks (their zero
/// lanes) because some of oneDNN's AVX-512 kernels exist only for whole blocks, and the shape they refuse runs
/// oneDNN's reference loops (width 0.125 once trained 9x slower than width 0.25 that way).
final class SmallWidthKernelTests: XCTestCase {
    func testNoPassFallsToReferenceLoopsAtAnyWidth() throws {
        Parallel.threadCount = 2
        var precisions = [false]
        if CPUFeatures.current.avx512BF16 { precisions.append(true) }
        for width in [0.0625, 0.125, 0.25, 0.5, 1.0] {
            let c = [64, 128, 256, 512].map { max(1, Int((Double($0) * width).rounded())) }
            // (in, out, kernel, stride, input side, plain images)
            var shapes = [(3, c[0], 3, 1, 32, true), (c[0], c[0], 3, 1, 32, false)]
            for stage in 1..<4 {
                let side = 32 >> stage
                shapes += [(c[stage - 1], c[stage], 3, 2, 2 * side, false), (c[stage], c[stage], 3, 1, side, false),
                           (c[stage - 1], c[stage], 1, 2, 2 * side, false)]
            }
            for bf16 in precisions {
                for (cin, cout, k, stride, side, plain) in shapes {
                    let g = ConvGeometry(inChannels: cin, outChannels: cout, kernel: k, stride: stride, padding: k / 2,
                                         batch: 2, inHeight: side, inWidth: side)
                    for choice in ConvAlgorithmChoice.allCases {
                        let conv = ConvolutionKernel(g, bf16: bf16, plainSource: plain, inputGradient: !plain,
                                                     algorithms: choice.algorithms(for: g, bf16: bf16))
                        conv.setWeights(Tensor(shape: [g.weightCount], repeating: 0.1))
                        let source = Tensor(shape: [conv.sourceCount], repeating: 0.5), dy = Tensor(shape: [conv.outputCount], repeating: 0.25)
                        let operand: (Tensor) -> ConvOperand = { t in
                            guard bf16 else { return .float32(t) }
                            let low = BF16Tensor(count: t.count)
                            low.round(from: t)
                            return .bf16(low)
                        }
                        conv.forward(source: operand(source), output: Tensor(shape: [conv.outputCount]))
                        if !plain { conv.backwardData(gradOutput: operand(dy), gradInput: Tensor(shape: [conv.sourceCount])) }
                        conv.backwardWeights(source: operand(source), gradOutput: operand(dy), gradWeight: Tensor(shape: [g.weightCount]))
                        let names = conv.implementations.enumerated().filter { !plain || $0.offset != 1 }.map(\.element)
                        XCTAssertFalse(names.contains { $0.contains("ref") },
                                       "width \(width) \(cin)->\(cout) k\(k) s\(stride) \(side)px \(bf16 ? "bf16" : "fp32") \(choice): \(names)")
                    }
                }
            }
        }
    }

    /// On maps smaller than 4x4 (a Winograd tile would cover more than the map) `auto` runs every pass by per-tap
    /// matrix products in float32 and direct in bf16 (but for its weight gradient), and keeps Winograd from 4x4
    /// up, in both precisions.
    func testAutoLeavesWinogradOnMapsSmallerThanFourByFour() {
        func geometry(side: Int) -> ConvGeometry {
            ConvGeometry(inChannels: 512, outChannels: 512, kernel: 3, stride: 1, padding: 1, batch: 2, inHeight: side, inWidth: side)
        }
        for bf16 in [false, true] {
            // bf16 keeps our F(3x3, 2x2) weight gradient there (oneDNN's direct one is 3x slower).
            let small = bf16 ? ConvPassAlgorithms(forward: .direct, backwardData: .direct, backwardWeights: .winograd2x2) : .all(.taps)
            XCTAssertEqual(ConvAlgorithmChoice.auto.algorithms(for: geometry(side: 2), bf16: bf16), small)
            XCTAssertEqual(ConvAlgorithmChoice.auto.algorithms(for: geometry(side: 3), bf16: bf16), small)
            XCTAssertFalse([ConvAlgorithm.direct, .taps].contains(ConvAlgorithmChoice.auto.algorithms(for: geometry(side: 4), bf16: bf16).forward))
            // `winograd` means Winograd wherever it exists, whatever the map.
            XCTAssertNotEqual(ConvAlgorithmChoice.winograd.algorithms(for: geometry(side: 2), bf16: bf16), .all(.direct))
        }
    }

    /// Each pass runs the algorithm asked for where oneDNN has it (Winograd: float32 3x3 stride 1).
    func testEachPassRunsItsOwnAlgorithm() {
        let g = ConvGeometry(inChannels: 32, outChannels: 32, kernel: 3, stride: 1, padding: 1, batch: 2, inHeight: 8, inWidth: 8)
        let asked = ConvPassAlgorithms(forward: .direct, backwardData: .winograd4x4, backwardWeights: .direct)
        let conv = ConvolutionKernel(g, bf16: false, plainSource: false, inputGradient: true, algorithms: asked)
        conv.setWeights(Tensor(shape: [g.weightCount], repeating: 0.1))
        let x = Tensor(shape: [conv.sourceCount], repeating: 1), dy = Tensor(shape: [conv.outputCount], repeating: 1)
        conv.forward(source: .float32(x), output: Tensor(shape: [conv.outputCount]))
        conv.backwardData(gradOutput: .float32(dy), gradInput: Tensor(shape: [conv.sourceCount]))
        conv.backwardWeights(source: .float32(x), gradOutput: .float32(dy), gradWeight: Tensor(shape: [g.weightCount]))
        guard conv.algorithm(of: .backwardData) == .winograd4x4 else { return }  // no Winograd in this oneDNN build
        XCTAssertEqual(conv.algorithm(of: .forward), .direct)
        XCTAssertEqual(conv.algorithm(of: .backwardWeights), .direct)
        XCTAssertEqual(conv.implementations.map { $0.contains("wino") }, [false, true, false])
        // Strided and 1x1 convolutions have no Winograd: they run direct whatever is asked.
        let strided = ConvGeometry(inChannels: 32, outChannels: 32, kernel: 3, stride: 2, padding: 1, batch: 2, inHeight: 8, inWidth: 8)
        let s = ConvolutionKernel(strided, bf16: false, plainSource: false, inputGradient: true, algorithms: .all(.winograd4x4))
        XCTAssertEqual(s.algorithm(of: .forward), .direct)
    }
}

/// Winograd F(4x4, 3x3), used for float32 3x3 stride-1 convolutions, against the direct algorithm on a
/// ResNet-18-like shape (32 -> 32 channels, 8x8, batch 4): all three passes within 1e-5 of the output's scale
/// (measured: ~1e-6), and the Winograd implementation is really the one in use.
final class WinogradTests: XCTestCase {
    func testWinogradMatchesDirect() throws {
        Parallel.threadCount = 2
        let g = ConvGeometry(inChannels: 32, outChannels: 32, kernel: 3, stride: 1, padding: 1, batch: 4, inHeight: 8, inWidth: 8)
        var rng = SplitMix64(seed: 9)
        func random(_ n: Int) -> [Float] { (0..<n).map { _ in Float(rng.nextUnit() * 2 - 1) } }
        let x = Layout.blocked(fromNCHW: Tensor(shape: [4, 32, 8, 8], values: random(4 * 32 * 64)), channels: 32, batch: 4, height: 8, width: 8)
        let dy = Layout.blocked(fromNCHW: Tensor(shape: [4, 32, 8, 8], values: random(4 * 32 * 64)), channels: 32, batch: 4, height: 8, width: 8)
        let w = Tensor(shape: [g.weightCount], values: random(g.weightCount))
        func passes(winograd: Bool) -> (out: [Float], dx: [Float], dw: [Float], names: [String]) {
            let conv = ConvolutionKernel(g, bf16: false, plainSource: false, inputGradient: true,
                                         algorithms: .all(winograd ? .winograd4x4 : .direct))
            conv.setWeights(w)
            let out = Tensor(shape: [conv.outputCount]), dx = Tensor(shape: [conv.sourceCount]), dw = Tensor(shape: [g.weightCount])
            conv.forward(source: .float32(x.tensor), output: out)
            conv.backwardData(gradOutput: .float32(dy.tensor), gradInput: dx)
            conv.backwardWeights(source: .float32(x.tensor), gradOutput: .float32(dy.tensor), gradWeight: dw)
            return (out.array, dx.array, dw.array, conv.implementations)
        }
        let direct = passes(winograd: false), winograd = passes(winograd: true)
        try XCTSkipUnless(winograd.names.allSatisfy { $0.contains("wino") }, "oneDNN has no Winograd here: \(winograd.names)")
        XCTAssertFalse(direct.names.contains { $0.contains("wino") })
        func relative(_ a: [Float], _ b: [Float]) -> Double {
            let scale = Double(b.map(abs).max()!)
            return zip(a, b).map { Double(abs($0 - $1)) }.max()! / scale
        }
        XCTAssertLessThan(relative(winograd.out, direct.out), 1e-5, "forward")
        XCTAssertLessThan(relative(winograd.dx, direct.dx), 1e-5, "backward-data")
        XCTAssertLessThan(relative(winograd.dw, direct.dw), 1e-5, "backward-weights")
        XCTAssertGreaterThan(relative(winograd.out, direct.out), 0, "two different algorithms round differently")
    }
}

/// bf16 rounding: the kernels' conversion against its definition.
final class BFloat16Tests: XCTestCase {
    /// Round to nearest, ties to even; NaN stays NaN; denormal inputs become signed zero.
    private func reference(_ x: Float) -> Float {
        var u = x.bitPattern
        if u & 0x7f80_0000 == 0 { return Float(bitPattern: u & 0x8000_0000) }
        if u & 0x7fff_ffff > 0x7f80_0000 { return Float(bitPattern: (u | 0x0040_0000) & 0xffff_0000) }
        u = u &+ 0x7fff &+ ((u >> 16) & 1)
        return Float(bitPattern: u & 0xffff_0000)
    }

    func testRoundingMatchesDefinitionOnRandomBitPatterns() {
        var rng = SplitMix64(seed: 3)
        var bits = (0..<100_000).map { _ in UInt32(truncatingIfNeeded: rng.next()) }
        // Ties in both directions, the largest finite values, infinities, denormals, zeros.
        bits += [0x3f80_8000, 0x3f81_8000, 0x3f80_7fff, 0x7f7f_ffff, 0xff7f_ffff, 0x7f80_0000, 0xff80_0000,
                 0x0000_0001, 0x8040_0000, 0x0000_0000, 0x8000_0000, 0x7fc0_0000, 0x7f80_0001]
        let source = Tensor(shape: [bits.count], values: bits.map { Float(bitPattern: $0) })
        let rounded = Tensor(shape: [bits.count])
        BFloat16.round(source, into: rounded)
        let low = BF16Tensor(count: bits.count)
        low.round(from: source)
        let widened = low.floats
        for i in 0..<bits.count {
            let expected = reference(source[i])
            if expected.isNaN {
                XCTAssertTrue(rounded[i].isNaN && widened[i].isNaN, "NaN at \(String(bits[i], radix: 16))")
            } else {
                XCTAssertEqual(rounded[i].bitPattern, expected.bitPattern, "float path at \(String(bits[i], radix: 16))")
                XCTAssertEqual(widened[i].bitPattern, expected.bitPattern, "bf16 storage at \(String(bits[i], radix: 16))")
            }
        }
        XCTAssertEqual(BFloat16.round(Float(bitPattern: 0x3f80_8000)), 1.0, "a tie rounds to the even neighbour")
        XCTAssertEqual(BFloat16.round(Float(bitPattern: 0x3f81_8000)).bitPattern, 0x3f82_0000, "a tie rounds to the even neighbour")
    }
}

/// Blocked layout conversions are exact inverses, and padded lanes are zero.
final class LayoutTests: XCTestCase {
    func testBlockedRoundTripsWithPaddedChannels() {
        let (n, c, h, w) = (3, 20, 2, 3)
        let values = (0..<(n * c * h * w)).map { Float($0) + 0.5 }
        let map = Layout.blocked(fromNCHW: Tensor(shape: [n, c, h, w], values: values), channels: c, batch: n, height: h, width: w)
        XCTAssertEqual(map.storageCount, n * 2 * 16 * h * w)
        XCTAssertEqual(Layout.nchw(map).array, values)
        // Channel 17 of image 1 at pixel 4 sits in block 1, lane 1; lanes 20..<32 of block 1 are zero.
        XCTAssertEqual(map.tensor[((1 * 2 + 1) * h * w + 4) * 16 + 1], values[(1 * c + 17) * h * w + 4])
        for p in 0..<(h * w) { for lane in 4..<16 { XCTAssertEqual(map.tensor[((0 * 2 + 1) * h * w + p) * 16 + lane], 0) } }
        let cnhw = Layout.cnhw(map)
        XCTAssertEqual(Layout.cnhw(Layout.blocked(fromCNHW: cnhw, channels: c, batch: n, height: h, width: w)).array, cnhw.array)
        XCTAssertEqual(cnhw[(17 * n + 1) * h * w + 4], values[(1 * c + 17) * h * w + 4])
    }
}

/// Our Winograd F(2x2, 3x3) (forward and backward-data passes) against a float64 convolution on an odd shape:
/// 40 -> 24 channels (neither a whole number of 16-channel blocks), 7x7 maps (a half tile at the border),
/// batch 3. Its float32 error must stay within twice the direct algorithm's (the point of F(2x2): transforms
/// that round like a direct convolution; measured: below it), and its bf16 error within three times direct bf16's.
final class Winograd2x2Tests: XCTestCase {
    func testWinograd2x2MatchesFloat64() throws {
        Parallel.threadCount = 2
        let (n, cin, cout, side) = (3, 40, 24, 7)
        let g = ConvGeometry(inChannels: cin, outChannels: cout, kernel: 3, stride: 1, padding: 1, batch: n, inHeight: side, inWidth: side)
        var rng = SplitMix64(seed: 11)
        func random(_ count: Int) -> [Float] { (0..<count).map { _ in Float(rng.nextUnit() * 2 - 1) } }
        let x = random(n * cin * side * side), dy = random(n * cout * side * side), w = random(g.weightCount)
        let (y64, dx64, _) = referenceConvolution3x3(x: x, dy: dy, weights: w, batch: n, inChannels: cin, outChannels: cout,
                                                     height: side, width: side)
        func run(_ algorithm: ConvAlgorithm, bf16: Bool) -> (y: [Float], dx: [Float], ran: [ConvAlgorithm?]) {
            let conv = ConvolutionKernel(g, bf16: bf16, plainSource: false, inputGradient: true,
                                         algorithms: ConvPassAlgorithms(forward: algorithm, backwardData: algorithm, backwardWeights: .direct))
            conv.setWeights(Tensor(shape: [g.weightCount], values: w))
            let xm = Layout.blocked(fromNCHW: Tensor(shape: [n, cin, side, side], values: x), channels: cin, batch: n, height: side, width: side)
            let dym = Layout.blocked(fromNCHW: Tensor(shape: [n, cout, side, side], values: dy), channels: cout, batch: n, height: side, width: side)
            func operand(_ t: Tensor) -> ConvOperand {
                guard bf16 else { return .float32(t) }
                let low = BF16Tensor(count: t.count)
                low.round(from: t)
                return .bf16(low)
            }
            let out = Tensor(shape: [conv.outputCount]), dx = Tensor(shape: [conv.sourceCount])
            conv.forward(source: operand(xm.tensor), output: out)
            conv.backwardData(gradOutput: operand(dym.tensor), gradInput: dx)
            let y = Layout.nchw(FeatureMap(tensor: out, channels: cout, batch: n, height: side, width: side)).array
            let dxs = Layout.nchw(FeatureMap(tensor: dx, channels: cin, batch: n, height: side, width: side)).array
            return (y, dxs, [conv.algorithm(of: .forward), conv.algorithm(of: .backwardData)])
        }
        let direct = run(.direct, bf16: false), wino = run(.winograd2x2, bf16: false)
        try XCTSkipUnless(wino.ran == [.winograd2x2, .winograd2x2], "no F(2x2) Winograd on this CPU: \(wino.ran)")
        let (de, dxe) = (relativeError(direct.y, y64), relativeError(direct.dx, dx64)), (we, wxe) = (relativeError(wino.y, y64), relativeError(wino.dx, dx64))
        print(String(format: "float32 error / scale: forward direct %.2e F(2x2) %.2e; backward-data direct %.2e F(2x2) %.2e", de, we, dxe, wxe))
        XCTAssertLessThanOrEqual(we, max(2 * de, 1e-7), "forward")
        XCTAssertLessThanOrEqual(wxe, max(2 * dxe, 1e-7), "backward-data")
        guard CPUFeatures.current.avx512BF16 else { return }
        let low = run(.winograd2x2, bf16: true), lowDirect = run(.direct, bf16: true)
        XCTAssertEqual(low.ran, [.winograd2x2, .winograd2x2])
        let (be, bxe) = (relativeError(low.y, y64), relativeError(low.dx, dx64)), (bde, bdxe) = (relativeError(lowDirect.y, y64), relativeError(lowDirect.dx, dx64))
        print(String(format: "bf16 error / scale: forward direct %.2e F(2x2) %.2e; backward-data direct %.2e F(2x2) %.2e", bde, be, bdxe, bxe))
        // F(2x2) rounds each transformed tile to bf16 (values up to 4x the input's, so up to 4x its rounding
        // step) where the direct algorithm rounds the inputs: measured 1.8x the direct error. A wrong tile or
        // channel would be of order 1.
        XCTAssertLessThanOrEqual(be, 3 * bde, "bf16 forward")
        XCTAssertLessThanOrEqual(bxe, 3 * bdxe, "bf16 backward-data")
    }
}
