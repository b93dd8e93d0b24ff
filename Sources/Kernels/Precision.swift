/// The arithmetic of convolutions and Linear layers (docs/precision.md).
///
/// - `fp32`: everything in float32.
/// - `bf16`: PyTorch CPU autocast semantics: convolution and Linear operands (input, weight, and the
///   output gradient in backward) rounded to bfloat16, products accumulated in float32, results in
///   float32; master weights, optimizer state, BatchNorm, loss and cross-rank gradients stay float32.
///   Runs on the CPU's bf16 instructions.
/// - `bf16Reference`: the same rounding, computed by the float32 kernels on values rounded to bf16.
///   Products of two bf16 values are exact in float32, so it equals `bf16` up to float32 summation
///   order; it runs on every CPU (tests, and CPUs without bf16 instructions).
public enum ComputePrecision: String, CaseIterable, Codable {
    case fp32, bf16, bf16Reference = "bf16-reference"

    /// Whether operands are rounded to bf16 (natively or not).
    public var roundsToBF16: Bool { self != .fp32 }

    /// bf16 on a CPU without bf16 instructions is an error, never a silent slowdown. The message names the
    /// setting `precision` in backquotes.
    public func checkSupported() throws {
        guard self == .bf16, !CPUFeatures.current.hasFastBF16 else { return }
        throw UnsupportedPrecision(description: """
            `precision` bf16 needs bf16 instructions (AVX512_BF16, or AMX tiles the OS grants); this CPU has none: \
            \(CPUFeatures.current.summary). Use `precision` fp32, or `precision` bf16-reference to get bf16's \
            rounding computed in fp32 (for checking numerics, not for speed).
            """)
    }
}

/// A precision this CPU cannot run (`ComputePrecision.checkSupported`).
public struct UnsupportedPrecision: Error, CustomStringConvertible {
    public let description: String
}
