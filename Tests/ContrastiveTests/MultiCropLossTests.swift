import Contrastive
import Foundation
import Kernels
import XCTest

/// The multi-crop loss (InfoNCE rows of the global views plus SmallCropLoss, both divided by all 2B + 2NB
/// terms) and its gradient w.r.t. every global and small embedding, against PyTorch autograd (float64);
/// Fixtures/make_multicrop_fixture.py wrote Fixtures/multicrop.json.
final class MultiCropLossTests: XCTestCase {
    struct Fixture: Decodable {
        struct Case: Decodable {
            var similarity: String
            var temperature: Float
            var loss: Double
            var globalGradient: [Double]
            var smallGradient: [Double]
        }
        var batch: Int, crops: Int, dim: Int
        var global: [Float], small: [Float]
        var cases: [Case]
    }

    func testLossAndGradientsMatchPyTorch() throws {
        let url = try XCTUnwrap(Bundle.module.url(forResource: "multicrop", withExtension: "json", subdirectory: "Fixtures"))
        let f = try JSONDecoder().decode(Fixture.self, from: Data(contentsOf: url))
        let (b, n, d) = (f.batch, f.crops, f.dim)
        let z = Tensor(shape: [2 * b, d], values: f.global), s = Tensor(shape: [n * b, d], values: f.small)
        let images = (0..<(n * b)).map { $0 % b }
        let count = 2 * b + 2 * n * b
        XCTAssertEqual(f.cases.count, 4)
        for c in f.cases {
            let config = InfoNCEConfig(temperature: c.temperature, similarity: try XCTUnwrap(Similarity(rawValue: c.similarity)))
            let dz = Tensor(shape: [2 * b, d]), ds = Tensor(shape: [n * b, d])
            let global = InfoNCELoss(config: config).compute(embeddings: z, normalization: count, gradient: dz)
            let small = SmallCropLoss(config: config).compute(global: z, small: s, images: images, normalization: count,
                                                              globalGradient: dz, smallGradient: ds)
            let label = "\(c.similarity) tau=\(c.temperature)"
            XCTAssertEqual(global.loss + small, c.loss, accuracy: 1e-6 * max(1, c.loss), label)
            XCTAssertGreaterThan(small, 0.3 * c.loss, "the small crops' terms carry their share, \(label)")
            let largest = (c.globalGradient + c.smallGradient).map(abs).max() ?? 1
            for (ours, theirs) in zip(dz.array, c.globalGradient) {
                XCTAssertEqual(Double(ours), theirs, accuracy: 5e-6 * max(1, largest), "global rows, \(label)")
            }
            for (ours, theirs) in zip(ds.array, c.smallGradient) {
                XCTAssertEqual(Double(ours), theirs, accuracy: 5e-6 * max(1, largest), "small rows, \(label)")
            }
        }
    }

    /// Without small crops the loss and gradient are InfoNCE's, bit for bit.
    func testNoSmallCropsIsInfoNCE() {
        var normal = NormalGenerator(seed: 5)
        let z = normal.tensor([8, 6], scale: 0.4)
        let reference = Tensor(shape: [8, 6]), ours = Tensor(shape: [8, 6])
        let config = InfoNCEConfig(temperature: 0.2)
        let expected = InfoNCELoss(config: config).compute(embeddings: z, gradient: reference)
        let global = InfoNCELoss(config: config).compute(embeddings: z, normalization: 8, gradient: ours)
        let small = SmallCropLoss(config: config).compute(global: z, small: Tensor(shape: [0, 6]), images: [], normalization: 8,
                                                          globalGradient: ours, smallGradient: Tensor(shape: [0]))
        XCTAssertEqual(global.loss + small, expected.loss)
        XCTAssertEqual(ours.array, reference.array)
    }

    /// Distributed rows: the small terms of a partition of the small crops add up to those of all of them.
    func testPartitionedSmallRowsAddUp() {
        var normal = NormalGenerator(seed: 9)
        let (b, d) = (4, 5)
        let z = normal.tensor([2 * b, d], scale: 0.5), s = normal.tensor([2 * b, d], scale: 0.5)
        let loss = SmallCropLoss(config: InfoNCEConfig(temperature: 0.3))
        let images = (0..<(2 * b)).map { $0 % b }
        let whole = loss.compute(global: z, small: s, images: images, normalization: 40)
        let first = loss.compute(global: z, small: s.view(shape: [b, d]), images: Array(images[..<b]), normalization: 40)
        let second = loss.compute(global: z, small: s.view(offset: b * d, shape: [b, d]), images: Array(images[b...]), normalization: 40)
        XCTAssertEqual(first + second, whole, accuracy: 1e-12 * max(1, whole))
        XCTAssertGreaterThan(whole, 0)
    }
}
