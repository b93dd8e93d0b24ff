/// A dense float32 array with a shape, backed by memory it owns or shares with a parent tensor.
///
/// Tensors are reference types: layers allocate their activation and gradient tensors once and
/// reuse them every step. A view (`view(offset:shape:)`) aliases part of another tensor's memory,
/// which is how parameters and gradients live inside one flat buffer each.
public final class Tensor {
    public let shape: [Int]
    public let count: Int
    /// First element. Internal: only kernels touch raw memory.
    let base: UnsafeMutablePointer<Float>
    /// Keeps the owner of the memory alive for views; nil when this tensor owns its memory.
    private let parent: Tensor?
    /// The allocation holding `base` when this tensor owns its memory (large ones start inside it:
    /// `BufferPlacement`).
    private let allocation: UnsafeMutableRawPointer?

    public init(shape: [Int], repeating value: Float = 0) {
        precondition(shape.allSatisfy { $0 >= 0 }, "negative dimension in shape \(shape)")
        self.shape = shape
        self.count = shape.reduce(1, *)
        // 64-byte alignment suits AVX-512 loads and keeps cache lines whole.
        let bytes = max(count, 1) * 4
        let raw = UnsafeMutableRawPointer.allocate(byteCount: BufferPlacement.requestedBytes(for: bytes), alignment: 64)
        self.allocation = raw
        self.base = BufferPlacement.start(in: raw, bytes: bytes).bindMemory(to: Float.self, capacity: max(count, 1))
        self.base.initialize(repeating: value, count: count)
        self.parent = nil
    }

    public convenience init(shape: [Int], values: [Float]) {
        precondition(values.count == shape.reduce(1, *),
                     "\(values.count) values do not fill shape \(shape)")
        self.init(shape: shape)
        values.withUnsafeBufferPointer { base.update(from: $0.baseAddress!, count: count) }
    }

    private init(viewOf parent: Tensor, offset: Int, shape: [Int]) {
        self.shape = shape
        self.count = shape.reduce(1, *)
        precondition(offset >= 0 && offset + count <= parent.count,
                     "view [\(offset), \(offset + count)) outside a tensor of \(parent.count) elements")
        self.base = parent.base + offset
        self.parent = parent
        self.allocation = nil
    }

    deinit {
        allocation?.deallocate()
    }

    /// A tensor that aliases `shape.product` elements of this one starting at `offset`.
    public func view(offset: Int = 0, shape: [Int]) -> Tensor {
        Tensor(viewOf: self, offset: offset, shape: shape)
    }

    /// The same memory under another shape with the same element count.
    public func reshaped(_ newShape: [Int]) -> Tensor { view(offset: 0, shape: newShape) }

    public subscript(index: Int) -> Float {
        get { precondition(index >= 0 && index < count, "index \(index) out of range 0..<\(count)"); return base[index] }
        set { precondition(index >= 0 && index < count, "index \(index) out of range 0..<\(count)"); base[index] = newValue }
    }

    public var array: [Float] { Array(UnsafeBufferPointer(start: base, count: count)) }

    public func fill(_ value: Float) { base.update(repeating: value, count: count) }

    public func copy(from other: Tensor) {
        precondition(other.count == count, "copy of \(other.count) elements into \(count)")
        base.update(from: other.base, count: count)
    }

    public func copy(from values: [Float]) {
        precondition(values.count == count, "copy of \(values.count) elements into \(count)")
        values.withUnsafeBufferPointer { base.update(from: $0.baseAddress!, count: count) }
    }

    /// First element, for loops over tensors the caller keeps alive for the whole use
    /// (tensor memory never moves during its lifetime).
    public var address: UnsafeMutablePointer<Float> { base }

    public func withUnsafeBufferPointer<R>(_ body: (UnsafeBufferPointer<Float>) throws -> R) rethrows -> R {
        try body(UnsafeBufferPointer(start: base, count: count))
    }

    public func withUnsafeMutableBufferPointer<R>(_ body: (UnsafeMutableBufferPointer<Float>) throws -> R) rethrows -> R {
        try body(UnsafeMutableBufferPointer(start: base, count: count))
    }
}

extension Tensor: CustomStringConvertible {
    public var description: String {
        let head = (0..<min(count, 6)).map { String(base[$0]) }.joined(separator: ", ")
        return "Tensor(shape: \(shape), [\(head)\(count > 6 ? ", ..." : "")])"
    }
}
