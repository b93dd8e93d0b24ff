import Kernels
import XCTest

/// `matmul` splits products over our threads (one block of rows or columns of C per thread, each a
/// single-threaded OpenBLAS call): every transpose combination, split both ways, against float64 products.
final class MatmulTests: XCTestCase {
    private var rng = SplitMix64(seed: 11)

    private func random(_ n: Int) -> Tensor { Tensor(shape: [n], values: (0..<n).map { _ in Float(rng.nextUnit() * 2 - 1) }) }

    /// alpha * op(A) op(B) + beta * C0 in float64, row-major.
    private func reference(_ a: [Float], _ transA: Bool, _ b: [Float], _ transB: Bool, m: Int, n: Int, k: Int,
                           alpha: Float, beta: Float, c0: [Float]) -> [Double] {
        var out = [Double](repeating: 0, count: m * n)
        for i in 0..<m { for j in 0..<n {
            var s = 0.0
            for p in 0..<k {
                let x = transA ? a[p * m + i] : a[i * k + p]
                let y = transB ? b[j * k + p] : b[p * n + j]
                s += Double(x) * Double(y)
            }
            out[i * n + j] = Double(alpha) * s + Double(beta) * Double(c0[i * n + j])
        } }
        return out
    }

    private func check(m: Int, n: Int, k: Int, threads: Int) {
        let saved = Parallel.threadCount
        Parallel.threadCount = threads
        defer { Parallel.threadCount = saved }
        BLAS.setThreads(1)
        // The split runs only where a team may start (the main thread, outside a parallel region).
        XCTAssertTrue(Parallel.mayStartTeam, "the test must run where products are split")
        for transA in [false, true] { for transB in [false, true] {
            let a = random(m * k), b = random(k * n), c0 = random(m * n)
            let c = Tensor(shape: [m * n], values: c0.array)
            matmul(a, transposed: transA, rows: m, inner: k, b, transposed: transB, columns: n, into: c, alpha: 0.5, beta: 0.25)
            let want = reference(a.array, transA, b.array, transB, m: m, n: n, k: k, alpha: 0.5, beta: 0.25, c0: c0.array)
            // float32 sums of k products of values in [-1, 1]: error well under k * 2^-24 * (largest term).
            let got = c.array
            let worst = (0..<(m * n)).map { abs(Double(got[$0]) - want[$0]) }.max()!
            XCTAssertLessThan(worst, Double(k) * 1e-6, "m \(m) n \(n) k \(k) transA \(transA) transB \(transB) threads \(threads)")
        } }
    }

    func testRowSplitMatchesFloat64() { check(m: 131, n: 67, k: 70, threads: 2) }        // m >= n: rows split
    func testColumnSplitMatchesFloat64() { check(m: 67, n: 129, k: 70, threads: 3) }     // n > m: columns split, uneven parts
    func testSmallProductsRunOnOneThread() { check(m: 5, n: 7, k: 3, threads: 2) }
}
