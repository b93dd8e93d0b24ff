import Cluster
import Contrastive
import Datasets
import Dispatch
import Foundation
import Kernels
import NeuralNet
import Optimizers
import Pretraining
import Runs
import ScalingModel
import Tracing
import Training

/// `simclr bench`: times full SimCLR training steps (`BenchSettings`) through the same data-parallel step
/// training runs, and says where the time goes.
public final class StepBenchmark {
    public let settings: BenchSettings
    public let model: ResNet
    public let step: ContrastiveStep
    public var dataParallel: DataParallel { step.dataParallel }
    /// The machine's peaks, measured before the model runs, on the leader only (other ranks would compete for
    /// its cores); nil with `roofline` off.
    public let limits: MachineLimits?
    public let threads: Int
    private let views: BenchViews
    private let distributed: Bool
    /// The ranks' group, recording its collectives while a trace is taken (`tracePath`).
    private let group: (any ProcessGroup)?
    /// Emulated compute (`emulatePath`): the profile replayed through its own data-parallel step.
    private let replay: ReplayedStep?

    public var isLeader: Bool { dataParallel.rank == 0 }
    /// Images per rank per step (each gives two views).
    public var imagesPerRank: Int { settings.batchSize / dataParallel.size }

    /// Under MPI (`communicator`), every rank must run the same bench: the data-parallel step is built through
    /// the ranks' configuration check, as training's. `threads`: the kernel threads in use.
    public init(settings: BenchSettings, communicator: (any ProcessGroup)?, threads: Int) throws {
        if let why = settings.refusal(world: communicator?.size ?? 1) { throw SettingsError(why) }
        // A step that cannot fit is refused with figures before anything large is allocated (as in training).
        _ = try settings.stepMemory(ranks: communicator?.size ?? 1).check(ranksOnThisHost: MPILauncher.ranksOnThisHost)
        self.settings = settings
        self.threads = threads
        distributed = communicator != nil
        // Traced: the step's collectives (SyncBN, the gather, the totals) on the compute row, the gradient
        // buckets' on the reducer's duplicate, the communication row.
        let communicator = communicator.map { c -> any ProcessGroup in settings.tracePath != nil ? TracedGroup(c) : c }
        group = communicator
        model = ResNet(config: settings.model, seed: 1)
        model.precision = settings.precision
        model.convAlgorithm = settings.convAlgorithm
        var dataParallel = DataParallel.singleProcess(model: model)
        if let communicator {
            // Collectives wait as in training (its default wait): non-blocking calls and
            // tests, the same MPI algorithms with overlap and without.
            let options = settings.dataParallelOptions(over: communicator)
            let shape = LabeledImages(height: settings.imageSize, width: settings.imageSize, pixels: [], labels: [], classNames: [])
            dataParallel = try options.makeDataParallel(
                model: model, configuration: "bench \(settings.model.describe) \(settings.precision.rawValue) \(settings.convAlgorithm.rawValue)",
                dataset: DatasetIdentity(of: shape, source: settings.data ?? "random views"))
        }
        let world = dataParallel.size, rank = dataParallel.rank
        limits = (settings.roofline && rank == 0) ? MachineLimits.measure(threads: threads) : nil
        views = try BenchViews(settings: settings, imagesPerRank: settings.batchSize / world, rank: rank, world: world)
        let tail = DataParallelStep(model: model, optimizer: SGD(momentum: 0.9, weightDecay: 1e-6, segments: parameterSegments(of: model)),
                                    dataParallel: dataParallel)
        step = ContrastiveStep(tail: tail, loss: InfoNCELoss(config: InfoNCEConfig(temperature: PretrainSettings().temperature)),
                               multiCrop: settings.multiCrop != nil)
        if settings.emulateRealRank != nil && communicator == nil {
            throw SettingsError("`emulateRealRank`: one real rank among replaying ones needs several ranks (bench --distributed under mpirun)")
        }
        if let path = settings.emulatePath {
            let timeline = try StepTimeline.read(contentsOf: URL(fileURLWithPath: path))
            let identity = StepBenchmark.profileIdentity(settings, imagesPerRank: settings.batchSize / world)
            if settings.emulateRealRank == rank {
                // The real rank replays nothing, but refuses another profile as the replaying ranks' init does.
                try ReplayedStep.check(timeline, identity: identity)
                replay = nil
            } else {
                replay = try ReplayedStep(timeline: timeline, identity: identity, model: model, dataParallel: dataParallel,
                                          sharing: settings.emulateCPUSharing, payloadScale: settings.emulateScale,
                                          slowdown: settings.emulateSlowdown)
            }
        } else {
            replay = nil
        }
    }

