import CKernels

/// A dense bfloat16 array (the upper 16 bits of a float32), the storage of the bf16 path's
/// convolution operands. Values are produced by rounding float32 to nearest even.
public final class BF16Tensor {
    public let count: Int
    let base: UnsafeMutablePointer<UInt16>

    public init(count: Int) {
        precondition(count >= 0, "negative bf16 tensor size")
        self.count = count
        let raw = UnsafeMutableRawPointer.allocate(byteCount: max(count, 1) * 2, alignment: 64)
        base = raw.bindMemory(to: UInt16.self, capacity: max(count, 1))
        base.initialize(repeating: 0, count: count)
    }

    deinit { UnsafeMutableRawPointer(base).deallocate() }

    /// Rounds `source` (same element count) into this tensor.
    public func round(from source: Tensor) {
        precondition(source.count == count, "bf16 copy of \(source.count) elements into \(count)")
        sk_f32_to_bf16(source.base, base, count)
    }

    /// The values as float32.
    public var floats: [Float] {
        var out = [Float](repeating: 0, count: count)
        out.withUnsafeMutableBufferPointer { sk_bf16_to_f32(base, $0.baseAddress!, count) }
        return out
    }

    var rawAddress: UnsafeRawPointer { UnsafeRawPointer(base) }
}

public enum BFloat16 {
    /// float32 -> nearest bf16 (ties to even; denormals to signed zero) -> float32, element-wise.
    public static func round(_ source: Tensor, into destination: Tensor) {
        precondition(source.count == destination.count, "bf16 rounding of \(source.count) elements into \(destination.count)")
        sk_round_to_bf16(source.base, destination.base, source.count)
    }

    /// float32 -> nearest bf16 bit patterns (ties to even; denormals to signed zero), element-wise: a gradient's
    /// wire format (`--grad-compression bf16`).
    public static func encode(_ source: UnsafePointer<Float>, into destination: UnsafeMutablePointer<UInt16>, count: Int) {
        sk_f32_to_bf16(source, destination, count)
    }

    /// bf16 bit patterns -> float32 (exact), element-wise.
    public static func decode(_ source: UnsafePointer<UInt16>, into destination: UnsafeMutablePointer<Float>, count: Int) {
        sk_bf16_to_f32(source, destination, count)
    }

    /// One value rounded as the kernels round it.
    public static func round(_ value: Float) -> Float {
        var v = value, r: Float = 0
        sk_round_to_bf16(&v, &r, 1)
        return r
    }
}
