import Foundation
import Kernels

/// Builds batches on background threads ahead of the training step.
///
/// Each sample's views depend only on (seed, epoch, dataset index, view): view v of a sample is drawn from
/// `RandomStream(.augmentation, seed:key: epoch, sample, v)`, so batches are identical whatever the number of
/// workers or their timing, and whatever the number of ranks: the rank that happens to read a sample does
/// not change its views, so W ranks see what one process sees and a run may resume on another W. A worker
/// builds a whole batch; up to `prefetch` batches are built
/// or waiting beyond the one the consumer holds. `next()` returns them in step order.
///
/// Usage: `start(epoch:step:)`, then `next()` until it returns nil (end of the epoch), then the next epoch.
/// `shutdown()` (also run on deinit) stops and joins the workers.
public final class BatchLoader {
    public let images: LabeledImages
    public let sampler: DistributedSampler
    public let augmentation: Augmentation
    public let views: Int
    /// Multi-crop's small views, built with the two global views (nil: none).
    public let smallViews: SmallViews?
    public let seed: UInt64
    public let workers: Int
    public let prefetch: Int

    private let state: LoaderState

    /// - Parameters:
    ///   - views: 2 for SimCLR (two augmented views per image), 1 for supervised training or evaluation.
    ///   - workers: background threads; 0 builds each batch inside `next()` (no threads).
    ///   - prefetch: batches built ahead (at least 1 when workers > 0).
    ///   - multiCrop: small views besides the two global ones (docs/multi-crop.md).
    public init(images: LabeledImages, sampler: DistributedSampler, augmentation: AugmentationConfig,
                views: Int, seed: UInt64, workers: Int = 1, prefetch: Int = 2, multiCrop: MultiCropConfig? = nil) throws {
        guard views == 1 || views == 2 else { throw DatasetError.invalidConfiguration("\(views) views (1 or 2)") }
        guard workers >= 0 else { throw DatasetError.invalidConfiguration("\(workers) loader workers") }
        guard prefetch >= 1 else { throw DatasetError.invalidConfiguration("prefetch depth \(prefetch)") }
        guard sampler.datasetCount == images.count else {
            throw DatasetError.invalidConfiguration(
                "sampler over \(sampler.datasetCount) samples for a dataset of \(images.count)")
        }
        guard images.channels == 3 else { throw DatasetError.invalidConfiguration("\(images.channels)-channel images") }
        try augmentation.validate(imageHeight: images.height, imageWidth: images.width)
        if let multiCrop {
            guard views == 2 else { throw DatasetError.invalidConfiguration("small crops need the two global views") }
            try multiCrop.validate(global: augmentation, imageHeight: images.height, imageWidth: images.width)
        }
        self.smallViews = multiCrop.map { SmallViews(count: $0.count, augmentation: Augmentation($0.augmentation(from: augmentation))) }
        self.images = images
        self.sampler = sampler
        self.augmentation = Augmentation(augmentation)
        self.views = views
        self.seed = seed
        self.workers = workers
        self.prefetch = prefetch
        self.state = LoaderState(prefetch: prefetch)
        let build: (EpochPlan, Int) -> Batch = { [images, augmentation = self.augmentation, views, smallViews, seed] plan, step in
            BatchLoader.build(images: images, augmentation: augmentation, views: views, smallViews: smallViews, seed: seed,
                              plan: plan, step: step)
        }
        state.build = build
        for w in 0..<workers {
            let thread = Thread { [state] in state.workerLoop() }
            thread.name = "BatchLoader-\(w)"
            thread.start()
        }
    }

    deinit { shutdown() }

    /// Side length of the views.
    public var outputSize: Int { augmentation.config.outputSize }

    /// Starts (or restarts, discarding what was prefetched) an epoch at `step`.
    public func start(epoch: Int, step: Int = 0) {
        state.start(plan: sampler.plan(epoch: epoch), step: step)
    }

    /// The next batch of the epoch in step order, or nil when the epoch is done (or not started).
    public func next() -> Batch? {
        workers == 0 ? state.nextInline() : state.next()
    }

    /// Total seconds `next()` has waited for batches since the loader was made (data_wait).
    public var totalWaitSeconds: Double { state.totalWait }

    /// Stops the workers and waits for them to finish their current batch. Idempotent.
    public func shutdown() { state.shutdown(workers: workers) }

    /// Builds one batch synchronously (what the workers run); for tests and tools.
    public func makeBatch(epoch: Int, step: Int) -> Batch {
        BatchLoader.build(images: images, augmentation: augmentation, views: views, smallViews: smallViews, seed: seed,
                          plan: sampler.plan(epoch: epoch), step: step)
    }

    /// The random stream view `view` of dataset image `sample` is augmented from in `epoch`.
    public static func viewStream(seed: UInt64, epoch: Int, sample: Int, view: Int) -> RandomStream {
        RandomStream(.augmentation, seed: seed, key: epoch, sample, view)
    }