    /// One step: the network's, or with emulated compute the profile's replay.
    private func runStep(views: Tensor, smallViews: Tensor?) throws {
        if let replay {
            try replay.run(Batch(images: views, views: 2))
        } else {
            try step.run(views: views, smallViews: smallViews, learningRate: 0.01)
        }
    }

    private var lastTiming: StepTiming { replay?.lastTiming ?? step.lastTiming }

    /// What is timed, said before timing: the ranks, the CPU and kernels, the machine's peaks, the model, the batch
    /// and the data.
    public var header: [String] {
        var lines: [String] = []
        let p = settings.dataParallel
        if distributed {
            lines.append("distributed: \(dataParallel.size) ranks, \(imagesPerRank) images (\(2 * imagesPerRank) views) per rank, sync BN \(p.syncBatchNorm), "
                         + "buckets \(Double(p.bucketBytes) / (1024 * 1024)) MB, overlap \(p.overlap)"
                         + (dataParallel.reducer.communicationCPU.map { ", communication thread on CPU \($0)" } ?? ""))
            if let line = dataParallel.compressionSummary { lines.append(line) }
        }
        if let replay, let path = settings.emulatePath {
            lines.append("emulated compute: \(path) replayed by sleeping (\(String(format: "%.1f", replay.computeSeconds * 1000)) ms per rank and step), "
                         + "every collective real; " + ReplayedStep.describe(replay.sharing))
            if settings.emulateScale > 1 {
                lines.append("gradients at 1/\(settings.emulateScale) of their size (payload and bucket size): run on links of 1/\(settings.emulateScale) the rate to emulate the full rate")
            }
            if settings.emulateSlowdown != 1 {
                lines.append(String(format: "replayed compute slowed %.3fx (a measured compute factor)", settings.emulateSlowdown))
            }
        }
        if let real = settings.emulateRealRank, settings.emulatePath != nil {
            lines.append("rank \(real) runs the real step in step with the replaying ranks" + (real == dataParallel.rank ? " (the figures below are its own)" : ""))
        }
        lines += limits?.lines ?? []
        lines.append("model: \(settings.model.describe) head=\(settings.model.headDims.map(String.init).joined(separator: ",")) "
                     + "params=\(model.registry.parameterCount)")
        lines.append("batch \(settings.batchSize) images = \(settings.views) views of \(settings.imageSize)px, threads \(threads), precision \(settings.precision.rawValue), "
                     + "convolutions \(settings.convAlgorithm.rawValue), warm-up \(settings.warmup), timed steps \(settings.steps)")
        if let d = views.description { lines.append(d) }
        if let m = settings.multiCrop {
            lines.append("multi-crop: \(imagesPerRank) images per rank x (2 global views + \(m.count) small crops of \(m.size) px); "
                         + "views/s counts the global views")
        }
        lines.insert(contentsOf: ["cpu: \(CPUFeatures.current.summary)",
                                  "\(BLASSetup.describe()); convolutions: \(ConvolutionLibrary.description)"],
                     at: distributed ? 1 : 0)
        return lines
    }

