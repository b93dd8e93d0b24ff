import ArgumentParser
import Cluster
import Contrastive
import Datasets
import Foundation
import Kernels
import NeuralNet
import Optimizers
import Pretraining
import Training

/// `simclr bench`: times full training steps of ResNet-18 and says where the time goes.
struct BenchCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "bench",
        abstract: "Time training steps (forward, loss, backward, optimizer) and print img/s, where the time goes, and how close to the machine's limit it runs.",
        discussion: """
        Before timing, it measures the machine's peak: the clock under load (a chain of dependent additions on every \
        thread), the FMA instructions a core completes per cycle (a loop of independent FMAs, and of vdpbf16ps for \
        bf16), and from both threads x clock x FMAs per cycle x FLOPs per FMA; then large matrix products (oneDNN \
        fp32 and bf16, OpenBLAS sgemm) as a share of it. Each kind of work, and each convolution pass (forward, \
        backward-data, backward-weights), is reported as time, GFLOP/s and the fraction of the peak of the step's \
        precision. With --data the steps train on augmented views from the loader, and the report adds \
        the augmentation cost per view and the time the step waited for data.

        Examples:
          simclr bench --batch-size 128 --threads 2
          simclr bench --precision bf16 --json
          simclr bench --data data/cifar-10-batches-bin --workers 2
          mpirun -np 2 simclr bench --distributed --batch-size 128 --threads 1
          simclr bench --small-crops 6 --batch-size 128     # multi-crop: 64 images x (2 global + 6 small views)
          simclr bench --conv-algorithm direct              # no Winograd in any pass
        """)

    @Option(help: "Images per step (views: both views of batch-size/2 images).") var batchSize = 128
    @Option(help: "Image side in pixels.") var imageSize = 32
    @Option(help: "resnet18, resnet34 or resnet50.") var arch: Architecture = .resnet18
    @Option(help: "Stem: cifar (3x3 conv) or imagenet (7x7 conv + max pool).") var stem: Stem = .cifar
    @Option(help: "Channel width multiplier (1.0 = the torchvision network).") var width = 1.0
    @Option(help: "Head layer sizes after the pooled features (512-d, ResNet-50 2048-d at width 1).") var projDims = "512,256"
    @Option(help: "BLAS and kernel threads (default: all cores).") var threads: Int?
    @Option(help: "Arithmetic of convolutions and Linear layers: fp32, bf16, or bf16-reference (bf16 rounding computed in fp32).")
    var precision: ComputePrecision = .fp32
    @Option(help: ArgumentHelp("How fp32 convolutions are computed: auto (per layer and pass: forward direct, backward Winograd), direct, or winograd (every pass).", valueName: "algorithm"))
    var convAlgorithm: ConvAlgorithmChoice = .auto
    @Option(help: "Timed steps (the median is reported).") var steps = 10
    @Option(help: "Untimed warm-up steps.") var warmup = 2
    @Option(help: "Train on augmented views of this dataset (a CIFAR-10/STL-10 directory or 'synthetic') and time the loader.")
    var data: String?
    @Option(help: "Loader threads with --data.") var workers = 2
    @Flag(help: "Skip measuring the machine's peak and roofline.") var noRoofline = false
    @Flag(help: "Print one JSON object instead of a table.") var json = false
    @Flag(help: "Data-parallel step over the MPI ranks (run under mpirun); --batch-size is then the global batch.")
    var distributed = false
    @Option(help: "Gradient bucket size in MB (--distributed).") var bucketMb = 25.0
    @Flag(help: "Reduce gradients after backward instead of overlapping (--distributed).") var noOverlap = false
    @Flag(inversion: .prefixedNo, help: "Global BatchNorm statistics (--distributed).") var syncBn = true
    @OptionGroup var multiCrop: MultiCropOptions

    func validate() throws {
        guard batchSize >= 2, batchSize % 2 == 0 else { throw ValidationError("--batch-size must be even and >= 2 (two views per image)") }
        guard steps >= 1, warmup >= 0 else { throw ValidationError("--steps must be >= 1 and --warmup >= 0") }
        guard imageSize >= 8 else { throw ValidationError("--image-size must be at least 8") }
        try checkWidth(width)
        guard workers >= 0 else { throw ValidationError("--workers must be >= 0") }
        _ = try parseDims(projDims)
        try checkPrecisionSupported(precision)
    }

    func run() throws {
        let threadCount = applyThreads(threads)
        let config = ResNetConfig(arch: arch, stem: stem, width: width, headDims: try parseDims(projDims))
        let model = ResNet(config: config, seed: 1)
        model.precision = precision
        model.convAlgorithm = convAlgorithm
        var dataParallel = DataParallel.singleProcess(model: model)
        if distributed {
            let world = try Communicator.initialize()
            guard batchSize % (2 * world.size) == 0 else {
                throw ValidationError("--batch-size \(batchSize) must split into an even number of images per rank (\(world.size) ranks)")
            }
            dataParallel = try DataParallel(communicator: world, model: model, syncBatchNorm: syncBn,
                                            bucketBytes: Int(bucketMb * 1024 * 1024), overlap: !noOverlap)
            try dataParallel.broadcastState(of: model)
        }
        let worldSize = dataParallel.size
        let isLeader = dataParallel.rank == 0
        let perRank = batchSize / worldSize
        // The limits are measured before the model runs, on the leader only (other ranks would compete for cores).
        let limits = (noRoofline || !isLeader) ? nil : MachineLimits.measure(threads: threadCount)
        let source = try ViewSource(data: data, perRank: perRank, imageSize: imageSize, workers: workers,
                                    rank: dataParallel.rank, world: worldSize, multiCrop: multiCrop.config)
        // InfoNCE at temperature 0.07 over the batch's two halves as the two views, SGD with momentum 0.9.
        let step = ContrastiveStep(model: model, loss: InfoNCELoss(config: InfoNCEConfig(temperature: 0.07)),
                                   optimizer: SGD(momentum: 0.9, weightDecay: 1e-6, segments: parameterSegments(of: model)),
                                   dataParallel: dataParallel, multiCrop: multiCrop.config != nil)
        defer { if distributed { try? dataParallel.reducer.close(); try? Communicator.finalize() } }

        if !json && isLeader {
            if distributed {
                print("distributed: \(worldSize) ranks, \(perRank) images per rank, sync BN \(syncBn), buckets \(bucketMb) MB, overlap \(!noOverlap)")
            }
            print("cpu: \(CPUFeatures.current.summary)")
            print("\(BLASSetup.describe()); convolutions: \(ConvolutionLibrary.description)")
            if let limits { printLimits(limits) }
            print("model: \(config.describe) head=\(projDims) params=\(model.registry.parameterCount)")
            print("batch \(batchSize) x \(imageSize)px, threads \(threadCount), precision \(precision.rawValue), convolutions \(convAlgorithm.rawValue), warm-up \(warmup), timed steps \(steps)")
            if let d = source.description { print(d) }
            if let m = multiCrop.config {
                print("multi-crop: \(perRank / 2) images per rank x (2 global views + \(m.count) small crops of \(m.size) px); img/s counts the global views")
            }
        }
        for _ in 0..<warmup {
            let (views, small) = try source.next()
            try step.run(views: views, smallViews: small, learningRate: 0.01)
        }
        let profile = StepProfile()
        StepProfile.active = profile
        var times: [Double] = [], timings: [StepTiming] = [], dataWait = 0.0
        for _ in 0..<steps {
            let t0 = DispatchTime.now().uptimeNanoseconds
            let (views, small) = try source.next()
            dataWait += Double(DispatchTime.now().uptimeNanoseconds - t0) * 1e-9
            try step.run(views: views, smallViews: small, learningRate: 0.01)
            times.append(Double(DispatchTime.now().uptimeNanoseconds - t0) * 1e-9)
            timings.append(step.lastTiming)
        }
        StepProfile.active = nil
        guard isLeader else { return }
        let report = BenchReport(batchSize: batchSize, steps: steps, worldSize: worldSize, times: times, timings: timings,
                                 profile: profile, flops: step.lastTrainingStepFLOPs, dataWait: dataWait / Double(steps),
                                 limits: limits, bf16: precision.roundsToBF16 && precision != .bf16Reference,
                                 winograd: model.convAlgorithm != .direct && !precision.roundsToBF16)
        if json {
            var fields = report.jsonFields
            fields += ["\"arch\": \"\(arch.rawValue)\"", "\"batch\": \(batchSize)", "\"image_size\": \(imageSize)", "\"threads\": \(threadCount)",
                       "\"precision\": \"\(precision.rawValue)\"", "\"blas_core\": \"\(BLAS.coreName)\"",
                       "\"convolutions\": \"\(ConvolutionLibrary.description)\"", "\"world_size\": \(worldSize)",
                       "\"per_rank_batch\": \(perRank)", "\"small_crops\": \(multiCrop.smallCrops)", "\"small_crop_size\": \(multiCrop.smallCropSize)", "\"conv_algorithm\": \"\(model.convAlgorithm.rawValue)\""]
            if let c = source.augmentationSecondsPerView { fields.append("\"ms_augment_per_view\": \(fmt(c * 1000))") }
            if let limits, let encoded = try? JSONEncoder().encode(limits) { fields.append("\"machine\": " + String(decoding: encoded, as: UTF8.self)) }
            print("{" + fields.joined(separator: ", ") + "}")
        } else {
            report.printTable(distributed: distributed)
            if let perView = source.augmentationSecondsPerView {
                let need = Double(batchSize) / report.median
                print(String(format: "data: augmentation %.3f ms per view on one thread (%.0f views/s per worker); the step consumes %.0f views/s; waited %.1f ms per step for data (%.1f%% of the step) with %d workers",
                             perView * 1000, 1 / perView, need, report.dataWait * 1000, 100 * report.dataWait / report.median, workers))
            }
        }
    }

    private func printLimits(_ m: MachineLimits) {
        print(String(format: "clock under load: %.2f GHz on %d threads (stated: %.2f GHz, %@)",
                     m.clockUnderLoadMHz / 1000, m.threads, m.nominalClockMHz / 1000, m.nominalClockSource))
        print(String(format: "peak: fp32 %.1f GFLOP/s (FMA loop %.1f = %.2f FMA/cycle/core)", m.peakFP32GFLOPS,
                     m.fmaLoopFP32GFLOPS, m.fmaPerCycleFP32)
              + (m.peakBF16GFLOPS.map { String(format: ", bf16 %.1f (vdpbf16ps loop %.1f = %.2f/cycle/core)", $0,
                                                m.fmaLoopBF16GFLOPS ?? 0, m.fmaPerCycleBF16 ?? 0) } ?? ""))
        print(String(format: "matrix product %d^3: oneDNN fp32 %.1f GFLOP/s (%.0f%% of peak)", m.gemmSize, m.gemmFP32GFLOPS,
                     100 * m.gemmFP32GFLOPS / m.peakFP32GFLOPS)
              + (m.gemmBF16GFLOPS.map { String(format: ", bf16 %.1f (%.0f%%)", $0, 100 * $0 / m.peakGFLOPS(bf16: true)) } ?? "")
              + String(format: ", OpenBLAS sgemm %.1f (%.0f%%)", m.sgemmGFLOPS, 100 * m.sgemmGFLOPS / m.peakFP32GFLOPS))
    }
}

