import Contrastive
import Foundation
import Kernels
import XCTest

/// The loss, gradient and metrics against PyTorch autograd (float64) on the reference formula (docs/reference-semantics.md, note 'Loss');
/// Fixtures/make_fixtures.py wrote Fixtures/infonce.json.
final class InfoNCEFixtureTests: XCTestCase {
    struct Fixture: Decodable {
        struct Case: Decodable {
            var similarity: String
            var temperature: Float
            var loss: Double
            var gradient: [Double]
            var top1: Double
            var top5: Double
            var meanRank: Double
        }
        var batch: Int
        var dim: Int
        var embeddings: [Float]
        var cases: [Case]
    }

    func loadFixture() throws -> Fixture {
        let url = try XCTUnwrap(Bundle.module.url(forResource: "infonce", withExtension: "json",
                                                  subdirectory: "Fixtures"))
        return try JSONDecoder().decode(Fixture.self, from: Data(contentsOf: url))
    }

    func testLossGradientAndMetricsMatchPyTorch() throws {
        let fixture = try loadFixture()
        let rows = 2 * fixture.batch
        let z = Tensor(shape: [rows, fixture.dim], values: fixture.embeddings)
        let gradient = Tensor(shape: [rows, fixture.dim])
        XCTAssertEqual(fixture.cases.count, 6)
        for c in fixture.cases {
            let similarity = try XCTUnwrap(Similarity(rawValue: c.similarity))
            let loss = InfoNCELoss(config: InfoNCEConfig(temperature: c.temperature, similarity: similarity))
            let result = loss.compute(embeddings: z, gradient: gradient)
            let label = "\(c.similarity) tau=\(c.temperature)"
            // The reference is float64; ours rounds logits of size up to |sim|/tau ~ 200 (tau 0.01) to float32
            // (relative 6e-8). Measured: loss off by <= 2e-6, gradient by <= 2.4e-5 of a largest entry ~58.
            XCTAssertEqual(result.loss, c.loss, accuracy: 1e-6 * max(1, c.loss), label)
            let largest = c.gradient.map(abs).max() ?? 1
            for (ours, theirs) in zip(gradient.array, c.gradient) {
                XCTAssertEqual(Double(ours), theirs, accuracy: 5e-6 * max(1, largest), label)
            }
            XCTAssertEqual(result.metrics.anchors, rows, label)
            XCTAssertEqual(result.metrics.top1Accuracy, c.top1, accuracy: 1e-12, label)
            XCTAssertEqual(result.metrics.top5Accuracy, c.top5, accuracy: 1e-12, label)
            XCTAssertEqual(result.metrics.meanRank, c.meanRank, accuracy: 1e-12, label)
        }
    }
}
