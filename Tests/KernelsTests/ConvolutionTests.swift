import Kernels
import XCTest

/// Convolution forward against a direct float64 loop, for the shapes ResNet uses, with one and two threads.
final class ConvolutionTests: XCTestCase {
    private func naiveConv(_ g: ConvGeometry, _ x: [Float], _ w: [Float]) -> [Double] {
        let (oh, ow) = (g.outHeight, g.outWidth)
        var out = [Double](repeating: 0, count: g.outChannels * g.batch * oh * ow)
        for o in 0..<g.outChannels { for n in 0..<g.batch { for y in 0..<oh { for xo in 0..<ow {
            var s = 0.0
            for c in 0..<g.inChannels { for ky in 0..<g.kernel { for kx in 0..<g.kernel {
                let iy = y * g.stride - g.padding + ky, ix = xo * g.stride - g.padding + kx
                guard iy >= 0, iy < g.inHeight, ix >= 0, ix < g.inWidth else { continue }
                // CNHW input, [O, C, k, k] weight
                s += Double(x[((c * g.batch + n) * g.inHeight + iy) * g.inWidth + ix]) *
                     Double(w[((o * g.inChannels + c) * g.kernel + ky) * g.kernel + kx])
            } } }
            out[((o * g.batch + n) * oh + y) * ow + xo] = s
        } } } }
        return out
    }

    func testForwardMatchesDirectLoop() {
        var seed: UInt64 = 1
        func rand() -> Float { seed = seed &* 6364136223846793005 &+ 1442695040888963407; return Float(seed >> 40) / Float(1 << 24) - 0.5 }
        let shapes = [(3, 8, 3, 1, 1, 9), (8, 6, 3, 2, 1, 8), (3, 4, 7, 2, 3, 11), (6, 5, 1, 2, 0, 7), (5, 7, 1, 1, 0, 4)]
        for threads in [1, 2] {
            Parallel.threadCount = threads
            for (cin, cout, k, s, p, size) in shapes {
                let g = ConvGeometry(inChannels: cin, outChannels: cout, kernel: k, stride: s, padding: p,
                                     batch: 5, inHeight: size, inWidth: size + 1)
                let x = (0..<(cin * 5 * size * (size + 1))).map { _ in rand() }
                let w = (0..<(cout * cin * k * k)).map { _ in rand() }
                let out = Tensor(shape: [cout, 5, g.outHeight, g.outWidth])
                conv2dForward(g, input: Tensor(shape: [x.count], values: x), weight: Tensor(shape: [w.count], values: w),
                              output: out, workspace: Tensor(shape: [g.workspaceCount]))
                let expected = naiveConv(g, x, w)
                for i in 0..<expected.count {
                    XCTAssertEqual(Double(out[i]), expected[i], accuracy: 1e-4, "k\(k) s\(s) p\(p) threads \(threads) at \(i)")
                }
            }
        }
    }

    /// Splitting the batch over threads must not change the weight gradient beyond float rounding.
    func testBackwardIsThreadCountIndependent() {
        let g = ConvGeometry(inChannels: 4, outChannels: 6, kernel: 3, stride: 1, padding: 1, batch: 7, inHeight: 6, inWidth: 6)
        let x = Tensor(shape: [4 * 7 * 36], values: (0..<(4 * 7 * 36)).map { Float(($0 * 37) % 101) / 101 - 0.5 })
        let w = Tensor(shape: [6 * 36], values: (0..<(6 * 36)).map { Float(($0 * 53) % 97) / 97 - 0.5 })
        let dy = Tensor(shape: [6 * 7 * 36], values: (0..<(6 * 7 * 36)).map { Float(($0 * 29) % 89) / 89 - 0.5 })
        var results: [([Float], [Float])] = []
        for threads in [1, 2, 3] {
            Parallel.threadCount = threads
            let dw = Tensor(shape: [w.count]), dx = Tensor(shape: [x.count])
            conv2dBackward(g, input: x, weight: w, gradOutput: dy, gradWeight: dw, gradInput: dx,
                           workspace: Tensor(shape: [g.workspaceCount]))
            results.append((dw.array, dx.array))
        }
        for r in results.dropFirst() {
            for i in 0..<r.0.count { XCTAssertEqual(r.0[i], results[0].0[i], accuracy: 1e-4) }
            XCTAssertEqual(r.1, results[0].1, "input gradient is computed per image, so it must be identical")
        }
    }
}
