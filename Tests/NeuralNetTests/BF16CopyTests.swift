import Kernels
import NeuralNet
import XCTest

/// In bf16 a layer writes the bf16 copy of its output only when the convolution that reads the map needs it:
/// our F(2x2) (3x3 stride-1 layers under `auto`) transforms the float32 values in the forward and
/// weight-gradient passes; oneDNN's direct kernels (strided and 1x1 layers, `--conv-algorithm direct`) read the
/// copy. A convolution given a map without the copy must compute what it computes with it.
final class BF16CopyTests: XCTestCase {
    func testOnlyConvolutionsOtherThanF2x2ReadTheCopy() throws {
        try XCTSkipUnless(CPUFeatures.current.avx512BF16, "no AVX512_BF16 on this CPU")
        var fd = FiniteDifference()
        let r = ParameterRegistry()
        let same = Conv2d(r, "same", in: 16, out: 32, kernel: 3, stride: 1, padding: 1)
        let strided = Conv2d(r, "strided", in: 16, out: 32, kernel: 3, stride: 2, padding: 1)
        let pointwise = Conv2d(r, "pointwise", in: 16, out: 32, kernel: 1, stride: 2)
        r.finalize()
        for c in [same, strided, pointwise] {
            c.weight.value.copy(from: fd.randomTensor(c.weight.value.shape))
            c.algorithmChoice = .auto
            c.precision = .bf16
        }
        let x = Layout.blocked(fromCNHW: fd.randomTensor([16, 2, 8, 8]), channels: 16, batch: 2, height: 8, width: 8)
        let low = BF16Tensor(count: x.storageCount)
        low.round(from: x.tensor)
        let withCopy = x.with(tensor: x.tensor, bf16: low)

        XCTAssertFalse(same.readsBF16Copy(of: x))
        XCTAssertTrue(strided.readsBF16Copy(of: x))
        XCTAssertTrue(pointwise.readsBF16Copy(of: x))
        same.precision = .fp32
        XCTAssertFalse(same.readsBF16Copy(of: x), "float32 reads no copy")
        same.precision = .bf16
        same.algorithmChoice = .direct
        XCTAssertTrue(same.readsBF16Copy(of: x), "a direct bf16 convolution reads the copy")
        same.algorithmChoice = .auto

        // F(2x2) without the copy: the same output and weight gradient, bit for bit, as with it.
        let dy = Layout.blocked(fromCNHW: fd.randomTensor([32, 2, 8, 8]), channels: 32, batch: 2, height: 8, width: 8)
        let dyLow = BF16Tensor(count: dy.storageCount)
        dyLow.round(from: dy.tensor)
        func run(_ input: FeatureMap) -> (y: [Float], dw: [Float]) {
            let y = same.forward(input).tensor.array
            _ = same.backward(dy.with(tensor: nil, bf16: dyLow))
            return (y, same.weight.gradient!.array)
        }
        let a = run(withCopy), b = run(x)
        XCTAssertTrue(a.y.contains { $0 != 0 } && a.dw.contains { $0 != 0 })
        XCTAssertEqual(a.y.map(\.bitPattern), b.y.map(\.bitPattern))
        XCTAssertEqual(a.dw.map(\.bitPattern), b.dw.map(\.bitPattern))
    }
}