/// Where the bench's views come from: fixed random values, or augmented batches from a dataset's loader.
private final class ViewSource {
    private let fixed: Tensor?, fixedSmall: Tensor?
    private let loader: BatchLoader?
    private var epoch = 0
    let description: String?
    /// Measured on one thread before timing (nil without a dataset).
    let augmentationSecondsPerView: Double?

    init(data: String?, perRank: Int, imageSize: Int, workers: Int, rank: Int, world: Int, multiCrop: MultiCropConfig?) throws {
        guard let data else {
            var rng = SplitMix64(seed: 7 &+ UInt64(rank))
            func random(_ shape: [Int]) -> Tensor {
                let t = Tensor(shape: shape)
                for i in 0..<t.count { t[i] = Float(rng.nextUnit()) }
                return t
            }
            fixed = random([perRank, 3, imageSize, imageSize])
            fixedSmall = multiCrop.map { random([$0.count * perRank / 2, 3, $0.size, $0.size]) }
            loader = nil; description = nil; augmentationSecondsPerView = nil
            return
        }
        let images = data == "synthetic"
            ? SyntheticShapes.generate(trainCount: 2048, testCount: 1, imageSize: imageSize, seed: 1).train
            : try loadDataset(at: data, split: .train, limit: 4096)
        let augmentation = AugmentationConfig.simclr(outputSize: imageSize)
        let sampler = try DistributedSampler(datasetCount: images.count, worldSize: world, rank: rank,
                                             batchSize: perRank / 2 * world, shuffle: true, seed: 1)
        // The cost of one view: a loader without threads builds a few batches in this thread.
        let probe = try BatchLoader(images: images, sampler: sampler, augmentation: augmentation, views: 2, seed: 1, workers: 0)
        probe.start(epoch: 0)
        let start = DispatchTime.now().uptimeNanoseconds
        var built = 0
        for _ in 0..<3 { if let b = probe.next() { built += b.images.shape[0] } }
        augmentationSecondsPerView = Double(DispatchTime.now().uptimeNanoseconds - start) * 1e-9 / Double(max(built, 1))
        probe.shutdown()
        loader = try BatchLoader(images: images, sampler: sampler, augmentation: augmentation, views: 2, seed: 1, workers: workers,
                                 multiCrop: multiCrop)
        loader!.start(epoch: 0)
        fixed = nil; fixedSmall = nil
        description = "data: \(images.count) images of \(images.height)x\(images.width) from \(data), SimCLR augmentation, \(workers) loader workers"
    }

