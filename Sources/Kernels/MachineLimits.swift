import CKernels
import Foundation

/// The machine's arithmetic limits as `simclr bench` reports them: the clock under load, the FMA (and
/// `vdpbf16ps`) instruction rate, the peak both imply, and large matrix products as the rate real code reaches.
///
/// The peak is measured, not read from a data sheet: a loop of nothing but independent FMAs (enough chains for
/// every FMA pipe) on every thread at once, or, where that loop falls short of it, the clock under load (a chain
/// of dependent integer additions, one per cycle, on every thread at once) times the FMA instructions per cycle
/// that loop implies, rounded to a whole number, times the FLOPs of one instruction. Rounding alone would
/// understate the peak where the FMA loop runs at a higher clock than the additions (here it completed 1.09
/// FMAs per cycle of the addition chain's clock): the peak is never below what the FMA loop measured, so no
/// fraction of it passes 100% for real work.
public struct MachineLimits: Codable {
    public var threads: Int
    public var cpu: String
    /// The clock cpuid or the kernel states (for comparison: turbo and load move the real one).
    public var nominalClockMHz: Double
    public var nominalClockSource: String
    /// The mean clock of the threads, each running a chain of dependent additions, all at once.
    public var clockUnderLoadMHz: Double
    public var fp32Lanes: Int
    /// FMA loop on every thread at once: GFLOP/s, and FMA instructions per cycle per core.
    public var fmaLoopFP32GFLOPS: Double
    public var fmaPerCycleFP32: Double
    /// max(FMA loop, threads x clock under load x FLOPs per instruction x round(FMA instructions per cycle)).
    public var peakFP32GFLOPS: Double
    /// The same for `vdpbf16ps` (nil without AVX512_BF16).
    public var fmaLoopBF16GFLOPS: Double?
    public var fmaPerCycleBF16: Double?
    public var peakBF16GFLOPS: Double?
    /// oneDNN matrix products of `gemmSize`^3, the best of a few runs, on `threads` threads.
    public var gemmSize: Int
    public var gemmFP32GFLOPS: Double
    public var gemmBF16GFLOPS: Double?
    /// OpenBLAS sgemm of the same size as the package runs it (single-threaded calls split over the threads).
    public var sgemmGFLOPS: Double

    /// Measures (about three seconds). `threads` is the thread count of the step being benchmarked.
    public static func measure(threads: Int, gemmSize n: Int = 2048) -> MachineLimits {
        let cpu = CPUFeatures.current
        var nominal = Double(cpu.maxMHz), source = "cpuid leaf 0x16 (maximum)"
        if nominal == 0, let text = try? String(contentsOfFile: "/proc/cpuinfo", encoding: .utf8),
           let line = text.split(separator: "\n").first(where: { $0.hasPrefix("cpu MHz") }),
           let mhz = Double(line.split(separator: ":").last!.trimmingCharacters(in: .whitespaces)) {
            nominal = mhz
            source = "/proc/cpuinfo"
        }
        let clock = sk_clock_hz(Int32(threads), 0.25)
        /// (GFLOP/s over all threads, instructions per cycle per core, peak GFLOP/s).
        func loop(bf16: Bool) -> (Double, Double, Double)? {
            var flopsPerInstruction = 0.0
            let total = sk_fma_loop(bf16 ? 1 : 0, Int32(threads), 0.25, &flopsPerInstruction)
            guard total > 0, clock > 0 else { return nil }
            let perCycle = total / Double(threads) / clock
            let measured = total * flopsPerInstruction / 1e9
            let fromClock = Double(threads) * clock * flopsPerInstruction * max(1, perCycle.rounded()) / 1e9
            return (measured, perCycle, max(measured, fromClock))
        }
        let fp32 = loop(bf16: false) ?? (0, 0, 0)
        let bf16 = cpu.avx512BF16 ? loop(bf16: true) : nil

        let a = Tensor(shape: [n * n], repeating: 0.0078125), c = Tensor(shape: [n * n])
        var best = 0.0
        for _ in 0..<3 {
            let start = DispatchTime.now().uptimeNanoseconds
            matmul(a, rows: n, inner: n, a, columns: n, into: c)
            best = max(best, 2 * pow(Double(n), 3) / (Double(DispatchTime.now().uptimeNanoseconds - start) * 1e-9) / 1e9)
        }
        let n32 = Int32(n), t32 = Int32(threads)
        return MachineLimits(threads: threads, cpu: cpu.summary, nominalClockMHz: nominal, nominalClockSource: source,
                             clockUnderLoadMHz: clock / 1e6, fp32Lanes: cpu.fp32Lanes,
                             fmaLoopFP32GFLOPS: fp32.0, fmaPerCycleFP32: fp32.1, peakFP32GFLOPS: fp32.2,
                             fmaLoopBF16GFLOPS: bf16?.0, fmaPerCycleBF16: bf16?.1, peakBF16GFLOPS: bf16?.2,
                             gemmSize: n,
                             gemmFP32GFLOPS: sk_dnnl_matmul_gflops(n32, n32, n32, 0, t32, 3),
                             gemmBF16GFLOPS: cpu.avx512BF16 ? sk_dnnl_matmul_gflops(n32, n32, n32, 1, t32, 3) : nil,
                             sgemmGFLOPS: best)
    }

    /// The peak of a precision (bf16 falls back to fp32 without bf16 instructions).
    public func peakGFLOPS(bf16: Bool) -> Double { bf16 ? (peakBF16GFLOPS ?? peakFP32GFLOPS) : peakFP32GFLOPS }
    /// The best large matrix product of a precision: what well-blocked real code reaches.
    public func gemmGFLOPS(bf16: Bool) -> Double { bf16 ? (gemmBF16GFLOPS ?? gemmFP32GFLOPS) : gemmFP32GFLOPS }
}