    /// Runs the warm-up and the timed steps (collective); returns the report.
    public func run() throws -> BenchReport {
        for _ in 0..<settings.warmup {
            let (global, small) = try views.next()
            try runStep(views: global, smallViews: small)
        }
        let profile = StepProfile()
        StepProfile.active = profile
        defer { StepProfile.active = nil }
        let tracer = (settings.tracePath ?? settings.profilePath).map { _ in Tracer() }
        if let tracer {
            if let group { try group.alignTraceOrigin(tracer) } else { tracer.alignOrigin() }
            Tracer.active = tracer
        }
        defer { Tracer.active = nil }
        var times: [Double] = [], timings: [StepTiming] = [], dataWait = 0.0
        var comparison = OverlapComparison(reducer: replay?.reducer ?? dataParallel.reducer, enabled: distributed && settings.overlapBaseline)
        let host0 = HostCPUSample.now()
        let stretch0 = replay?.stretchSeconds ?? 0
        for i in 0..<comparison.totalSteps(settings.steps) {
            let baseline = comparison.beginStep(i)
            StepProfile.active = baseline ? comparison.profile : profile
            if tracer != nil { Tracer.active = baseline ? nil : tracer }  // the trace shows the configuration asked for
            let t0 = DispatchTime.now().uptimeNanoseconds
            let (global, small) = try StepTrace.measure(StepSpans.data) { try views.next() }
            let waited = Double(DispatchTime.now().uptimeNanoseconds - t0) * 1e-9
            try runStep(views: global, smallViews: small)
            let seconds = Double(DispatchTime.now().uptimeNanoseconds - t0) * 1e-9
            if baseline { comparison.recordBaseline(seconds: seconds, timing: lastTiming); continue }
            dataWait += waited
            times.append(seconds)
            timings.append(lastTiming)
            comparison.recordOverlapped()
        }
        let host = HostCPUUse(from: host0, to: HostCPUSample.now(), steps: comparison.totalSteps(settings.steps))
        Tracer.active = nil
        if let tracer, let path = settings.tracePath { try writeTrace(tracer, to: path) }
        if let tracer, let path = settings.profilePath, dataParallel.rank == (settings.emulateRealRank ?? 0) {
            let url = URL(fileURLWithPath: path)
            try FileManager.default.createDirectory(at: url.deletingLastPathComponent(), withIntermediateDirectories: true)
            try stepProfile(from: tracer).encoded().write(to: url, options: .atomic)
        }
        var report = report(times: times, timings: timings, profile: profile, dataWait: dataWait / Double(settings.steps))
        report.host = host
        if distributed {
            comparison.fill(&report)
            report.gradCompression = settings.dataParallel.gradCompression.rawValue
        }
        if settings.emulatePath != nil {
            report.emulated = true
            report.emulateRealRank = settings.emulateRealRank
        }
        if let replay {
            report.msReplayedCompute = (replay.computeSeconds * 1e6).rounded() / 1000
            let steps = Double(comparison.totalSteps(settings.steps))
            report.msReplayStretch = ((replay.stretchSeconds - stretch0) / steps * 1e6).rounded() / 1000
            report.emulatedCPUSharing = replay.sharing.rawValue
            report.emulateScale = settings.emulateScale
            report.emulateSlowdown = settings.emulateSlowdown
        }
        return report
    }

    /// Every rank's spans into one file (rank 0 writes it; collective under MPI).
    private func writeTrace(_ tracer: Tracer, to path: String) throws {
        if let group {
            try group.writeTrace(tracer, to: path)
        } else {
            let document = ChromeTrace.document(joining: [ChromeTrace.events(of: tracer, rank: 0, processName: "rank 0")])
            try Data(document.utf8).write(to: URL(fileURLWithPath: path), options: .atomic)
        }
    }

    /// Stops the data-parallel machinery (collective).
    public func close() throws {
        try replay?.close()
        try dataParallel.close()
    }