    /// The global views and (multi-crop) the small views of the next step.
    func next() throws -> (Tensor, Tensor?) {
        if let fixed { return (fixed, fixedSmall) }
        if let batch = loader!.next() { return (batch.images, batch.smallImages) }
        epoch += 1
        loader!.start(epoch: epoch)
        guard let batch = loader!.next() else { throw ValidationError("the dataset is smaller than one batch") }
        return (batch.images, batch.smallImages)
    }
}

/// The figures of a bench run, for the table and the JSON line.
private struct BenchReport {
    let batchSize: Int, steps: Int, worldSize: Int
    let times: [Double], timings: [StepTiming]
    let profile: StepProfile
    let flops: (convolution: Double, head: Double)
    let dataWait: Double
    let limits: MachineLimits?
    let bf16: Bool
    let winograd: Bool

    var median: Double { times.sorted()[times.count / 2] }
    var total: Double { times.reduce(0, +) }
    /// Model FLOPs of one step over all ranks.
    var stepFLOPs: Double { (flops.convolution + flops.head) * Double(worldSize) }
    /// The machine's measured peak for the step's precision (see MachineLimits).
    var peak: Double? { limits?.peakGFLOPS(bf16: bf16) }
    func seconds(_ kind: WorkKind) -> Double { (profile.seconds[kind] ?? 0) / Double(steps) }
    func mean(_ f: (StepTiming) -> Double) -> Double { timings.map(f).reduce(0, +) / Double(timings.count) }

