import Foundation
import XCTest
import Datasets
import Kernels

final class BatchLoaderTests: XCTestCase {
    let images = randomImages(count: 37, size: 16, seed: 21)

    func sampler(rank: Int = 0, world: Int = 1, batch: Int = 5) throws -> DistributedSampler {
        try DistributedSampler(datasetCount: images.count, worldSize: world, rank: rank, batchSize: batch, seed: 4)
    }

    func drain(_ loader: BatchLoader, epoch: Int, from step: Int = 0) -> [Batch] {
        loader.start(epoch: epoch, step: step)
        var out: [Batch] = []
        while let b = loader.next() { out.append(b) }
        return out
    }

    func testSameBatchesForAnyWorkerCount() throws {
        var reference: [Batch]?
        for (workers, prefetch) in [(0, 1), (1, 1), (3, 2), (3, 5)] {
            let loader = try BatchLoader(images: images, sampler: sampler(), augmentation: .simclr(outputSize: 16),
                                         views: 2, seed: 9, workers: workers, prefetch: prefetch)
            let batches = drain(loader, epoch: 1)
            XCTAssertEqual(batches.count, 7)
            XCTAssertEqual(batches.map(\.step), Array(0..<7))
            if let reference {
                for (a, b) in zip(reference, batches) {
                    XCTAssertEqual(a.images.array, b.images.array, "workers \(workers)")
                    XCTAssertEqual(a.indices, b.indices)
                    XCTAssertEqual(a.labels, b.labels)
                }
            } else {
                reference = batches
            }
            loader.shutdown()
        }
    }

    /// A sample's views do not depend on the rank that reads it: rank 1 of 2 builds exactly the rows of
    /// the one-process batch its samples have (they were drawn from a stream keyed by the rank before).
    func testViewsDoNotDependOnTheRankOrTheWorldSize() throws {
        let one = try BatchLoader(images: images, sampler: try sampler(batch: 8), augmentation: .simclr(outputSize: 12),
                                  views: 2, seed: 9, workers: 0).makeBatch(epoch: 1, step: 0)
        let second = try BatchLoader(images: images, sampler: try sampler(rank: 1, world: 2, batch: 4),
                                     augmentation: .simclr(outputSize: 12), views: 2, seed: 9, workers: 0).makeBatch(epoch: 1, step: 0)
        XCTAssertEqual(second.indices, Array(one.indices[4..<8]))
        let per = 3 * 12 * 12, a = one.images.array, b = second.images.array
        for v in 0..<2 {
            for i in 0..<4 {
                let row = v * 8 + 4 + i, mine = v * 4 + i
                XCTAssertEqual(Array(b[mine * per ..< (mine + 1) * per]), Array(a[row * per ..< (row + 1) * per]),
                               "view \(v) of sample \(second.indices[i])")
            }
        }
    }

    /// Rows 0..<n are view 1 (substream 0) of the batch's images, rows n..<2n view 2 (substream 1).
    func testTwoViewLayout() throws {
        let s = try sampler(rank: 1, world: 2, batch: 4)
        let loader = try BatchLoader(images: images, sampler: s, augmentation: .simclr(outputSize: 12),
                                     views: 2, seed: 9, workers: 2)
        loader.start(epoch: 2)
        let batch = try XCTUnwrap(loader.next())
        XCTAssertEqual(batch.images.shape, [8, 3, 12, 12])
        XCTAssertEqual(batch.indices, s.batch(epoch: 2, step: 0))
        XCTAssertEqual(batch.labels, batch.indices.map { images.labels[$0] })
        let augmentation = Augmentation(.simclr(outputSize: 12))
        let values = batch.images.array, per = 3 * 12 * 12
        for (i, index) in batch.indices.enumerated() {
            for v in 0..<2 {
                var rng = RandomStream(seed: 9, rank: 0, epoch: 2, sample: index, substream: v)
                let expected = augmentation(images.floatImage(at: index), rng: &rng).data
                let row = v * 4 + i
                XCTAssertEqual(Array(values[row * per ..< (row + 1) * per]), expected, "image \(i) view \(v)")
            }
            XCTAssertNotEqual(Array(values[i * per ..< (i + 1) * per]), Array(values[(i + 4) * per ..< (i + 5) * per]))
        }
    }

    func testSingleViewPlainPreprocessingAndResume() throws {
        let s = try DistributedSampler(datasetCount: images.count, batchSize: 10, shuffle: false, remainder: .partial)
        let loader = try BatchLoader(images: images, sampler: s, augmentation: .none(outputSize: 16),
                                     views: 1, seed: 0, workers: 2)
        let batches = drain(loader, epoch: 0)
        XCTAssertEqual(batches.map(\.count), [10, 10, 10, 7])
        XCTAssertEqual(batches.last?.images.shape, [7, 3, 16, 16])
        XCTAssertEqual(Array(batches[1].images.array.prefix(768)), images.floatImage(at: 10).data)
        // resuming at step 2 gives the same batches as the full epoch from step 2
        let resumed = drain(loader, epoch: 0, from: 2)
        XCTAssertEqual(resumed.map(\.step), [2, 3])
        XCTAssertEqual(resumed[0].images.array, batches[2].images.array)
        XCTAssertEqual(loader.makeBatch(epoch: 0, step: 3).images.array, batches[3].images.array)
        XCTAssertNil(loader.next())
        // a config that cannot serve these images is refused up front
        XCTAssertThrowsError(try BatchLoader(images: images, sampler: s, augmentation: .none(outputSize: 32),
                                             views: 1, seed: 0))
    }

    func testShutdownWithBatchesInFlight() throws {
        for _ in 0..<5 {
            let loader = try BatchLoader(images: images, sampler: sampler(batch: 2), augmentation: .simclr(outputSize: 16),
                                         views: 2, seed: 1, workers: 3, prefetch: 4)
            loader.start(epoch: 0)
            _ = loader.next()
            loader.start(epoch: 1, step: 3)     // restart mid-epoch: stale batches are discarded
            XCTAssertEqual(loader.next()?.step, 3)
            loader.shutdown()
            XCTAssertNil(loader.next())
        }
        // dropping a running loader shuts it down too
        var loader: BatchLoader? = try BatchLoader(images: images, sampler: sampler(), augmentation: .simclr(outputSize: 16),
                                                   views: 2, seed: 1, workers: 2)
        loader?.start(epoch: 0)
        loader = nil
    }
}
