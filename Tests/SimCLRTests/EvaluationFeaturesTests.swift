import Cluster
import Datasets
import Evaluation
import Foundation
import Kernels
import NeuralNet
import XCTest

/// Features of linear-eval and knn: computed once, cached in the run directory by rank 0, reused while encoder,
/// data and subset are the same; only rank 0 gets them.
final class EvaluationFeaturesTests: XCTestCase {
    /// Rank 1 of two ranks, told by "rank 0" through the broadcast that the cache holds every split.
    final class FollowerOnCacheHit: ProcessGroup, @unchecked Sendable {
        let rank = 1, size = 2, worldRank = 1
        func broadcast(_ values: UnsafeMutableRawPointer, count: Int, kind: MPIElementKind, root: Int) throws {
            XCTAssertEqual(count, 1, "only the hit/miss decision is broadcast")
            values.storeBytes(of: 1, as: Int.self)
        }
        func allReduce(_ values: UnsafeMutableRawPointer, count: Int, kind: MPIElementKind, op: ReductionOp) throws {
            XCTFail("no reduction on a cache hit")
        }
        func allGather(_ send: UnsafeRawPointer?, count: Int, kind: MPIElementKind, into receive: UnsafeMutableRawPointer?) throws {
            XCTFail("no extraction on a cache hit")
        }
        func allGatherV(_ send: UnsafeRawPointer?, counts: [Int], kind: MPIElementKind, into receive: UnsafeMutableRawPointer?) throws {
            XCTFail("no extraction on a cache hit")
        }
        func duplicateGroup() throws -> any ProcessGroup { self }
        func free() throws {}
        func abort(message: String, code: Int32) -> Never { fatalError(message) }
    }

    private func images(_ count: Int, seed: UInt64) -> LabeledImages {
        var stream = RandomStream(seed: seed)
        let pixels = (0..<(count * 8 * 8 * 3)).map { _ in UInt8(stream.int(below: 256)) }
        return LabeledImages(height: 8, width: 8, channels: 3, pixels: pixels, labels: (0..<count).map { $0 % 4 },
                             classNames: (0..<4).map(String.init))
    }

    private let encoder = EncoderSource(weights: nil, stem: .cifar, width: 0.0625, seed: 3, precision: .fp32, batchSize: 4)

    private func evaluation(_ dir: URL, fraction: Double = 1, group: any ProcessGroup = SingleProcess(),
                            log: @escaping (String) -> Void = { _ in }) -> EvaluationFeatures {
        EvaluationFeatures(encoder: encoder, dataDescription: "test images", labelFraction: fraction, runDirectory: dir,
                           group: group, log: log)
    }

    private func temporaryDirectory() throws -> URL {
        let dir = FileManager.default.temporaryDirectory.appendingPathComponent("features-\(UUID().uuidString)")
        try FileManager.default.createDirectory(at: dir, withIntermediateDirectories: true)
        addTeardownBlock { try? FileManager.default.removeItem(at: dir) }
        return dir
    }

    func testComputesOnceThenReusesTheCache() throws {
        let dir = try temporaryDirectory()
        let train = images(12, seed: 1), test = images(6, seed: 2)
        let load = { (split: DatasetSplit) in split == .train ? train : test }
        var lines: [String] = []
        let first = try XCTUnwrap(try evaluation(dir, log: { lines.append($0) }).compute(load: load))
        XCTAssertEqual(lines.filter { $0.hasPrefix("computed") }.count, 2)
        let model = try encoder.makeModel()
        let direct = FeatureExtractor(model: model, batchSize: 4).features(of: train)
        XCTAssertEqual(first.train.features.array, direct.array, "the features of a fresh encoder")
        XCTAssertEqual(first.train.labels, train.labels)
        XCTAssertEqual(first.test.labels, test.labels)
        XCTAssertEqual(first.classCount, 4)
        XCTAssertEqual(first.trainTotal, 12)

        lines = []
        let second = try XCTUnwrap(try evaluation(dir, log: { lines.append($0) }).compute(load: load))
        XCTAssertEqual(lines.filter { $0.hasPrefix("using cached") }.count, 2, "\(lines)")
        XCTAssertEqual(second.train.features.array, first.train.features.array)
        XCTAssertEqual(second.test.features.array, first.test.features.array)

        lines = []
        let half = try XCTUnwrap(try evaluation(dir, fraction: 0.5, log: { lines.append($0) }).compute(load: load))
        let subset = LabelFraction.balancedSubset(labels: train.labels, fraction: 0.5, seed: encoder.seed)
        XCTAssertEqual(half.train.labels, subset.map { train.labels[$0] }, "the class-balanced half")
        XCTAssertLessThan(half.train.labels.count, 12)
        XCTAssert(lines.contains { $0.hasPrefix("computed train") }, "another subset: another key")
        XCTAssert(lines.contains { $0.hasPrefix("using cached test") })
    }

    /// On a cache hit the other ranks get no features at all (not an empty stand-in) and run no extraction.
    func testOtherRanksGetNothingOnACacheHit() throws {
        let dir = try temporaryDirectory()
        let result = try evaluation(dir, group: FollowerOnCacheHit()).compute(load: { _ in self.images(4, seed: 5) })
        XCTAssertNil(result)
    }

    func testRefusesUnlabeledImages() throws {
        let dir = try temporaryDirectory()
        var data = images(4, seed: 6)
        data = LabeledImages(height: 8, width: 8, channels: 3, pixels: data.pixels, labels: [-1, -1, -1, -1],
                             classNames: [])
        XCTAssertThrowsError(try evaluation(dir).compute(load: { _ in data })) {
            XCTAssert("\($0)".contains("unlabeled"), "\($0)")
        }
    }
}
