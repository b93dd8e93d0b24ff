import Cluster
import Datasets
import Kernels
import NeuralNet
import Pretraining
import Runs
import Training

/// What `simclr bench` times: full SimCLR training steps (forward, InfoNCE at the pretraining default
/// temperature over the batch's two halves as the two views, backward, SGD with momentum 0.9).
public struct BenchSettings {
    /// Images per step over all ranks, as in pretraining: each image gives two views, so a step runs
    /// 2 x batchSize views through the network.
    public var batchSize = 64
    public var imageSize = 32
    public var model = ResNetConfig(stem: .cifar, width: 1.0, headDims: [512, 256])
    public var precision = ComputePrecision.fp32
    /// How the convolutions choose their algorithms (see `ConvAlgorithmChoice`).
    public var convAlgorithm = ConvAlgorithmChoice.auto
    /// Timed steps (the median is reported) and untimed warm-up steps before them.
    public var steps = 10, warmup = 2
    /// Train on augmented views of this dataset (a CIFAR-10/STL-10 directory or "synthetic") and time the
    /// loader; nil: fixed random views.
    public var data: String?
    /// Loader threads with `data`.
    public var workers = 2
    /// Measure the machine's peak first (on the leader).
    public var roofline = true
    /// Multi-crop's small views besides the two global ones.
    public var multiCrop: MultiCropConfig?
    /// Under MPI: the data-parallel step's settings.
    public var dataParallel = DataParallelSettings()
    /// Under MPI with overlap: also time as many steps without overlap, interleaved with the overlapped ones,
    /// to report what overlap costs compute (`OverlapComparison`).
    public var overlapBaseline = true
    /// Write the timed steps' spans of every rank here as a Chrome trace (nil: no trace).
    public var tracePath: String?
    /// Write the timed steps as a step profile (`StepTimeline` JSON) here: one process, or rank 0 of several
    /// ranks without overlap (the compute of ranks kept in step by SyncBN, with no gradient traffic during it).
    public var profilePath: String?
    /// Emulated compute: replay this step profile by sleeping, with every collective real (`ReplayedStep`).
    public var emulatePath: String?
    /// With `emulatePath`: what replayed compute is stretched by (the CPU time real compute would have lost).
    public var emulateCPUSharing = EmulatedCPUSharing.core
    /// With `emulatePath`: the gradients travel at 1/emulateScale of their size, for links emulated at
    /// 1/emulateScale of the rate (`ReplayedStep`).
    public var emulateScale = 1
    /// With `emulatePath`: replayed compute takes this many times its profiled time: how much slower the same
    /// layers run beside the link's communication on their core (cache and TLB refills after each switch to the
    /// communication thread or the kernel's network work), measured by `deploy/emulation-check.sh` (its
    /// calibration: real compute beside a replay's communication, against real compute alone). 1: not modelled.
    public var emulateSlowdown = 1.0
    /// With `emulatePath` under MPI: this rank runs the real step (the network computes) while every other rank
    /// replays the profile: a real rank in step with emulated ones over the same links. With `profilePath` it
    /// writes its own compute, as it ran in step, as a profile (the in-step calibration of
    /// `deploy/emulation-check.sh`; docs/scaling-model.md, 'Calibration'). nil: every rank replays.
    public var emulateRealRank: Int?
    /// CPUs for the ranks' communication threads (`DataParallelOptions.communicationCPUs`; placement only).
    public var communicationCPUs: [Int]?

    public init() {}

    /// Views per step over all ranks that the network runs (multi-crop's small crops not counted).
    public var views: Int { 2 * batchSize }

    /// What one of `ranks` ranks holds during a step (`StepMemoryEstimate`): two views (and multi-crop's small
    /// ones) per image; the views of one step prepared ahead (fixed random views), or the loader's two batches
    /// with `data`.
    public func stepMemory(ranks: Int) -> StepMemoryEstimate {
        var views = [(count: 2, size: imageSize)]
        if let multiCrop { views.append((count: multiCrop.count, size: multiCrop.size)) }
        return StepMemoryEstimate(model: model, optimizer: .sgd, views: views, perRankBatch: max(1, batchSize / ranks),
                                  prefetch: data == nil ? 1 : 2, precision: precision, convAlgorithm: convAlgorithm,
                                  threads: Parallel.threadCount)
    }

    /// The data-parallel options of a timed run over `group`: these settings, their communication CPUs, and
    /// collectives that wait as in training (its default wait).
    public func dataParallelOptions(over group: any ProcessGroup) -> DataParallelOptions {
        var options = DataParallelOptions(communicator: group)
        options.settings = dataParallel
        options.collectiveTimeout = DataParallelOptions.defaultCollectiveTimeout
        options.communicationCPUs = communicationCPUs
        return options
    }

    /// Why these settings cannot be timed on `world` ranks (nil: they can).
    public func refusal(world: Int) -> String? {
        guard batchSize >= 1 else { return "`batchSize` must be at least 1 image" }
        guard batchSize % world == 0 else {
            return "`batchSize` \(batchSize) images must split evenly over \(world) ranks"
        }
        guard steps >= 1, warmup >= 0 else { return "`steps` must be >= 1 and `warmup` >= 0" }
        guard imageSize >= 8 else { return "`imageSize` must be at least 8" }
        if emulateRealRank != nil && emulatePath == nil {
            return "`emulateRealRank` applies to emulated compute (`emulatePath`) only"
        }
        do { try dataParallelOptions(over: SingleProcess()).validate() } catch { return "\(error)" }
        // (one process, as the tool's flag check sees it, may still be one of several ranks under mpirun)
        if let r = emulateRealRank, r < 0 { return "`emulateRealRank` must be a rank (0 or more), not \(r)" }
        if let r = emulateRealRank, world > 1 && r >= world {
            return "`emulateRealRank` \(r) is not a rank of \(world) (0...\(world - 1))"
        }
        if profilePath != nil && world > 1 && dataParallel.overlap && emulateRealRank == nil {
            return "`profilePath` on \(world) ranks: give `noOverlap` (gradient buckets reduced after backward), or measure on one rank (bench without mpirun): with overlap its compute times would include communication"
        }
        if emulatePath != nil {
            if profilePath != nil && emulateRealRank == nil {
                return "`emulatePath` replays a profile; it cannot also write one (`profilePath`) unless one rank runs for real (`emulateRealRank`)"
            }
            if emulateRealRank != nil && emulateScale > 1 {
                return "`emulateRealRank`: a real rank's gradients travel at full size; leave `emulateScale` at 1"
            }
            if multiCrop != nil { return "`emulatePath`: emulated compute with small crops is not built" }
            if data != nil { return "`emulatePath`: emulated compute reads no data; leave out `data`" }
            if emulateScale < 1 { return "`emulateScale` must be at least 1" }
            if !(emulateSlowdown >= 0.5 && emulateSlowdown <= 4) {
                return "`emulateSlowdown` must lie in 0.5...4 (a measured ratio of compute times; 1 leaves compute as profiled), not \(emulateSlowdown)"
            }
            if emulateScale > 1 && dataParallel.gradCompression == .powersgd {
                return "`emulateScale`: PowerSGD's messages do not shrink with the gradient's size; scale none or bf16"
            }
        } else if emulateScale != 1 {
            return "`emulateScale` applies to emulated compute (`emulatePath`) only"
        } else if emulateSlowdown != 1 {
            return "`emulateSlowdown` applies to emulated compute (`emulatePath`) only"
        } else if emulateCPUSharing != .core {
            return "`emulateCPUSharing` applies to emulated compute (`emulatePath`) only"
        }
        return nil
    }
}
