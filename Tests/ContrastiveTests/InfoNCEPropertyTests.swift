import Contrastive
import Foundation
import Kernels
import XCTest

/// Properties of the loss that need no reference implementation.
final class InfoNCEPropertyTests: XCTestCase {
    /// Central differences of the float32 loss against the analytic gradient.
    func testGradientMatchesFiniteDifferences() {
        var random = NormalGenerator(seed: 11)
        let z = random.tensor([12, 5], scale: 0.5)
        let gradient = Tensor(shape: z.shape)
        for similarity in Similarity.allCases {
            for tau: Float in [0.5, 0.1] {
                let loss = InfoNCELoss(config: InfoNCEConfig(temperature: tau, similarity: similarity))
                loss.compute(embeddings: z, gradient: gradient)
                let analytic = gradient.array
                // Tolerance: the central difference's truncation error h^2/6 * |f'''| grows like (1/tau)^3
                // (every logit is sim/tau); with h = 1e-2 it is ~1e-3 at tau 0.1 (measured 1.2e-3) and ~1e-4 at
                // tau 0.5. float32 rounding of the loss (~1e-6 * |logits|) over 2h adds <= 5e-4. The gradients
                // here reach ~4, so 3e-3 absolute still catches any wrong term, sign or factor.
                let h: Float = 1e-2
                for e in 0..<z.count {
                    let saved = z[e]
                    z[e] = saved + h
                    let up = loss.compute(embeddings: z).loss
                    z[e] = saved - h
                    let down = loss.compute(embeddings: z).loss
                    z[e] = saved
                    let numeric = (up - down) / Double(2 * h)
                    XCTAssertEqual(Double(analytic[e]), numeric, accuracy: 3e-3, "\(similarity) tau=\(tau) element \(e)")
                }
            }
        }
    }

    /// Each image's two views identical and images orthogonal: cos(pos) = 1, every negative 0, so
    /// loss = log(1 + (2B - 2) e^(-1/tau)), about 1e-5 at tau 0.07.
    func testAlignedViewsGiveNearZeroLoss() {
        let batch = 8, dim = 16
        var values = [Float](repeating: 0, count: 2 * batch * dim)
        for image in 0..<batch {
            values[image * dim + image] = 2            // view 1: direction e_image, any length
            values[(batch + image) * dim + image] = 0.5  // view 2: the same direction
        }
        let z = Tensor(shape: [2 * batch, dim], values: values)
        let result = InfoNCELoss().compute(embeddings: z)
        let expected = log(1 + Double(2 * batch - 2) * exp(-1 / 0.07))
        XCTAssertEqual(result.loss, expected, accuracy: 1e-6)
        XCTAssertLessThan(result.loss, 1e-4)
        XCTAssertEqual(result.metrics.top1Accuracy, 1)
        XCTAssertEqual(result.metrics.meanRank, 1)
    }

    /// Random high-dimensional embeddings are nearly orthogonal: every candidate is equally likely,
    /// so the loss is about log(2B - 1) (plus var(cos/tau)/2 = 1/(2 D tau^2) ~ 2e-3 here).
    func testRandomEmbeddingsGiveLogOfCandidateCount() {
        var random = NormalGenerator(seed: 3)
        let batch = 64, dim = 1024
        let z = random.tensor([2 * batch, dim])
        let result = InfoNCELoss(config: InfoNCEConfig(temperature: 0.5)).compute(embeddings: z)
        XCTAssertEqual(result.loss, log(Double(2 * batch - 1)), accuracy: 0.02)
    }

    /// Anchor sets that partition the rows (two interleaved halves; four "ranks" each owning both views of
    /// its images) sum to the single call's loss, gradient and metric counts.
    func testAnchorPartitionsSumToFullLossAndGradient() {
        var random = NormalGenerator(seed: 5)
        let batch = 8, dim = 6, rows = 2 * batch
        let z = random.tensor([rows, dim], scale: 0.4)
        let interleaved = [Array(stride(from: 0, to: rows, by: 2)), Array(stride(from: 1, to: rows, by: 2))]
        let perRank = batch / 4
        let ranks = (0..<4).map { r in Array(r * perRank..<(r + 1) * perRank) + Array(batch + r * perRank..<batch + (r + 1) * perRank) }
        for similarity in Similarity.allCases {
            let loss = InfoNCELoss(config: InfoNCEConfig(temperature: 0.1, similarity: similarity))
            let full = Tensor(shape: z.shape)
            let whole = loss.compute(embeddings: z, gradient: full)
            for partition in [interleaved, ranks] {
                var summedLoss = 0.0
                var summedMetrics = ContrastiveMetrics()
                var summedGradient = [Float](repeating: 0, count: z.count)
                let part = Tensor(shape: z.shape)
                for anchors in partition {
                    let result = loss.compute(embeddings: z, anchors: anchors, normalization: rows, gradient: part)
                    summedLoss += result.loss
                    summedMetrics += result.metrics
                    for (e, v) in part.array.enumerated() { summedGradient[e] += v }
                }
                XCTAssertEqual(summedLoss, whole.loss, accuracy: 1e-6 * whole.loss, "\(similarity)")
                XCTAssertEqual(summedMetrics, whole.metrics, "\(similarity)")
                for (a, b) in zip(summedGradient, full.array) {
                    XCTAssertEqual(a, b, accuracy: 1e-5, "\(similarity) \(partition.count) parts")
                }
            }
        }
    }

