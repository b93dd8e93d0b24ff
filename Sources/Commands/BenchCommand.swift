import ArgumentParser
import Benchmarks
import Cluster
import Datasets
import Foundation
import Kernels
import NeuralNet
import Runs
import Training

/// `simclr bench`: times full training steps of ResNet-18 and says where the time goes.
struct BenchCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "bench",
        abstract: "Time training steps (forward, loss, backward, optimizer) and print img/s, where the time goes, and how close to the machine's limit it runs.",
        discussion: """
        Before timing, it measures the machine's peak: the clock under load (a chain of dependent additions on \
        every thread), the FMA instructions a core completes per cycle (a loop of independent FMAs, and of \
        vdpbf16ps for bf16), and from both threads x clock x FMAs per cycle x FLOPs per FMA; then large matrix \
        products (oneDNN fp32 and bf16, OpenBLAS sgemm) as a share of it. Each kind of work, and each convolution \
        pass (forward, backward-data, backward-weights), is reported as time, GFLOP/s and the fraction of the peak \
        of the step's precision. --batch-size counts images as pretrain does: each gives two views, so img/s \
        is images per second as pretraining reports it and views/s, twice that, the views the network ran. With --data the steps train on augmented views from the loader, and the report \
        adds the augmentation cost per view and the time the step waited for data.

        Examples:
          simclr bench --batch-size 64 --threads 2
          simclr bench --precision bf16 --json
          simclr bench --data data/cifar-10-batches-bin --workers 2
          mpirun -np 2 simclr bench --distributed --batch-size 64 --threads 1
          simclr bench --small-crops 6 --batch-size 64    # 2 global + 6 small views
          simclr bench --conv-algorithm direct            # no Winograd in any pass
        """)

    @Option(help: "Images per step, as in pretrain: each image gives two views, so the network runs twice as many views.") var batchSize = BenchSettings().batchSize
    @Option(help: "Image side in pixels.") var imageSize = BenchSettings().imageSize
    @Option(help: "resnet18, resnet34 or resnet50.") var arch: Architecture = BenchSettings().model.arch
    @Option(help: "Stem: cifar (3x3 conv) or imagenet (7x7 conv + max pool).") var stem: Stem = BenchSettings().model.stem
    @Option(help: "Channel width multiplier (1.0 = the torchvision network).") var width = BenchSettings().model.width
    @Option(help: "Head layer sizes after the pooled features (512-d, ResNet-50 2048-d at width 1).") var projDims = "512,256"
    @OptionGroup var compute: ComputeOptions
    @Option(help: "Timed steps (the median is reported).") var steps = BenchSettings().steps
    @Option(help: "Untimed warm-up steps.") var warmup = BenchSettings().warmup
    @Option(help: "Train on augmented views of this dataset (a CIFAR-10/STL-10 directory or 'synthetic') and time the loader.")
    var data: String?
    @Option(help: "Loader threads with --data.") var workers = BenchSettings().workers
    @Flag(help: "Skip measuring the machine's peak and roofline.") var noRoofline = false
    @Flag(help: "Print one JSON object instead of a table.") var json = false
    @Flag(help: "Data-parallel step over the MPI ranks (run under mpirun); --batch-size is then the global batch of images.")
    var distributed = false
    @Option(help: "Gradient bucket size in MB (--distributed).") var bucketMb = Double(DataParallelSettings().bucketBytes) / (1024 * 1024)
    @Flag(help: "Reduce gradients after backward instead of overlapping (--distributed).") var noOverlap = false
    @Flag(inversion: .prefixedNo, help: "With overlap, also time as many steps without it, interleaved, and report what overlap costs compute (--distributed).")
    var overlapBaseline = BenchSettings().overlapBaseline
    @Option(help: "Gradient compression: none, bf16 or powersgd (--distributed; compresses from the first step).")
    var gradCompression = DataParallelSettings().gradCompression
    @Option(help: "PowerSGD's rank R (--grad-compression powersgd).") var powersgdRank = DataParallelSettings().powerSGDRank
    @Flag(inversion: .prefixedNo, help: "Global BatchNorm statistics (--distributed).") var syncBn = DataParallelSettings().syncBatchNorm
    @Option(help: ArgumentHelp("Bind each rank's communication thread to this CPU: one CPU for every rank of a node, or a comma-separated list, one per rank of the node (--distributed with overlap; see pretrain --help).",
                               valueName: "cpus"))
    var commCpu: String?
    @Option(help: ArgumentHelp("Write the timed steps of every rank as a Chrome trace (Perfetto, chrome://tracing): compute spans, and the gradient buckets' all-reduces on the communication thread's row.",
                               valueName: "file"))
    var trace: String?
    @Option(help: ArgumentHelp("One process (or the real rank of --emulate-real-rank): write the timed steps as a step profile (JSON: the compute between each point where a step meets communication, medians) for --emulate and scaling-model --profile.",
                               valueName: "file"))
    var profileOut: String?
    @Option(help: ArgumentHelp("Emulated compute: replay this step profile (from --profile-out with the same model, precision and per-rank batch) by sleeping, while every collective is real: many ranks on few cores run the communication of ranks that compute at full speed.",
                               valueName: "profile"))
    var emulate: String?
    @Option(help: ArgumentHelp("With --emulate, what stretches the replayed compute: core (what else ran on the rank's core: its communication thread, the kernel's network work, other processes; the rank must be bound to one core, else thread), thread (the communication thread's CPU time), none (ranks with a spare core).",
                               valueName: "core|thread|none"))
    var emulateCpuSharing = BenchSettings().emulateCPUSharing
    @Option(help: ArgumentHelp("With --emulate: the gradients travel at 1/K of their size (payload and bucket size); run on links of 1/K the rate, so many emulated hosts stay bound by their links, not by this machine.",
                               valueName: "K"))
    var emulateScale = BenchSettings().emulateScale
    @Option(help: ArgumentHelp("With --emulate: replayed compute takes F times its profiled time: how much slower the same layers run beside the link's communication, as deploy/emulation-check.sh measures it (1: as profiled).",
                               valueName: "F"))
    var emulateSlowdown = BenchSettings().emulateSlowdown
    @Option(help: ArgumentHelp("With --emulate under MPI: rank R runs the real step while the others replay (a real rank in step with emulated ones); with --profile-out it writes its compute as it ran in step (deploy/emulation-check.sh's in-step calibration).",
                               valueName: "R"))
    var emulateRealRank: Int?
    @Flag(help: "With --emulate: the same as --emulate-cpu-sharing none.")
    var emulateSpareCore = false
    @OptionGroup var multiCrop: MultiCropOptions

    func validate() throws {
        _ = try communicationCPUs(commCpu)
        let benchSettings = settings(headDims: [])
        try SettingFlags.validate(benchSettings.dataParallel.validate)
        if let why = benchSettings.refusal(world: 1) { throw ValidationError(SettingFlags.message(SettingsError(why))) }
        try SettingFlags.validate { try ResNetConfig.checkWidth(width) }
        guard workers >= 0 else { throw ValidationError("--workers must be >= 0") }
        try SettingFlags.validate { _ = try ResNetConfig.headDims(parsing: projDims) }
    }

    /// The flags as the library's settings.
    private func settings(headDims: [Int]) -> BenchSettings {
        var settings = BenchSettings()
        (settings.batchSize, settings.imageSize) = (batchSize, imageSize)
        (settings.precision, settings.convAlgorithm) = (compute.precision, compute.convAlgorithm)
        settings.model = ResNetConfig(arch: arch, stem: stem, width: width, headDims: headDims)
        (settings.steps, settings.warmup, settings.data, settings.workers) = (steps, warmup, data, workers)
        (settings.roofline, settings.multiCrop) = (!noRoofline, multiCrop.config)
        (settings.dataParallel.syncBatchNorm, settings.dataParallel.bucketBytes) = (syncBn, DataParallelSettings.bucketBytes(megabytes: bucketMb))
        settings.dataParallel.overlap = !noOverlap
        settings.overlapBaseline = overlapBaseline
        (settings.dataParallel.gradCompression, settings.dataParallel.powerSGDRank) = (gradCompression, powersgdRank)
        settings.dataParallel.compressionStartStep = 0
        settings.tracePath = trace.map(DataSelection.expand)
        (settings.profilePath, settings.emulatePath) = (profileOut.map(DataSelection.expand), emulate.map(DataSelection.expand))
        settings.emulateCPUSharing = emulateSpareCore ? .none : emulateCpuSharing
        settings.emulateScale = emulateScale
        settings.emulateSlowdown = emulateSlowdown
        settings.emulateRealRank = emulateRealRank
        settings.communicationCPUs = commCpu.flatMap(ThreadPlacement.parseList)
        return settings
    }

    func run() throws {
        let threadCount = BLASSetup.applyThreads(compute.threads)
        let communicator = distributed ? try Communicator.initialize() : nil
        defer { if communicator != nil { try? Communicator.finalize() } }
        let bench: StepBenchmark
        do { bench = try StepBenchmark(settings: settings(headDims: try ResNetConfig.headDims(parsing: projDims)), communicator: communicator,
                                       threads: threadCount) } catch { throw SettingFlags.renamed(error) }
        defer { try? bench.close() }
        if !json && bench.isLeader { bench.header.forEach { print($0) } }
        let report = try bench.run()
        guard bench.isLeader else { return }
        if json { print(report.json) } else { report.lines.forEach { print($0) } }
        if let trace, !json { print("trace: \(DataSelection.expand(trace))") }
        if let profileOut, !json { print("step profile: \(DataSelection.expand(profileOut))") }
    }
}

extension EmulatedCPUSharing: ExpressibleByArgument {}
