import Kernels
import NeuralNet
import XCTest

/// BatchNorm's 2-D kernels against float64, on the shapes where their bookkeeping matters: maps of a few
/// pixels and several channel blocks (layer4 of 16 px multi-crop views: 2x2), whose outputs and bf16 copies
/// are written per group of planes; two threads splitting the planes; and a plane larger than one float
/// partial run (256 pixels).
final class BatchNormReferenceTests: XCTestCase {
    override func setUp() { Parallel.threadCount = 2; BLAS.setThreads(1) }

    func testForwardAndBackwardMatchFloat64() {
        // (channels, images, height, width): 2x2 maps over 1200 planes (two threads); 3x5 maps; 17x17 maps.
        for (c, n, h, w) in [(40, 400, 2, 2), (24, 7, 3, 5), (48, 3, 17, 17)] {
            check(channels: c, batch: n, height: h, width: w)
        }
    }

    private func check(channels c: Int, batch n: Int, height h: Int, width w: Int, file: StaticString = #filePath, line: UInt = #line) {
        let label = "\(c) channels, \(n) images of \(h)x\(w)"
        var fd = FiniteDifference()
        let r = ParameterRegistry()
        let bn = BatchNorm(r, "bn", channels: c)
        r.finalize()
        bn.weight.value.copy(from: fd.randomTensor([c], scale: 2))
        bn.bias.value.copy(from: fd.randomTensor([c]))
        let x = fd.randomTensor([c, n, h, w], scale: 3), residual = fd.randomTensor([c, n, h, w])
        let dy = fd.randomTensor([c, n, h, w])
        // Offsets per channel, so the mean is not ~0 and centring matters.
        for ch in 0..<c { for i in 0..<(n * h * w) { x[ch * n * h * w + i] += Float(ch % 5) - 2 } }
        func map(_ t: Tensor) -> FeatureMap { Layout.blocked(fromCNHW: t, channels: c, batch: n, height: h, width: w) }

        let out = bn.forward(map(x), residual: map(residual), relu: true, bf16Copy: true)
        let y = Layout.cnhw(out)
        let grads = bn.backward(map(dy))
        let dx = Layout.cnhw(grads.input), dr = Layout.cnhw(grads.residual!)

        // float64 reference: biased variance, eps 1e-5, relu(gamma * xhat + beta + residual).
        let m = n * h * w
        var yError = 0.0, dxError = 0.0, dxScale = 0.0, paramError = 0.0
        for ch in 0..<c {
            let range = (ch * m)..<((ch + 1) * m)
            let mean = range.reduce(0.0) { $0 + Double(x[$1]) } / Double(m)
            let variance = range.reduce(0.0) { $0 + (Double(x[$1]) - mean) * (Double(x[$1]) - mean) } / Double(m)
            let invStd = 1 / (variance + 1e-5).squareRoot()
            let gamma = Double(bn.weight.value[ch]), beta = Double(bn.bias.value[ch])
            var sumG = 0.0, sumGX = 0.0
            var g = [Double](repeating: 0, count: m)
            for (k, i) in range.enumerated() {
                let xhat = (Double(x[i]) - mean) * invStd
                let pre = gamma * xhat + beta + Double(residual[i])
                yError = max(yError, abs(max(pre, 0) - Double(y[i])) / max(1, abs(pre)))
                // ReLU's backward passes the gradient where the (float32) output is positive.
                g[k] = y[i] > 0 ? Double(dy[i]) : 0
                sumG += g[k]; sumGX += g[k] * xhat
            }
            paramError = max(paramError, abs(sumG - Double(bn.bias.gradient[ch])) / max(1, abs(sumG)),
                             abs(sumGX - Double(bn.weight.gradient[ch])) / max(1, abs(sumGX)))
            for (k, i) in range.enumerated() {
                let xhat = (Double(x[i]) - mean) * invStd
                let reference = gamma * invStd * (g[k] - sumG / Double(m) - xhat * sumGX / Double(m))
                dxError = max(dxError, abs(reference - Double(dx[i])))
                dxScale = max(dxScale, abs(reference))
                XCTAssertEqual(Double(dr[i]), g[k], "\(label): the residual's gradient is the masked output gradient", file: file, line: line)
            }
        }
        XCTAssertLessThan(yError, 1e-5, "\(label): output", file: file, line: line)
        XCTAssertLessThan(dxError, 1e-5 * dxScale, "\(label): input gradient (largest \(dxScale))", file: file, line: line)
        XCTAssertLessThan(paramError, 1e-5, "\(label): dgamma, dbeta", file: file, line: line)

        // The bf16 copies are the float32 values rounded (the same rounding, whatever the grouping of planes).
        func mismatches(_ copy: BF16Tensor, _ values: Tensor) -> Int {
            let rounded = Tensor(shape: values.shape)
            BFloat16.round(values, into: rounded)
            return zip(copy.floats, rounded.array).filter { $0 != $1 }.count
        }
        XCTAssertEqual(mismatches(out.bf16!, out.tensor), 0, "\(label): bf16 copy of the output", file: file, line: line)
        let float32Gradient = Tensor(shape: out.tensor.shape, values: bn.backward(map(dy)).input.tensor.array)
        bn.precision = .bf16
        let bf16Gradient = bn.backward(map(dy)).input
        XCTAssertFalse(bf16Gradient.hasFloat32, "\(label): the bf16 backward writes the bf16 copy only", file: file, line: line)
        XCTAssertEqual(mismatches(bf16Gradient.bf16!, float32Gradient), 0, "\(label): bf16 input gradient", file: file, line: line)
    }
}
