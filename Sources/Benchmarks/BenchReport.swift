import Foundation
import Kernels
import NeuralNet

/// The figures of a `simclr bench` run: a table for people (`lines`) and one JSON object for scripts (the
/// report itself, through `JSONEncoder`; every time in ms, every value rounded to 3 decimals).
public struct BenchReport: Codable {
    /// Images per second (as pretraining counts them: each gives two views) and the global views the network
    /// ran per second (twice as many; multi-crop's small crops not counted).
    public var imagesPerSecond = 0.0, viewsPerSecond = 0.0
    public var msPerStep = 0.0, gflopsPerSecond = 0.0, gflopPerStep = 0.0
    /// Means over the timed steps: compute, waiting for communication, the gradient all-reduce on its thread,
    /// and waiting for data.
    public var msCompute = 0.0, msCommWait = 0.0, msGradComm = 0.0, msDataWait = 0.0
    /// Gradient buckets per step, those not ready before backward ended (mean), and the share of gradient
    /// communication hidden behind compute (mean; docs/bucket-plan.md, note 'Overlap').
    public var buckets = 0, lateBuckets = 0.0, hiddenFraction = 1.0
    /// Per step, by kind of work (`WorkKind`).
    public var msConv = 0.0, msBatchNorm = 0.0, msOther = 0.0, msLoss = 0.0, msOptimizer = 0.0, msCommunication = 0.0
    public var convGFLOPSPerSecond = 0.0
    /// Model FLOP/s as a fraction of the machine's measured peak of the step's precision (one rank, with the
    /// peak measured), and that peak.
    public var fractionOfPeak: Double?, convFractionOfPeak: Double?, peak: Double?
    /// Each convolution pass: ms per step, model GFLOP/s (what a direct convolution of the shapes computes),
    /// fraction of the peak.
    public struct ConvolutionPass: Codable {
        public var name: String, ms: Double, gflopsPerSecond: Double, fractionOfPeak: Double?
        enum CodingKeys: String, CodingKey { case name, ms, gflopsPerSecond = "gflops_per_s", fractionOfPeak = "fraction_of_peak" }
    }
    public var passes: [ConvolutionPass] = []
    /// `batch` and `perRankBatch` count images (each two views).
    public var arch = "", batch = 0, imageSize = 0, threads = 0, precision = "", blasCore = "", convolutions = ""
    public var worldSize = 1, perRankBatch = 0, smallCrops = 0, smallCropSize = 0
    /// `--conv-algorithm`, and whether some convolution pass ran a Winograd algorithm.
    public var convAlgorithm = "", winograd = false
    public var msAugmentPerView: Double?
    public var machine: MachineLimits?
    /// Distributed: whether the timed steps overlapped, the gradient payload per rank and step (MB), the chunk
    /// size the communication thread ended with (KiB), and that thread's CPU per step.
    public var overlap: Bool?, gradPayloadMB: Double?, chunkKB: Double?, msCommThreadCPU: Double?
    /// Distributed with overlap: the CPUs the communication thread may run on, as the kernel reports them
    /// (one CPU when `--comm-cpu` bound it).
    public var commThreadCPUs: [Int]?
    /// Distributed: the gradient compression (none, bf16, powersgd).
    public var gradCompression: String?
    /// Emulated compute (`--emulate`): the profile's compute per rank and step that was replayed, and what
    /// stretched it (`EmulatedCPUSharing`: core, thread, none).
    public var emulated: Bool?, msReplayedCompute: Double?, emulatedCPUSharing: String?
    /// Emulated compute: per timed step, how much the replayed compute was lengthened by what else took the
    /// rank's core (`EmulatedCPUSharing`; 0 with none).
    public var msReplayStretch: Double?
    /// Emulated compute: the gradients travelled at 1/emulateScale of their size (`grad_payload_mb` is what
    /// travelled).
    public var emulateScale: Int?
    /// Emulated compute: the factor replayed compute was slowed by (`BenchSettings.emulateSlowdown`).
    public var emulateSlowdown: Double?
    /// Emulated compute with one real rank (`BenchSettings.emulateRealRank`): that rank (the report is rank 0's).
    public var emulateRealRank: Int?
    /// Distributed with overlap: the interleaved steps without it (median step, mean compute and wait), and what
    /// overlap costs compute (overlapped compute minus compute without, and their ratio).
    public var msPerStepNoOverlap: Double?, msComputeNoOverlap: Double?, msCommWaitNoOverlap: Double?
    public var msComputeSlowdown: Double?, computeSlowdownRatio: Double?
    /// This rank's CPU use per timed step (interleaved no-overlap steps included): its main thread, the
    /// process, and the core it is bound to (`HostCPUUse`).
    public var host: HostCPUUse?