    /// (name, seconds per step, GFLOP/s when the kind has FLOPs) of every kind of work.
    var parts: [(String, Double, Double?)] {
        WorkKind.allCases.map { kind in
            let s = seconds(kind)
            let f: Double? = kind == .conv ? flops.convolution : nil
            return (kind.rawValue, s, f.map { $0 / max(s, 1e-12) / 1e9 })
        }
    }

    func printTable(distributed: Bool) {
        print(String(format: "median: %.1f img/s, %.1f ms/step (min %.1f, max %.1f ms)", Double(batchSize) / median,
                     median * 1000, times.min()! * 1000, times.max()! * 1000))
        let achieved = stepFLOPs / median / 1e9
        var line = String(format: "model FLOPs per step: %.1f GFLOP (convolutions %.1f, head %.2f); achieved %.1f GFLOP/s",
                          stepFLOPs / 1e9, flops.convolution * Double(worldSize) / 1e9, flops.head * Double(worldSize) / 1e9, achieved)
        if let peak, worldSize == 1 {
            line += String(format: " = %.0f%% of the machine's %@ peak", 100 * achieved / peak, bf16 ? "bf16" : "fp32")
        }
        print(line)
        if winograd {
            print("  (model FLOPs: passes that run Winograd F(4x4,3x3) multiply less than they count, so their rate can pass the peak; --conv-algorithm direct to compare)")
        }
        if distributed {
            let compute = mean(\.computeSeconds), wait = mean(\.communicationWaitSeconds), comm = mean(\.gradientCommunicationSeconds)
            print(String(format: "per step: compute %.1f ms, waiting for communication %.1f ms, gradient all-reduce %.1f ms on its thread (%.0f%% hidden by overlap)",
                         compute * 1000, wait * 1000, comm * 1000, comm > 0 ? 100 * max(0, 1 - wait / comm) : 0))
        }
        print("per-step time by kind (mean over timed steps):")
        for (name, s, rate) in parts where s > 0 {
            var row = "  " + name.padding(toLength: 10, withPad: " ", startingAt: 0) +
                String(format: "%9.1f ms  %5.1f%%", s * 1000, 100 * s * Double(steps) / total)
            if let rate {
                row += String(format: "  %7.1f GFLOP/s", rate)
                if let peak, worldSize == 1 { row += String(format: " (%.0f%% of peak)", 100 * rate / peak) }
            }
            print(row)
        }
        print("convolutions by pass (model FLOPs; mean over timed steps):")
        for (name, s, rate) in passes where s > 0 {
            var row = "  " + name.padding(toLength: 17, withPad: " ", startingAt: 0) + String(format: "%9.1f ms  %7.1f GFLOP/s", s * 1000, rate)
            if let peak, worldSize == 1 { row += String(format: " (%.0f%% of peak)", 100 * rate / peak) }
            print(row)
        }
    }

