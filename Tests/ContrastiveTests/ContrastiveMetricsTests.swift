import Contrastive
import Foundation
import Kernels
import XCTest

final class ContrastiveMetricsTests: XCTestCase {
    /// Eight unit vectors in the plane (B = 4), so cosine similarity falls with the angle between rows.
    /// View 1 at 0, 90, 180, 270 degrees; view 2 at 5, 170, 200, 60. Counting, for each anchor, the other
    /// rows at a smaller angle than its positive:
    ///   row 0 (0):   positive 5 at 5 deg, none closer                          -> rank 1
    ///   row 1 (90):  positive 170 at 80; 60 (30) closer                        -> rank 2
    ///   row 2 (180): positive 200 at 20; 170 (10) closer                       -> rank 2
    ///   row 3 (270): positive 60 at 150; 0, 180, 5, 170, 200 closer            -> rank 6
    ///   row 4 (5):   positive 0 at 5                                           -> rank 1
    ///   row 5 (170): positive 90 at 80; 180 (10), 200 (30) closer              -> rank 3
    ///   row 6 (200): positive 180 at 20                                        -> rank 1
    ///   row 7 (60):  positive 270 at 150; all six others closer                -> rank 7
    static let angles: [Double] = [0, 90, 180, 270, 5, 170, 200, 60]
    static let ranks = [1, 2, 2, 6, 1, 3, 1, 7]

    func planeEmbeddings() -> Tensor {
        let values = Self.angles.flatMap { degrees -> [Float] in
            let r = degrees * Double.pi / 180
            return [Float(cos(r)), Float(sin(r))]
        }
        return Tensor(shape: [Self.angles.count, 2], values: values)
    }

    func testTopKAndMeanRankOnHandBuiltCase() {
        let result = InfoNCELoss().compute(embeddings: planeEmbeddings())
        XCTAssertEqual(result.metrics, ContrastiveMetrics(anchors: 8, top1Hits: 3, top5Hits: 6, rankSum: 23))
        XCTAssertEqual(result.metrics.top1Accuracy, 3.0 / 8)
        XCTAssertEqual(result.metrics.top5Accuracy, 6.0 / 8)
        XCTAssertEqual(result.metrics.meanRank, 23.0 / 8)
    }

    func testMetricsOfSingleAnchorsGiveEachRank() {
        let z = planeEmbeddings()
        let loss = InfoNCELoss()
        for (row, rank) in Self.ranks.enumerated() {
            let metrics = loss.compute(embeddings: z, anchors: [row]).metrics
            XCTAssertEqual(metrics.rankSum, rank, "row \(row)")
            XCTAssertEqual(metrics.top1Hits, rank == 1 ? 1 : 0, "row \(row)")
            XCTAssertEqual(metrics.top5Hits, rank <= 5 ? 1 : 0, "row \(row)")
        }
    }

    /// The L2 similarity ranks unit vectors exactly as cosine does (|a - b|^2 = 2 - 2 cos).
    func testSquaredL2RanksUnitVectorsLikeCosine() {
        let result = InfoNCELoss(config: InfoNCEConfig(similarity: .negativeSquaredL2)).compute(embeddings: planeEmbeddings())
        XCTAssertEqual(result.metrics.rankSum, 23)
        XCTAssertEqual(result.metrics.top1Hits, 3)
    }

    /// A collapsed encoder (every row the same) ties every candidate: ties count against the positive,
    /// so each positive ranks last among the 2B - 1 candidates, and the loss is exactly log(2B - 1).
    func testTiesCountAgainstThePositive() {
        let rows = 10
        let z = Tensor(shape: [rows, 3], values: (0..<rows).flatMap { _ in [Float(0.3), -1, 2] })
        let result = InfoNCELoss().compute(embeddings: z)
        XCTAssertEqual(result.metrics, ContrastiveMetrics(anchors: rows, top1Hits: 0, top5Hits: 0,
                                                          rankSum: rows * (rows - 1)))
        XCTAssertEqual(result.loss, log(Double(rows - 1)), accuracy: 1e-6)
    }

    func testMetricsAddAcrossDisjointAnchorSets() {
        let a = ContrastiveMetrics(anchors: 4, top1Hits: 1, top5Hits: 3, rankSum: 9)
        let b = ContrastiveMetrics(anchors: 2, top1Hits: 2, top5Hits: 2, rankSum: 2)
        XCTAssertEqual(a + b, ContrastiveMetrics(anchors: 6, top1Hits: 3, top5Hits: 5, rankSum: 11))
        XCTAssertEqual(ContrastiveMetrics().top1Accuracy, 0)
        XCTAssertEqual(ContrastiveMetrics().meanRank, 0)
    }
}