    /// Step times (seconds), the rest of what the table shows.
    public var times: [Double] = []
    var convolutionGFLOP = 0.0, headGFLOP = 0.0, bf16 = false, workers = 0, distributed = false

    enum CodingKeys: String, CodingKey {
        case imagesPerSecond = "img_per_s", viewsPerSecond = "views_per_s", msPerStep = "ms_per_step", gflopsPerSecond = "gflops_per_s"
        case gflopPerStep = "gflop_per_step", msCompute = "ms_compute", msCommWait = "ms_comm_wait"
        case msGradComm = "ms_grad_comm", msDataWait = "ms_data_wait", buckets, lateBuckets = "late_buckets"
        case hiddenFraction = "hidden_fraction", msConv = "ms_conv", msBatchNorm = "ms_bn", msOther = "ms_other"
        case msLoss = "ms_loss", msOptimizer = "ms_optimizer", msCommunication = "ms_communication"
        case convGFLOPSPerSecond = "conv_gflops_per_s", fractionOfPeak = "fraction_of_peak", peak = "peak_gflops_per_s"
        case convFractionOfPeak = "conv_fraction_of_peak", passes = "conv_passes", arch, batch, imageSize = "image_size", threads
        case precision, blasCore = "blas_core", convolutions, worldSize = "world_size", perRankBatch = "per_rank_batch"
        case smallCrops = "small_crops", smallCropSize = "small_crop_size", convAlgorithm = "conv_algorithm"
        case winograd
        case msAugmentPerView = "ms_augment_per_view", machine
        case emulated, msReplayedCompute = "ms_replayed_compute", emulatedCPUSharing = "emulated_cpu_sharing", emulateScale = "emulate_scale", emulateSlowdown = "emulate_slowdown"
        case emulateRealRank = "emulate_real_rank", msReplayStretch = "ms_replay_stretch"
        case gradCompression = "grad_compression", overlap, gradPayloadMB = "grad_payload_mb", chunkKB = "chunk_kb", msCommThreadCPU = "ms_comm_thread_cpu"
        case commThreadCPUs = "comm_thread_cpus"
        case msPerStepNoOverlap = "ms_per_step_no_overlap", msComputeNoOverlap = "ms_compute_no_overlap"
        case msCommWaitNoOverlap = "ms_comm_wait_no_overlap", msComputeSlowdown = "ms_compute_slowdown"
        case computeSlowdownRatio = "compute_slowdown_ratio", host
    }

    public init() {}

    /// The JSON object on one line: keys sorted, `"key": value` joined by `, `, nested objects compact (the
    /// layout earlier versions printed, which scripts such as deploy/scaling.sh read with grep).
    public var json: String {
        let encoder = JSONEncoder()
        encoder.outputFormatting = [.sortedKeys]
        let object = try! JSONSerialization.jsonObject(with: encoder.encode(self)) as! [String: Any]
        let fields = object.keys.sorted().map { key in
            let value = try! JSONSerialization.data(withJSONObject: object[key]!, options: [.sortedKeys, .fragmentsAllowed])
            return "\"\(key)\": " + String(decoding: value, as: UTF8.self)
        }
        return "{" + fields.joined(separator: ", ") + "}"
    }

    /// Milliseconds per step of each kind of work, in `WorkKind` order.
    var kinds: [(name: String, ms: Double)] {
        [(WorkKind.conv.rawValue, msConv), (WorkKind.batchNorm.rawValue, msBatchNorm), (WorkKind.other.rawValue, msOther),
         (WorkKind.loss.rawValue, msLoss), (WorkKind.optimizer.rawValue, msOptimizer),
         (WorkKind.communication.rawValue, msCommunication)]
    }

