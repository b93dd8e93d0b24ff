import XCTest
import Datasets

final class DistributedSamplerTests: XCTestCase {
    func samplers(count: Int, world: Int, batch: Int, remainder: DistributedSampler.Remainder,
                  shuffle: Bool = true, seed: UInt64 = 7) throws -> [DistributedSampler] {
        try (0..<world).map {
            try DistributedSampler(datasetCount: count, worldSize: world, rank: $0, batchSize: batch,
                                   shuffle: shuffle, seed: seed, remainder: remainder)
        }
    }

    func testShardsAreDisjointAndCoverTheEpoch() throws {
        // drop: 103 samples, 4 ranks x 5 -> 5 steps of 20; the 3 left over are dropped
        let ranks = try samplers(count: 103, world: 4, batch: 5, remainder: .drop)
        for epoch in 0..<3 {
            let perRank = ranks.map { $0.plan(epoch: epoch).rankIndices() }
            XCTAssertEqual(perRank.map(\.count), [25, 25, 25, 25])
            let all = perRank.flatMap { $0 }
            XCTAssertEqual(Set(all).count, 100)                      // disjoint
            XCTAssertEqual(Set(all), Set(ranks[0].order(epoch: epoch).prefix(100)))   // the first 100 of the order
        }
        // pad: 6 steps of 20; every sample at least once, the 17 extra repeat the start of the order
        let padded = try samplers(count: 103, world: 4, batch: 5, remainder: .pad)
        XCTAssertEqual(padded[0].stepsPerEpoch, 6)
        let all = padded.flatMap { $0.plan(epoch: 1).rankIndices() }
        XCTAssertEqual(all.count, 120)
        XCTAssertEqual(Set(all), Set(0..<103))
        let order = padded[0].order(epoch: 1)
        XCTAssertEqual(padded[3].plan(epoch: 1).batch(step: 5), Array(order.prefix(17).suffix(5)))
    }

    func testEveryRankHasTheSameNumberOfFullSteps() throws {
        for (count, world, batch) in [(100, 3, 4), (7, 2, 3), (1000, 8, 16), (12, 4, 3)] {
            for remainder in [DistributedSampler.Remainder.drop, .pad] {
                let ranks = try samplers(count: count, world: world, batch: batch, remainder: remainder)
                let steps = ranks[0].stepsPerEpoch
                for s in ranks {
                    XCTAssertEqual(s.stepsPerEpoch, steps)
                    let plan = s.plan(epoch: 0)
                    for k in 0..<steps { XCTAssertEqual(plan.batch(step: k).count, batch) }
                }
            }
        }
        XCTAssertThrowsError(try DistributedSampler(datasetCount: 5, worldSize: 2, rank: 0, batchSize: 3, remainder: .drop))
        XCTAssertThrowsError(try DistributedSampler(datasetCount: 5, worldSize: 2, rank: 2, batchSize: 1))
    }

    /// With global batch B = W*b, concatenating the W ranks' batches of step k in rank order gives the
    /// 1-rank batch k of size B, exactly.
    func testUnionOfRankBatchesIsTheOneRankBatch() throws {
        for remainder in [DistributedSampler.Remainder.drop, .pad, .partial] {
            let single = try DistributedSampler(datasetCount: 50, worldSize: 1, rank: 0, batchSize: 12,
                                                seed: 3, remainder: remainder)
            let ranks = try samplers(count: 50, world: 4, batch: 3, remainder: remainder, seed: 3)
            XCTAssertEqual(single.stepsPerEpoch, ranks[0].stepsPerEpoch)
            for epoch in 0..<2 {
                let one = single.plan(epoch: epoch)
                let plans = ranks.map { $0.plan(epoch: epoch) }
                for k in 0..<one.steps {
                    XCTAssertEqual(plans.flatMap { $0.batch(step: k) }, one.batch(step: k), "\(remainder) step \(k)")
                    XCTAssertEqual(plans[2].globalBatch(step: k), one.batch(step: k))
                }
            }
        }
    }

    func testPartialLastBatch() throws {
        let ranks = try samplers(count: 50, world: 4, batch: 3, remainder: .partial, shuffle: false)
        XCTAssertEqual(ranks[0].stepsPerEpoch, 5)
        // last global batch: positions 48, 49 split over 4 ranks as [], [48], [], [49]
        XCTAssertEqual(ranks.map { $0.plan(epoch: 0).batch(step: 4) }, [[], [48], [], [49]])
        XCTAssertEqual(ranks.flatMap { $0.plan(epoch: 0).rankIndices() }.sorted(), Array(0..<50))
    }

    func testDeterministicPerSeedAndEpoch() throws {
        let s = try DistributedSampler(datasetCount: 200, worldSize: 2, rank: 1, batchSize: 10, seed: 11)
        XCTAssertEqual(s.order(epoch: 3), s.order(epoch: 3))
        XCTAssertEqual(s.batch(epoch: 3, step: 4), try s.forRank(1).batch(epoch: 3, step: 4))
        XCTAssertEqual(s.order(epoch: 3), try s.forRank(0).order(epoch: 3))    // one order for all ranks
        XCTAssertNotEqual(s.order(epoch: 3), s.order(epoch: 4))
        let other = try DistributedSampler(datasetCount: 200, worldSize: 2, rank: 1, batchSize: 10, seed: 12)
        XCTAssertNotEqual(s.order(epoch: 3), other.order(epoch: 3))
        XCTAssertEqual(s.order(epoch: 3).sorted(), Array(0..<200))
        let unshuffled = try DistributedSampler(datasetCount: 20, worldSize: 2, rank: 1, batchSize: 5, shuffle: false)
        XCTAssertEqual(unshuffled.batch(epoch: 9, step: 1), [15, 16, 17, 18, 19])
        // resuming
        XCTAssertEqual(s.stepsPerEpoch, 10)
        XCTAssertTrue(s.position(afterSteps: 23) == (2, 3))
        XCTAssertEqual(s.plan(epoch: 2).rankIndices(from: 3), (3..<10).flatMap { s.batch(epoch: 2, step: $0) })
    }
}
