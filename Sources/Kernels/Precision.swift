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
}