    static func build(images: LabeledImages, augmentation: Augmentation, views: Int, smallViews: SmallViews?, seed: UInt64,
                      plan: EpochPlan, step: Int) -> Batch {
        let indices = plan.batch(step: step)
        var batch = Batch(epoch: plan.epoch, step: step,
                          images: augmentViews(images, indices: indices, augmentation: augmentation, views: 0..<views,
                                               seed: seed, epoch: plan.epoch),
                          labels: indices.map { images.labels[$0] }, indices: indices, views: views, waitSeconds: 0)
        if let smallViews {
            let first = MultiCropConfig.viewIndex(ofSmallView: 0)
            batch.smallImages = augmentViews(images, indices: indices, augmentation: smallViews.augmentation,
                                             views: first..<(first + smallViews.count), seed: seed, epoch: plan.epoch)
        }
        return batch
    }

    /// `[views.count * n, 3, s, s]`: row `k * n + i` is view `views.lowerBound + k` of image `indices[i]`.
    private static func augmentViews(_ images: LabeledImages, indices: [Int], augmentation: Augmentation, views: Range<Int>,
                                     seed: UInt64, epoch: Int) -> Tensor {
        let n = indices.count, s = augmentation.config.outputSize
        let perImage = 3 * s * s
        let tensor = Tensor(shape: [views.count * n, 3, s, s])
        tensor.withUnsafeMutableBufferPointer { out in
            for (i, index) in indices.enumerated() {
                for (k, v) in views.enumerated() {
                    var rng = viewStream(seed: seed, epoch: epoch, sample: index, view: v)
                    let row = k * n + i
                    augmentation.augment(images, index: index, rng: &rng,
                                         into: UnsafeMutableBufferPointer(rebasing: out[row * perImage ..< (row + 1) * perImage]))
                }
            }
        }
        return tensor
    }
}

/// The small views a loader adds to every batch: how many, and their pipeline.
public struct SmallViews: Sendable {
    public let count: Int
    public let augmentation: Augmentation
}

/// The shared state of a loader and its workers, guarded by one condition variable. Workers hold this,
/// not the loader, so dropping the loader runs its deinit (which shuts them down).
final class LoaderState: @unchecked Sendable {
    private let condition = NSCondition()
    private let prefetch: Int
    var build: ((EpochPlan, Int) -> Batch)!

    private var plan: EpochPlan?
    /// Bumped by every `start`, so batches of an abandoned epoch are thrown away.
    private var generation = 0
    private var nextToBuild = 0
    private var nextToConsume = 0
    private var ready: [Int: Batch] = [:]
    private var stopping = false
    private var finishedWorkers = 0
    private var waited = 0.0

    init(prefetch: Int) {
        self.prefetch = prefetch
    }

    var totalWait: Double {
        condition.lock()
        defer { condition.unlock() }
        return waited
    }

    func start(plan: EpochPlan, step: Int) {
        condition.lock()
        self.plan = plan
        generation += 1
        nextToBuild = step
        nextToConsume = step
        ready.removeAll()
        condition.broadcast()
        condition.unlock()
    }

    func workerLoop() {
        condition.lock()
        while true {
            while !stopping && !hasWork { condition.wait() }
            if stopping { break }
            let step = nextToBuild, gen = generation, plan = self.plan!
            nextToBuild += 1
            condition.unlock()
            let batch = build(plan, step)
            condition.lock()
            if gen == generation {
                ready[step] = batch
                condition.broadcast()
            }
        }
        finishedWorkers += 1
        condition.broadcast()
        condition.unlock()
    }

    /// A batch is wanted: the epoch has steps left and fewer than `prefetch` batches are in flight or ready.
    private var hasWork: Bool {
        guard let plan else { return false }
        return nextToBuild < plan.steps && nextToBuild - nextToConsume < prefetch
    }

    func next() -> Batch? {
        condition.lock()
        defer { condition.unlock() }
        guard let plan, nextToConsume < plan.steps, !stopping else { return nil }
        let begin = DispatchTime.now().uptimeNanoseconds
        while ready[nextToConsume] == nil && !stopping { condition.wait() }
        guard var batch = ready.removeValue(forKey: nextToConsume) else { return nil }
        let waited = Double(DispatchTime.now().uptimeNanoseconds - begin) / 1e9
        batch.waitSeconds = waited
        self.waited += waited
        nextToConsume += 1
        condition.broadcast()   // a prefetch slot is free
        return batch
    }

    /// Without workers the consumer builds the batch itself; all of that time counts as waiting.
    func nextInline() -> Batch? {
        condition.lock()
        guard let plan, nextToConsume < plan.steps, !stopping else { condition.unlock(); return nil }
        let step = nextToConsume
        nextToConsume += 1
        condition.unlock()
        let begin = DispatchTime.now().uptimeNanoseconds
        var batch = build(plan, step)
        batch.waitSeconds = Double(DispatchTime.now().uptimeNanoseconds - begin) / 1e9
        condition.lock()
        waited += batch.waitSeconds
        condition.unlock()
        return batch
    }

    func shutdown(workers: Int) {
        condition.lock()
        stopping = true
        condition.broadcast()
        while finishedWorkers < workers { condition.wait() }
        ready.removeAll()
        condition.unlock()
    }
}
