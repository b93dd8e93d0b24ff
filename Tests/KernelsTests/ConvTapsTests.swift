import Kernels
import XCTest

/// Our per-tap matrix products (CKernels/conv_taps.c), every pass, against a float64 convolution on the small
/// maps they are for (2x2, 1x1, 3x3 and a 2x3 rectangle), with channel counts that are not whole 16-channel
/// blocks. No transforms: the error must stay within twice the direct algorithm's (plus float32's rounding
/// step); a wrong pixel pair, tap or channel would be an error of order 1.
final class ConvTapsTests: XCTestCase {
    func testEveryPassMatchesFloat64() {
        Parallel.threadCount = 2
        // (batch, in channels, out channels, height, width)
        for (n, cin, cout, h, w) in [(5, 20, 24, 2, 2), (3, 16, 16, 1, 1), (2, 32, 16, 3, 3), (4, 16, 40, 2, 3)] {
            check(batch: n, cin: cin, cout: cout, height: h, width: w)
        }
    }

    private func check(batch n: Int, cin: Int, cout: Int, height h: Int, width w: Int) {
        let label = "\(cin) -> \(cout) channels, \(n) images of \(h)x\(w)"
        let g = ConvGeometry(inChannels: cin, outChannels: cout, kernel: 3, stride: 1, padding: 1, batch: n, inHeight: h, inWidth: w)
        var rng = SplitMix64(seed: UInt64(n * 1000 + cin + cout + h * 7 + w))
        func random(_ count: Int) -> [Float] { (0..<count).map { _ in Float(rng.nextUnit() * 2 - 1) } }
        let x = random(n * cin * h * w), dy = random(n * cout * h * w), weights = random(g.weightCount)
        let (y64, dx64, dw64) = referenceConvolution3x3(x: x, dy: dy, weights: weights, batch: n, inChannels: cin,
                                                        outChannels: cout, height: h, width: w)
        let xm = Layout.blocked(fromNCHW: Tensor(shape: [n, cin, h, w], values: x), channels: cin, batch: n, height: h, width: w)
        let dym = Layout.blocked(fromNCHW: Tensor(shape: [n, cout, h, w], values: dy), channels: cout, batch: n, height: h, width: w)
        func run(_ algorithm: ConvAlgorithm) -> (y: [Float], dx: [Float], dw: [Float], ran: [ConvAlgorithm?]) {
            let conv = ConvolutionKernel(g, bf16: false, plainSource: false, inputGradient: true, algorithms: .all(algorithm))
            conv.setWeights(Tensor(shape: [g.weightCount], values: weights))
            let out = Tensor(shape: [conv.outputCount]), dx = Tensor(shape: [conv.sourceCount]), dw = Tensor(shape: [g.weightCount])
            // Garbage first: every pass must overwrite its output, not add to it.
            for t in [out, dx, dw] { for j in 0..<t.count { t[j] = 7 } }
            conv.forward(source: .float32(xm.tensor), output: out)
            conv.backwardData(gradOutput: .float32(dym.tensor), gradInput: dx)
            conv.backwardWeights(source: .float32(xm.tensor), gradOutput: .float32(dym.tensor), gradWeight: dw)
            let y = Layout.nchw(FeatureMap(tensor: out, channels: cout, batch: n, height: h, width: w)).array
            let dxs = Layout.nchw(FeatureMap(tensor: dx, channels: cin, batch: n, height: h, width: w)).array
            return (y, dxs, dw.array, ConvolutionKernel.Pass.allCases.map { conv.algorithm(of: $0) })
        }
        let direct = run(.direct), taps = run(.taps)
        XCTAssertEqual(taps.ran, [.taps, .taps, .taps], label)
        for (pass, ours, theirs, reference) in [("forward", taps.y, direct.y, y64), ("backward-data", taps.dx, direct.dx, dx64),
                                                ("backward-weights", taps.dw, direct.dw, dw64)] {
            let (e, d) = (relativeError(ours, reference), relativeError(theirs, reference))
            XCTAssertLessThanOrEqual(e, 2 * d + 1.2e-7, "\(label): \(pass) error \(e), direct \(d)")
        }
    }

    /// Where the products do not apply (a strided or 1x1 convolution, bf16), the pass runs direct.
    func testOtherShapesRunDirect() {
        Parallel.threadCount = 2
        let strided = ConvGeometry(inChannels: 16, outChannels: 16, kernel: 3, stride: 2, padding: 1, batch: 2, inHeight: 4, inWidth: 4)
        let pointwise = ConvGeometry(inChannels: 16, outChannels: 16, kernel: 1, stride: 1, padding: 0, batch: 2, inHeight: 2, inWidth: 2)
        for g in [strided, pointwise] {
            let conv = ConvolutionKernel(g, bf16: false, plainSource: false, inputGradient: true, algorithms: .all(.taps))
            XCTAssertEqual(conv.algorithm(of: .forward), .direct, "\(g)")
        }
        guard CPUFeatures.current.hasFastBF16 else { return }
        let small = ConvGeometry(inChannels: 16, outChannels: 16, kernel: 3, stride: 1, padding: 1, batch: 2, inHeight: 2, inWidth: 2)
        XCTAssertEqual(ConvolutionKernel(small, bf16: true, plainSource: false, inputGradient: true, algorithms: .all(.taps))
                        .algorithm(of: .forward), .direct)
    }
}
