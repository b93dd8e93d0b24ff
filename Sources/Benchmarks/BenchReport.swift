import Foundation
import Kernels
import NeuralNet
import Training

/// The figures of a `simclr bench` run: a table for people (`lines`) and one JSON object for scripts (the
/// report itself, through `JSONEncoder`; every time in ms, every value rounded to 3 decimals).
public struct BenchReport: Codable {
    public var imagesPerSecond = 0.0, msPerStep = 0.0, gflopsPerSecond = 0.0, gflopPerStep = 0.0
    /// Means over the timed steps: compute, waiting for communication, the gradient all-reduce on its thread,
    /// and waiting for data.
    public var msCompute = 0.0, msCommWait = 0.0, msGradComm = 0.0, msDataWait = 0.0
    /// Gradient buckets per step, those not ready before backward ended (mean), and the share of gradient
    /// communication hidden behind compute (mean; docs/bucket-plan.md, note 'Overlap').
    public var buckets = 0, lateBuckets = 0.0, hiddenFraction = 1.0
    /// Per step, by kind of work (`WorkKind`).
    public var msConv = 0.0, msBatchNorm = 0.0, msOther = 0.0, msLoss = 0.0, msOptimizer = 0.0, msCommunication = 0.0
    public var convGFLOPSPerSecond = 0.0
    /// Model FLOP/s as a fraction of the measured matrix-product rate (one rank, with the roofline measured).
    public var fractionOfRoofline: Double?, convFractionOfRoofline: Double?
    public var arch = "", batch = 0, imageSize = 0, threads = 0, precision = "", blasCore = "", convolutions = ""
    public var worldSize = 1, perRankBatch = 0, smallCrops = 0, smallCropSize = 0, winograd = false
    public var msAugmentPerView: Double?
    public var machine: MachineLimits?

    /// Step times (seconds), the rest of what the table shows.
    public var times: [Double] = []
    var convolutionGFLOP = 0.0, headGFLOP = 0.0, roofline: Double?, bf16 = false, workers = 0, distributed = false

    enum CodingKeys: String, CodingKey {
        case imagesPerSecond = "img_per_s", msPerStep = "ms_per_step", gflopsPerSecond = "gflops_per_s"
        case gflopPerStep = "gflop_per_step", msCompute = "ms_compute", msCommWait = "ms_comm_wait"
        case msGradComm = "ms_grad_comm", msDataWait = "ms_data_wait", buckets, lateBuckets = "late_buckets"
        case hiddenFraction = "hidden_fraction", msConv = "ms_conv", msBatchNorm = "ms_bn", msOther = "ms_other"
        case msLoss = "ms_loss", msOptimizer = "ms_optimizer", msCommunication = "ms_communication"
        case convGFLOPSPerSecond = "conv_gflops_per_s", fractionOfRoofline = "fraction_of_roofline"
        case convFractionOfRoofline = "conv_fraction_of_roofline", arch, batch, imageSize = "image_size", threads
        case precision, blasCore = "blas_core", convolutions, worldSize = "world_size", perRankBatch = "per_rank_batch"
        case smallCrops = "small_crops", smallCropSize = "small_crop_size", winograd
        case msAugmentPerView = "ms_augment_per_view", machine
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
        var lines = [String(format: "median: %.1f img/s, %.1f ms/step (min %.1f, max %.1f ms)", imagesPerSecond, msPerStep,
                            (times.min() ?? 0) * 1000, (times.max() ?? 0) * 1000)]
        var line = String(format: "model FLOPs per step: %.1f GFLOP (convolutions %.1f, head %.2f); achieved %.1f GFLOP/s",
                          gflopPerStep, convolutionGFLOP, headGFLOP, gflopsPerSecond)
        if let roofline, worldSize == 1 {
            line += String(format: " = %.0f%% of the measured %@ matrix-product rate", 100 * gflopsPerSecond / roofline,
                           bf16 ? "bf16" : "fp32")
        }
        lines.append(line)
        if winograd {
            lines.append("  (model FLOPs: 3x3 stride-1 convolutions run Winograd F(4x4,3x3), which multiplies less, so their "
                         + "rate can pass the matrix-product rate; SIMCLR_CONV_ALGORITHM=direct to compare)")
        }
        if distributed {
            lines.append(String(format: "per step: compute %.1f ms, waiting for communication %.1f ms, gradient all-reduce %.1f ms "
                                + "on its thread (%.0f%% hidden by overlap), %.1f of %d buckets late", msCompute, msCommWait,
                                msGradComm, 100 * hiddenFraction, lateBuckets, buckets))
        }
        lines.append("per-step time by kind (mean over timed steps):")
        let total = times.reduce(0, +) * 1000 / Double(max(times.count, 1))
        for (name, ms) in kinds where ms > 0 {
            var row = "  " + name.padding(toLength: 10, withPad: " ", startingAt: 0) +
                String(format: "%9.1f ms  %5.1f%%", ms, 100 * ms / total)
            if name == WorkKind.conv.rawValue {
                row += String(format: "  %7.1f GFLOP/s", convGFLOPSPerSecond)
                if let roofline, worldSize == 1 {
                    row += String(format: " (%.0f%% of the matrix-product rate)", 100 * convGFLOPSPerSecond / roofline)
                }
            }
            lines.append(row)
        }
        if let perView = msAugmentPerView {
            lines.append(String(format: "data: augmentation %.3f ms per view on one thread (%.0f views/s per worker); the step "
                                + "consumes %.0f views/s; waited %.1f ms per step for data (%.1f%% of the step) with %d workers",
                                perView, 1000 / perView, imagesPerSecond, msDataWait, 100 * msDataWait / msPerStep, workers))
        }
        return lines
    }
}

extension MachineLimits {
    /// The machine's peaks, two lines.
    public var lines: [String] {
        [String(format: "peak, nominal: %d threads x %d fp32 lanes x 2 (FMA) x 2 FMA pipes x %.2f GHz (%@) = %.1f GFLOP/s fp32",
                threads, fp32Lanes, clockMHz / 1000, clockSource, nominalFP32GFLOPS)
            + (nominalBF16GFLOPS.map { String(format: ", %.1f bf16", $0) } ?? ""),
         String(format: "peak, measured: FMA loop %.1f GFLOP/s fp32", fmaLoopFP32GFLOPS)
            + (fmaLoopBF16GFLOPS.map { String(format: ", %.1f bf16 (vdpbf16ps)", $0) } ?? "")
            + String(format: "; matrix product %d^3: oneDNN %.1f fp32", gemmSize, gemmFP32GFLOPS)
            + (gemmBF16GFLOPS.map { String(format: ", %.1f bf16", $0) } ?? "")
            + String(format: ", OpenBLAS sgemm %.1f", sgemmGFLOPS)]
    }
}