    /// (name, seconds per step, model GFLOP/s) of each convolution pass.
    var passes: [(String, Double, Double)] {
        ConvolutionKernel.Pass.allCases.map { pass in
            let p = profile.convolutionPasses[pass] ?? (0, 0)
            return (pass.name, p.seconds / Double(steps), p.flops / max(p.seconds, 1e-12) / 1e9)
        }
    }

    var jsonFields: [String] {
        var fields = ["\"img_per_s\": \(fmt(Double(batchSize) / median))", "\"ms_per_step\": \(fmt(median * 1000))",
                      "\"gflops_per_s\": \(fmt(stepFLOPs / median / 1e9))", "\"gflop_per_step\": \(fmt(stepFLOPs / 1e9))",
                      "\"ms_compute\": \(fmt(mean(\.computeSeconds) * 1000))", "\"ms_comm_wait\": \(fmt(mean(\.communicationWaitSeconds) * 1000))",
                      "\"ms_grad_comm\": \(fmt(mean(\.gradientCommunicationSeconds) * 1000))", "\"ms_data_wait\": \(fmt(dataWait * 1000))"]
        fields += parts.map { "\"ms_\($0.0)\": \(fmt($0.1 * 1000))" }
        fields.append("\"conv_gflops_per_s\": \(fmt(parts.first { $0.0 == WorkKind.conv.rawValue }?.2 ?? 0))")
        for (name, s, rate) in passes {
            let key = name.replacingOccurrences(of: "-", with: "_")
            fields.append("\"ms_conv_\(key)\": \(fmt(s * 1000))")
            fields.append("\"conv_\(key)_gflops_per_s\": \(fmt(rate))")
            if let peak, worldSize == 1 { fields.append("\"conv_\(key)_fraction_of_peak\": \(fmt(rate / peak))") }
        }
        if let peak, worldSize == 1 {
            fields.append("\"peak_gflops_per_s\": \(fmt(peak))")
            fields.append("\"fraction_of_peak\": \(fmt(stepFLOPs / median / 1e9 / peak))")
            fields.append("\"conv_fraction_of_peak\": \(fmt((parts.first { $0.0 == WorkKind.conv.rawValue }?.2 ?? 0) / peak))")
        }
        return fields
    }
}

private func fmt(_ x: Double) -> String { String(format: "%.3f", x) }

func parseDims(_ text: String) throws -> [Int] {
    // An empty value (a shell variable that was not set) is a mistake; "none" asks for no head on purpose.
    if text == "none" { return [] }
    guard !text.trimmingCharacters(in: .whitespaces).isEmpty else {
        throw ValidationError("--proj-dims is empty: give sizes like 512,256, or 'none' for no projection head")
    }
    let dims = text.split(separator: ",").map { Int($0.trimmingCharacters(in: .whitespaces)) }
    guard dims.allSatisfy({ ($0 ?? 0) > 0 }) else { throw ValidationError("expected comma-separated positive sizes like 512,256, got '\(text)'") }
    return dims.map { $0! }
}