    /// The scratch buffers follow changes of row count, dimension and anchor count.
    func testRepeatedCallsWithChangingShapesAgree() {
        var random = NormalGenerator(seed: 9)
        let small = random.tensor([8, 4]), large = random.tensor([20, 12])
        let loss = InfoNCELoss(config: InfoNCEConfig(temperature: 0.2))
        let smallGradient = Tensor(shape: small.shape), largeGradient = Tensor(shape: large.shape)
        let first = loss.compute(embeddings: small, gradient: smallGradient)
        let firstGradient = smallGradient.array
        loss.compute(embeddings: large, gradient: largeGradient)
        loss.compute(embeddings: large, anchors: [3], gradient: largeGradient)
        let again = loss.compute(embeddings: small, gradient: smallGradient)
        XCTAssertEqual(first, again)
        XCTAssertEqual(firstGradient, smallGradient.array)
        // A fresh object gives the same numbers as the reused one.
        XCTAssertEqual(InfoNCELoss(config: loss.config).compute(embeddings: small), first)
    }

    /// The loss's own sums run in a fixed order whatever the thread count, but its similarity matrix is a matrix
    /// product that Kernels' `sgemm` splits into one block per thread (Note [One team of threads]), and some
    /// OpenBLAS kernels (OPENBLAS_CORETYPE=Haswell on an AVX-512 CPU) round a block differently from the whole.
    /// So two threads agree with one to float32 rounding of the 32-long dot products, not bit for bit; the
    /// metrics may differ only where a negative ties the positive within that rounding.
    func testThreadCountChangesResultsOnlyByFloat32Rounding() throws {
        var random = NormalGenerator(seed: 4)
        let z = random.tensor([256, 32])
        defer { Parallel.threadCount = 1 }
        for similarity in Similarity.allCases {
            let runs = [1, 2].map { threads -> (InfoNCEResult, [Float]) in
                Parallel.threadCount = threads
                let gradient = Tensor(shape: z.shape)
                let result = InfoNCELoss(config: InfoNCEConfig(temperature: 0.2, similarity: similarity))
                    .compute(embeddings: z, anchors: Array(0..<200), gradient: gradient)
                return (result, gradient.array)
            }
            let (one, two) = (runs[0].0, runs[1].0)
            XCTAssertEqual(one.loss, two.loss, accuracy: 1e-6 * abs(one.loss), "\(similarity)")
            let largest = try XCTUnwrap(runs[0].1.map(abs).max())
            let worst = zip(runs[0].1, runs[1].1).map { abs($0 - $1) }.max() ?? 0
            XCTAssertLessThanOrEqual(worst, 1e-5 * largest, "\(similarity): gradient")
            XCTAssertEqual(one.metrics.anchors, two.metrics.anchors)
            XCTAssertEqual(one.metrics.top1Hits, two.metrics.top1Hits, accuracy: 1, "\(similarity)")
            XCTAssertEqual(one.metrics.top5Hits, two.metrics.top5Hits, accuracy: 1, "\(similarity)")
            XCTAssertEqual(one.metrics.rankSum, two.metrics.rankSum, accuracy: 2, "\(similarity)")
        }
    }

    func testEmptyAnchorSetContributesNothing() {
        var random = NormalGenerator(seed: 1)
        let z = random.tensor([6, 3])
        let gradient = Tensor(shape: z.shape, repeating: 7)
        let result = InfoNCELoss().compute(embeddings: z, anchors: [], normalization: 6, gradient: gradient)
        XCTAssertEqual(result.loss, 0)
        XCTAssertEqual(result.metrics, ContrastiveMetrics())
        XCTAssertEqual(gradient.array, [Float](repeating: 0, count: z.count))
    }
}
