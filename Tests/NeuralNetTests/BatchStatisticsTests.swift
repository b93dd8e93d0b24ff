import Kernels
import NeuralNet
import XCTest

/// The SyncBN contract of BatchNorm: the layer hands `BatchStatistics` (two per-channel sums and the count)
/// to its reducer in forward and in backward, and keeps dgamma / dbeta its own.
final class BatchStatisticsTests: XCTestCase {
    override func setUp() { Parallel.threadCount = 2; BLAS.setThreads(1) }

    func testLayoutAndAccessors() {
        var s = BatchStatistics(channels: 2)
        XCTAssertEqual(s.values.count, 5)
        s.values = [1, 2, 3, 4, 10]
        XCTAssertEqual([s.first(0), s.first(1), s.second(0), s.second(1), s.count], [1, 2, 3, 4, 10])
    }

    /// A reducer that doubles everything stands for a second rank holding a copy of this rank's batch: the
    /// global batch has the same mean, variance and gradient means, so outputs and input gradients equal the
    /// local ones, the running variance uses the global count 2N, and dgamma / dbeta stay this rank's sums.
    func testReducedStatisticsAreThoseOfTheGlobalBatch() throws {
        func layer() -> (BatchNorm, ParameterRegistry) {
            let r = ParameterRegistry()
            let bn = BatchNorm(r, "bn", channels: 3)
            r.finalize()
            bn.weight.value.copy(from: [1.2, 0.7, -0.5])
            bn.bias.value.copy(from: [0.1, -0.2, 0.3])
            return (bn, r)
        }
        var rng = SplitMix64(seed: 11)
        let n = 4
        let x = Tensor(shape: [n, 3], values: (0..<(3 * n)).map { _ in Float(rng.nextNormal() * 2 + 1) })
        let g = Tensor(shape: [n, 3], values: (0..<(3 * n)).map { _ in Float(rng.nextNormal()) })
        let (local, _) = layer(), (synced, _) = layer()
        var calls = 0
        synced.reducer = { stats in
            calls += 1
            stats.values = stats.values.map { 2 * $0 }
        }
        let yLocal = local.forward1d(x).array, ySynced = synced.forward1d(x).array
        let dxLocal = local.backward1d(g).array, dxSynced = synced.backward1d(g).array
        XCTAssertEqual(calls, 2, "one reduction in forward, one in backward")
        for (a, b) in zip(yLocal, ySynced) { XCTAssertEqual(a, b, accuracy: 1e-5) }
        for (a, b) in zip(dxLocal, dxSynced) { XCTAssertEqual(a, b, accuracy: 1e-5) }
        XCTAssertEqual(local.weight.gradient.array, synced.weight.gradient.array, "dgamma is not reduced")
        XCTAssertEqual(local.bias.gradient.array, synced.bias.gradient.array, "dbeta is not reduced")
        // running_var starts at 0 here: 0.1 * var * M / (M - 1) with M = N locally and 2N synced.
        let values = x.array
        for c in 0..<3 {
            let column = (0..<n).map { Double(values[$0 * 3 + c]) }
            let mean = column.reduce(0, +) / Double(n)
            let variance = column.map { ($0 - mean) * ($0 - mean) }.reduce(0, +) / Double(n)
            XCTAssertEqual(Double(local.runningVar.value[c]), 0.1 * variance * Double(n) / Double(n - 1), accuracy: 1e-5)
            XCTAssertEqual(Double(synced.runningVar.value[c]), 0.1 * variance * Double(2 * n) / Double(2 * n - 1),
                           accuracy: 1e-5)
        }
    }
}
