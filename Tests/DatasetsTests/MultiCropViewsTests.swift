import Foundation
import XCTest
import Datasets
import Kernels

/// Multi-crop's small views (docs/multi-crop.md): their shape and layout, that they are functions of
/// (seed, epoch, sample, view) alone with view indices 2..N+1, and that the global views do not change.
final class MultiCropViewsTests: XCTestCase {
    let images = randomImages(count: 20, size: 16, seed: 5)
    let multiCrop = MultiCropConfig(count: 3, size: 8, scale: 0.05...0.3)

    func loader(rank: Int = 0, world: Int = 1, batch: Int = 6, multiCrop: MultiCropConfig?) throws -> BatchLoader {
        let sampler = try DistributedSampler(datasetCount: images.count, worldSize: world, rank: rank, batchSize: batch, seed: 2)
        return try BatchLoader(images: images, sampler: sampler, augmentation: .simclr(outputSize: 16), views: 2, seed: 11,
                               workers: 0, multiCrop: multiCrop)
    }

    func testSmallViewsShapeAndStreams() throws {
        let batch = try loader(multiCrop: multiCrop).makeBatch(epoch: 2, step: 1)
        let small = try XCTUnwrap(batch.smallImages)
        XCTAssertEqual(small.shape, [3 * 6, 3, 8, 8])
        let augmentation = Augmentation(multiCrop.augmentation(from: .simclr(outputSize: 16)))
        XCTAssertEqual(augmentation.config.cropScale, 0.05...0.3)
        let per = 3 * 8 * 8, values = small.array
        var rows: Set<[Float]> = []
        for k in 0..<3 {
            for (i, index) in batch.indices.enumerated() {
                var rng = BatchLoader.viewStream(seed: 11, epoch: 2, sample: index, view: 2 + k)
                let expected = augmentation(images.floatImage(at: index), rng: &rng).data
                let row = Array(values[(k * 6 + i) * per ..< (k * 6 + i + 1) * per])
                XCTAssertEqual(row, expected, "small view \(k) of sample \(index)")
                rows.insert(row)
            }
        }
        XCTAssertEqual(rows.count, 18, "every small view is its own draw")
    }

    func testGlobalViewsAreUnchangedAndNoSmallViewsWithoutMultiCrop() throws {
        let plain = try loader(multiCrop: nil).makeBatch(epoch: 1, step: 0)
        let multi = try loader(multiCrop: multiCrop).makeBatch(epoch: 1, step: 0)
        XCTAssertNil(plain.smallImages)
        XCTAssertEqual(plain.images.array, multi.images.array)
    }

    func testSmallViewsDoNotDependOnTheRank() throws {
        let one = try loader(batch: 6, multiCrop: multiCrop).makeBatch(epoch: 1, step: 0)
        let second = try loader(rank: 1, world: 2, batch: 3, multiCrop: multiCrop).makeBatch(epoch: 1, step: 0)
        XCTAssertEqual(second.indices, Array(one.indices[3..<6]))
        let per = 3 * 8 * 8, a = one.smallImages!.array, b = second.smallImages!.array
        for k in 0..<3 {
            for i in 0..<3 {
                let row = k * 6 + 3 + i, mine = k * 3 + i
                XCTAssertEqual(Array(b[mine * per ..< (mine + 1) * per]), Array(a[row * per ..< (row + 1) * per]))
            }
        }
    }

    func testInvalidSmallCropsAreRefused() {
        XCTAssertThrowsError(try loader(multiCrop: MultiCropConfig(count: 0)))
        XCTAssertThrowsError(try loader(multiCrop: MultiCropConfig(count: 2, size: 8, scale: 0...0.1)))
    }
}