    /// The table: throughput, model FLOP/s against the roofline, communication, time by kind, data.
    public var lines: [String] {
        var lines = [String(format: "median: %.1f img/s (%.1f views/s), %.1f ms/step (min %.1f, max %.1f ms)", imagesPerSecond,
                            viewsPerSecond, msPerStep,
                            (times.min() ?? 0) * 1000, (times.max() ?? 0) * 1000)]
        var line = String(format: "model FLOPs per step: %.1f GFLOP (convolutions %.1f, head %.2f); achieved %.1f GFLOP/s",
                          gflopPerStep, convolutionGFLOP, headGFLOP, gflopsPerSecond)
        if let peak, worldSize == 1 {
            line += String(format: " = %.0f%% of the machine's %@ peak", 100 * gflopsPerSecond / peak, bf16 ? "bf16" : "fp32")
        }
        lines.append(line)
        if winograd {
            lines.append("  (model FLOPs: passes that run Winograd multiply less than the shapes imply, so their rate can pass "
                         + "the peak; --conv-algorithm direct to compare)")
        }
        if distributed {
            lines.append(String(format: "per step: compute %.1f ms, waiting for communication %.1f ms, gradient all-reduce %.1f ms "
                                + "on its thread (%.0f%% hidden by overlap), %.1f of %d buckets late", msCompute, msCommWait,
                                msGradComm, 100 * hiddenFraction, lateBuckets, buckets))
            if let gradPayloadMB, let msCommThreadCPU, let chunkKB {
                lines.append(String(format: "gradients: %.1f MB payload per step per rank; communication thread CPU %.1f ms per step; "
                                    + "chunks of %.0f KiB", gradPayloadMB, msCommThreadCPU, chunkKB)
                             + (commThreadCPUs.map { "; communication thread on CPU\($0.count == 1 ? "" : "s") " + $0.map(String.init).joined(separator: ",") } ?? ""))
            }
            if let step = msPerStepNoOverlap, let compute = msComputeNoOverlap, let wait = msCommWaitNoOverlap,
               let slowdown = msComputeSlowdown, let ratio = computeSlowdownRatio {
                lines.append(String(format: "without overlap (interleaved steps): %.1f ms/step, compute %.1f ms, waiting %.1f ms",
                                    step, compute, wait))
                lines.append(String(format: "overlap slows compute by %+.1f ms (x%.2f) and changes the step by %+.1f ms",
                                    slowdown, ratio, msPerStep - step))
            }
        }
        lines.append("per-step time by kind (mean over timed steps):")
        let total = times.reduce(0, +) * 1000 / Double(max(times.count, 1))
        for (name, ms) in kinds where ms > 0 {
            var row = "  " + name.padding(toLength: 10, withPad: " ", startingAt: 0) +
                String(format: "%9.1f ms  %5.1f%%", ms, 100 * ms / total)
            if name == WorkKind.conv.rawValue {
                row += String(format: "  %7.1f GFLOP/s", convGFLOPSPerSecond)
                if let peak, worldSize == 1 { row += String(format: " (%.0f%% of peak)", 100 * convGFLOPSPerSecond / peak) }
            }
            lines.append(row)
        }
        lines.append("convolutions by pass (model FLOPs; mean over timed steps):")
        for pass in passes where pass.ms > 0 {
            var row = "  " + pass.name.padding(toLength: 17, withPad: " ", startingAt: 0)
                + String(format: "%9.1f ms  %7.1f GFLOP/s", pass.ms, pass.gflopsPerSecond)
            if let f = pass.fractionOfPeak { row += String(format: " (%.0f%% of peak)", 100 * f) }
            lines.append(row)
        }
        if let perView = msAugmentPerView {
            lines.append(String(format: "data: augmentation %.3f ms per view on one thread (%.0f views/s per worker); the step "
                                + "consumes %.0f views/s; waited %.1f ms per step for data (%.1f%% of the step) with %d workers",
                                perView, 1000 / perView, viewsPerSecond, msDataWait, 100 * msDataWait / msPerStep, workers))
        }
        return lines
    }
}

extension MachineLimits {
    /// The clock under load, the peaks it implies, and large matrix products as a share of them: three lines.
    public var lines: [String] {
        [String(format: "clock under load: %.2f GHz on %d threads (stated: %.2f GHz, %@)", clockUnderLoadMHz / 1000, threads,
                nominalClockMHz / 1000, nominalClockSource),
         String(format: "peak: fp32 %.1f GFLOP/s (FMA loop %.1f = %.2f FMA/cycle/core)", peakFP32GFLOPS, fmaLoopFP32GFLOPS,
                fmaPerCycleFP32)
            + (peakBF16GFLOPS.map { String(format: ", bf16 %.1f (vdpbf16ps loop %.1f = %.2f/cycle/core)", $0,
                                           fmaLoopBF16GFLOPS ?? 0, fmaPerCycleBF16 ?? 0) } ?? ""),
         String(format: "matrix product %d^3: oneDNN fp32 %.1f GFLOP/s (%.0f%% of peak)", gemmSize, gemmFP32GFLOPS,
                100 * gemmFP32GFLOPS / peakFP32GFLOPS)
            + (gemmBF16GFLOPS.map { String(format: ", bf16 %.1f (%.0f%%)", $0, 100 * $0 / peakGFLOPS(bf16: true)) } ?? "")
            + String(format: ", OpenBLAS sgemm %.1f (%.0f%%)", sgemmGFLOPS, 100 * sgemmGFLOPS / peakFP32GFLOPS)]
    }
}
