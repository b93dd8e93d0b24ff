import ArgumentParser
import Kernels

/// `--precision bf16` on a CPU without bf16 instructions is an error, never a silent slowdown.
func checkPrecisionSupported(_ precision: ComputePrecision) throws {
    guard precision == .bf16, !CPUFeatures.current.hasFastBF16 else { return }
    throw ValidationError("""
        --precision bf16 needs bf16 instructions (AVX512_BF16, or AMX tiles the OS grants); this CPU has none: \
        \(CPUFeatures.current.summary). Use --precision fp32, or --precision bf16-reference to get bf16's \
        rounding computed in fp32 (for checking numerics, not for speed).
        """)
}