    private func report(times: [Double], timings: [StepTiming], profile: StepProfile, dataWait: Double) -> BenchReport {
        func r(_ x: Double) -> Double { (x * 1000).rounded() / 1000 }
        func mean(_ f: (StepTiming) -> Double) -> Double { timings.map(f).reduce(0, +) / Double(max(timings.count, 1)) }
        func ms(_ kind: WorkKind) -> Double { r((profile.seconds[kind] ?? 0) / Double(settings.steps) * 1000) }
        let world = Double(dataParallel.size)
        let median = times.sorted()[times.count / 2]
        let flops = step.lastTrainingStepFLOPs
        let stepFLOPs = (flops.convolution + flops.head) * world
        var report = BenchReport()
        (report.imagesPerSecond, report.viewsPerSecond) = (r(Double(settings.batchSize) / median), r(Double(settings.views) / median))
        report.msPerStep = r(median * 1000)
        (report.gflopsPerSecond, report.gflopPerStep) = (r(stepFLOPs / median / 1e9), r(stepFLOPs / 1e9))
        (report.msCompute, report.msCommWait) = (r(mean(\.computeSeconds) * 1000), r(mean(\.communicationWaitSeconds) * 1000))
        (report.msGradComm, report.msDataWait) = (r(mean(\.gradientCommunicationSeconds) * 1000), r(dataWait * 1000))
        (report.buckets, report.lateBuckets) = (timings.last?.buckets ?? 0, r(mean { Double($0.lateBuckets) }))
        report.hiddenFraction = r(mean(\.hiddenFraction))
        (report.msConv, report.msBatchNorm, report.msOther) = (ms(.conv), ms(.batchNorm), ms(.other))
        (report.msLoss, report.msOptimizer, report.msCommunication) = (ms(.loss), ms(.optimizer), ms(.communication))
        let convSeconds = (profile.seconds[.conv] ?? 0) / Double(settings.steps)
        report.convGFLOPSPerSecond = r(flops.convolution / max(convSeconds, 1e-12) / 1e9)
        let bf16 = settings.precision.roundsToBF16 && settings.precision != .bf16Reference
        let peak = dataParallel.size == 1 ? limits?.peakGFLOPS(bf16: bf16) : nil
        if let peak {
            report.fractionOfPeak = r(stepFLOPs / median / 1e9 / peak)
            report.convFractionOfPeak = r(report.convGFLOPSPerSecond / peak)
            report.peak = r(peak)
        }
        report.passes = ConvolutionKernel.Pass.allCases.map { pass in
            let p = profile.convolutionPasses[pass] ?? (0, 0)
            let rate = p.flops / max(p.seconds, 1e-12) / 1e9
            return BenchReport.ConvolutionPass(name: pass.name, ms: r(p.seconds / Double(settings.steps) * 1000), gflopsPerSecond: r(rate),
                                               fractionOfPeak: peak.map { r(rate / $0) })
        }
        (report.arch, report.batch, report.imageSize, report.threads) = (settings.model.arch.rawValue, settings.batchSize,
                                                                        settings.imageSize, threads)
        (report.precision, report.blasCore, report.convolutions) = (settings.precision.rawValue, BLAS.coreName,
                                                                    ConvolutionLibrary.description)
        (report.worldSize, report.perRankBatch) = (dataParallel.size, imagesPerRank)
        (report.smallCrops, report.smallCropSize) = (settings.multiCrop?.count ?? 0, settings.multiCrop?.size ?? 0)
        report.convAlgorithm = settings.convAlgorithm.rawValue
        report.winograd = model.namedConvolutions.contains { conv in
            ConvolutionKernel.Pass.allCases.contains { (conv.layer.lastKernel?.algorithm(of: $0) ?? .direct) != .direct }
        }
        report.msAugmentPerView = views.augmentationSecondsPerView.map { r($0 * 1000) }
        report.machine = limits
        report.times = times
        (report.convolutionGFLOP, report.headGFLOP) = (flops.convolution * world / 1e9, flops.head * world / 1e9)
        (report.bf16, report.workers, report.distributed) = (bf16, settings.workers, distributed)
        return report
    }
}
