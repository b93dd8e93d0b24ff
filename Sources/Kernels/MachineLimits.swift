import CKernels
import Foundation

/// The machine's arithmetic limits as `simclr bench` reports them: a nominal peak from cpuid, the measured
/// FMA instruction throughput, and a measured matrix-product roofline (fp32 and, where the CPU has it, bf16).
public struct MachineLimits: Codable {
    public var threads: Int
    public var cpu: String
    /// Clock used for the nominal peak: cpuid's maximum, else the kernel's nominal `cpu MHz`.
    public var clockMHz: Double
    public var clockSource: String
    public var fp32Lanes: Int
    /// Nominal: threads x lanes x 2 (multiply and add) x 2 FMA pipes x clock; bf16 does 2 products per lane.
    public var nominalFP32GFLOPS: Double
    public var nominalBF16GFLOPS: Double?
    /// A loop of independent FMAs (vdpbf16ps for bf16) on every thread.
    public var fmaLoopFP32GFLOPS: Double
    public var fmaLoopBF16GFLOPS: Double?
    /// oneDNN matrix products of `gemmSize`^3, the best of a few runs, on `threads` threads.
    public var gemmSize: Int
    public var gemmFP32GFLOPS: Double
    public var gemmBF16GFLOPS: Double?
    /// OpenBLAS sgemm of the same size (the library the rest of the package uses for products).
    public var sgemmGFLOPS: Double

    /// Measures (about a second). `threads` is the thread count of the step being benchmarked.
    public static func measure(threads: Int, gemmSize n: Int = 2048) -> MachineLimits {
        let cpu = CPUFeatures.current
        var clock = Double(cpu.maxMHz), source = "cpuid leaf 0x16 (maximum)"
        if clock == 0, let text = try? String(contentsOfFile: "/proc/cpuinfo", encoding: .utf8),
           let line = text.split(separator: "\n").first(where: { $0.hasPrefix("cpu MHz") }),
           let mhz = Double(line.split(separator: ":").last!.trimmingCharacters(in: .whitespaces)) {
            clock = mhz
            source = "/proc/cpuinfo (nominal; turbo may run higher)"
        }
        let lanes = cpu.fp32Lanes
        let nominal = Double(threads * lanes * 2 * 2) * clock / 1000
        let bf16 = cpu.avx512BF16
        // One FMA loop per thread, at the same time, as the step runs.
        let loop = { (bf16: Bool) -> Double in
            let rates = UnsafeMutableBufferPointer<Double>.allocate(capacity: threads)
            defer { rates.deallocate() }
            Parallel.forEach(threads) { t in rates[t] = sk_fma_peak_gflops(bf16 ? 1 : 0, 4_000_000) }
            return rates.reduce(0, +)
        }
        let previous = Parallel.threadCount
        Parallel.threadCount = threads
        defer { Parallel.threadCount = previous }
        let a = Tensor(shape: [n * n], repeating: 0.0078125), c = Tensor(shape: [n * n])
        var best = 0.0
        for _ in 0..<3 {
            let start = DispatchTime.now().uptimeNanoseconds
            matmul(a, rows: n, inner: n, a, columns: n, into: c)
            best = max(best, 2 * pow(Double(n), 3) / (Double(DispatchTime.now().uptimeNanoseconds - start) * 1e-9) / 1e9)
        }
        let n32 = Int32(n), t32 = Int32(threads)
        return MachineLimits(threads: threads, cpu: cpu.summary, clockMHz: clock, clockSource: source, fp32Lanes: lanes,
                             nominalFP32GFLOPS: nominal, nominalBF16GFLOPS: bf16 ? 2 * nominal : nil,
                             fmaLoopFP32GFLOPS: loop(false), fmaLoopBF16GFLOPS: bf16 ? loop(true) : nil, gemmSize: n,
                             gemmFP32GFLOPS: sk_dnnl_matmul_gflops(n32, n32, n32, 0, t32, 3),
                             gemmBF16GFLOPS: bf16 ? sk_dnnl_matmul_gflops(n32, n32, n32, 1, t32, 3) : nil,
                             sgemmGFLOPS: best)
    }

    /// The measured roofline of a precision: the best large matrix product.
    public func gemmGFLOPS(bf16: Bool) -> Double { bf16 ? (gemmBF16GFLOPS ?? gemmFP32GFLOPS) : gemmFP32GFLOPS }
}
