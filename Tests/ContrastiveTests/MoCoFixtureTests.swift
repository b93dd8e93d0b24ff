import Contrastive
import Foundation
import Kernels
import XCTest

/// MoCo's loss, its gradient w.r.t. the queries, the metrics, the momentum update and the enqueue order
/// against PyTorch as MoCo's own code computes them; Fixtures/make_moco_fixtures.py wrote Fixtures/moco.json.
final class MoCoFixtureTests: XCTestCase {
    struct Fixture: Decodable {
        struct Case: Decodable {
            var temperature: Float
            var loss: Double
            var gradient: [Double]
            var top1: Double
            var top5: Double
            var meanRank: Double
        }
        var batch: Int, dim: Int, queueSize: Int
        var queries: [Float], keys: [Float], queue: [Float]
        var cases: [Case]
        var momentum: Double
        var paramQ: [Float], paramK: [Float], paramKAfter: [Float]
        var enqueueStart: Int
        var enqueued: [[Float]]
        var pointersAfter: [Int]
        var queueAfter: [Float]
    }

    func loadFixture() throws -> Fixture {
        let url = try XCTUnwrap(Bundle.module.url(forResource: "moco", withExtension: "json", subdirectory: "Fixtures"))
        return try JSONDecoder().decode(Fixture.self, from: Data(contentsOf: url))
    }

    func testLossGradientAndMetricsMatchPyTorch() throws {
        let f = try loadFixture()
        let q = Tensor(shape: [f.batch, f.dim], values: f.queries)
        let keys = Tensor(shape: [f.batch, f.dim], values: f.keys)
        let queue = Tensor(shape: [f.queueSize, f.dim], values: f.queue)
        let gradient = Tensor(shape: [f.batch, f.dim])
        XCTAssertEqual(f.cases.count, 3)
        for c in f.cases {
            let result = MoCoLoss(temperature: c.temperature).compute(queries: q, keys: keys, queue: queue,
                                                                      normalization: f.batch, gradient: gradient)
            let label = "tau=\(c.temperature)"
            // float32 against PyTorch's float64: logits up to 1/tau ~ 14 round to ~1e-6.
            XCTAssertEqual(result.loss, c.loss, accuracy: 2e-6 * max(1, c.loss), label)
            let largest = c.gradient.map(abs).max()!
            XCTAssertGreaterThan(largest, 1e-2, "a gradient worth comparing")
            for (ours, theirs) in zip(gradient.array, c.gradient) {
                XCTAssertEqual(Double(ours), theirs, accuracy: 5e-6 * max(1, largest), label)
            }
            XCTAssertEqual(result.metrics.anchors, f.batch, label)
            XCTAssertEqual(result.metrics.top1Accuracy, c.top1, accuracy: 1e-12, label)
            XCTAssertEqual(result.metrics.top5Accuracy, c.top5, accuracy: 1e-12, label)
            XCTAssertEqual(result.metrics.meanRank, c.meanRank, accuracy: 1e-12, label)
        }
    }

    /// Rows split between two "ranks", each divided by the whole batch, add up to the one-call loss, and each
    /// rank's gradient rows are the one-call rows (a query's gradient needs only its own row), to float32's
    /// rounding: the test must hold under any BLAS kernel (.ci/run also runs it under a second one).
    func testRowsSplitOverRanksAddUpToTheWholeBatch() throws {
        let f = try loadFixture()
        let q = Tensor(shape: [f.batch, f.dim], values: f.queries)
        let keys = Tensor(shape: [f.batch, f.dim], values: f.keys)
        let queue = Tensor(shape: [f.queueSize, f.dim], values: f.queue)
        let loss = MoCoLoss(temperature: 0.2)
        let whole = Tensor(shape: [f.batch, f.dim])
        let all = loss.compute(queries: q, keys: keys, queue: queue, normalization: f.batch, gradient: whole)
        // The halves' products go through BLAS with another row count, and a BLAS kernel may then sum in another
        // order (OpenBLAS's Haswell kernels do), so equality holds to float32's rounding of those sums, not to the
        // bit: each logit and gradient value sums queueSize + 1 terms, whose rounding is below
        // (queueSize + 1) * ulp(1) of the values' scale. A row given the wrong positive or the wrong negatives
        // would move the values by their own size.
        let terms = Double(f.queueSize + 1) * Double(Float.ulpOfOne)
        let scale = whole.array.map { abs(Double($0)) }.max()!
        let half = f.batch / 2
        var sum = 0.0
        for r in 0..<2 {
            let rows = { (t: Tensor) in Tensor(shape: [half, f.dim], values: Array(t.array[(r * half * f.dim)..<((r + 1) * half * f.dim)])) }
            let g = Tensor(shape: [half, f.dim])
            sum += loss.compute(queries: rows(q), keys: rows(keys), queue: queue, normalization: f.batch, gradient: g).loss
            let difference = zip(g.array, rows(whole).array).map { abs(Double($0) - Double($1)) }.max()!
            XCTAssertLessThanOrEqual(difference, terms * scale, "rows \(r * half)..<\((r + 1) * half)")
        }
        XCTAssertEqual(sum, all.loss, accuracy: terms * abs(all.loss))
    }

    func testMomentumUpdateMatchesPyTorch() throws {
        let f = try loadFixture()
        let k = Tensor(shape: [f.paramK.count], values: f.paramK)
        let q = Tensor(shape: [f.paramQ.count], values: f.paramQ)
        Elementwise.movingAverage(k, toward: q, momentum: Float(f.momentum), complement: Float(1 - f.momentum))
        XCTAssertEqual(k.array, f.paramKAfter)  // the same float32 operations: bit for bit
        XCTAssertNotEqual(k.array, f.paramK)
    }

    func testEnqueueOrderAndPointerMatchPyTorch() throws {
        let f = try loadFixture()
        let queue = MoCoQueue(size: f.queueSize, dim: f.dim, seed: 0)
        queue.keys.copy(from: f.queue)
        queue.pointer = f.enqueueStart
        for (batch, pointer) in zip(f.enqueued, f.pointersAfter) {
            queue.enqueue(Tensor(shape: [f.batch, f.dim], values: batch))
            XCTAssertEqual(queue.pointer, pointer)
        }
        XCTAssertEqual(queue.keys.array, f.queueAfter)
    }

    /// The starting queue: unit rows, a function of the seed alone.
    func testInitialQueueIsUnitRowsFromTheSeed() {
        let a = MoCoQueue(size: 8, dim: 5, seed: 7), b = MoCoQueue(size: 8, dim: 5, seed: 7), c = MoCoQueue(size: 8, dim: 5, seed: 8)
        XCTAssertEqual(a.keys.array, b.keys.array)
        XCTAssertNotEqual(a.keys.array, c.keys.array)
        XCTAssertEqual(a.pointer, 0)
        for i in 0..<8 {
            let row = a.keys.array[(i * 5)..<((i + 1) * 5)]
            XCTAssertEqual(row.map { Double($0 * $0) }.reduce(0, +), 1, accuracy: 1e-6)
        }
    }
}
