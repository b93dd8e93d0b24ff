import Datasets
import Dispatch
import Foundation
import Kernels

/// Where the bench's views come from: fixed random values (each rank its own), or augmented batches from a
/// dataset's loader, whose cost per view is measured on one thread before timing.
final class BenchViews {
    private let fixed: Tensor?, fixedSmall: Tensor?
    private let loader: BatchLoader?
    private var epoch = 0
    let description: String?
    /// Measured on one thread before timing (nil without a dataset).
    let augmentationSecondsPerView: Double?

    init(settings: BenchSettings, imagesPerRank: Int, rank: Int, world: Int) throws {
        let (imageSize, multiCrop) = (settings.imageSize, settings.multiCrop)
        guard let data = settings.data else {
            var rng = SplitMix64(.benchViews, seed: 7, key: rank)
            func random(_ shape: [Int]) -> Tensor {
                let t = Tensor(shape: shape)
                for i in 0..<t.count { t[i] = Float(rng.nextUnit()) }
                return t
            }
            fixed = random([2 * imagesPerRank, 3, imageSize, imageSize])  // two views of each image
            fixedSmall = multiCrop.map { random([$0.count * imagesPerRank, 3, $0.size, $0.size]) }
            loader = nil; description = nil; augmentationSecondsPerView = nil
            return
        }
        let images = data == "synthetic"
            ? SyntheticShapes.generate(trainCount: 2048, testCount: 1, imageSize: imageSize, seed: 1).train
            : try loadDataset(at: data, split: .train, limit: 4096)
        let augmentation = AugmentationConfig.simclr(outputSize: imageSize)
        let sampler = try DistributedSampler(datasetCount: images.count, worldSize: world, rank: rank,
                                             batchSize: imagesPerRank * world, shuffle: true, seed: 1)
        // The cost of one view: a loader without threads builds a few batches in this thread.
        let probe = try BatchLoader(images: images, sampler: sampler, augmentation: augmentation, views: 2, seed: 1, workers: 0)
        probe.start(epoch: 0)
        let start = DispatchTime.now().uptimeNanoseconds
        var built = 0
        for _ in 0..<3 { if let b = probe.next() { built += b.images.shape[0] } }
        augmentationSecondsPerView = Double(DispatchTime.now().uptimeNanoseconds - start) * 1e-9 / Double(max(built, 1))
        probe.shutdown()
        loader = try BatchLoader(images: images, sampler: sampler, augmentation: augmentation, views: 2, seed: 1,
                                 workers: settings.workers, multiCrop: multiCrop)
        loader!.start(epoch: 0)
        fixed = nil; fixedSmall = nil
        description = "data: \(images.count) images of \(images.height)x\(images.width) from \(data), SimCLR augmentation, "
            + "\(settings.workers) loader workers"
    }

    /// The global views and (multi-crop) the small views of the next step.
    func next() throws -> (Tensor, Tensor?) {
        if let fixed { return (fixed, fixedSmall) }
        if let batch = loader!.next() { return (batch.images, batch.smallImages) }
        epoch += 1
        loader!.start(epoch: epoch)
        guard let batch = loader!.next() else { throw DatasetError.invalidConfiguration("the dataset is smaller than one batch") }
        return (batch.images, batch.smallImages)
    }
}
