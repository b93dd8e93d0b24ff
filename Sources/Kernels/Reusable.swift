/// Memory that a `Reusable` can allocate: a tensor, a bf16 tensor or a raw typed buffer of `count` elements.
public protocol ReusableStorage: AnyObject {
    var count: Int { get }
    init(count: Int)
}

/// The one buffer-reuse idiom of the layers, the loss and the collectives: a buffer kept from one step to the
/// next and replaced only when a call needs a different size, so steady-state steps allocate nothing.
/// Contents do not survive a replacement.
public struct Reusable<Storage: ReusableStorage> {
    public private(set) var storage: Storage?

    public init() {}

    /// A buffer of exactly `count` elements.
    @discardableResult
    public mutating func get(count: Int) -> Storage {
        if let s = storage, s.count == count { return s }
        return replace(count)
    }

    /// A buffer of at least `count` elements that only ever grows: for kernels that read a leading part (a
    /// matrix product reads only rows x columns elements, so a larger buffer serves smaller shapes).
    @discardableResult
    public mutating func atLeast(_ count: Int) -> Storage {
        if let s = storage, s.count >= count { return s }
        return replace(count)
    }

    /// The buffer of the last `get`/`atLeast`.
    public var current: Storage {
        guard let storage else { preconditionFailure("Reusable buffer read before it was sized") }
        return storage
    }

    private mutating func replace(_ count: Int) -> Storage {
        let s = Storage(count: count)
        storage = s
        return s
    }
}

public typealias ReusableTensor = Reusable<Tensor>
public typealias ReusableBF16Tensor = Reusable<BF16Tensor>

extension Tensor: ReusableStorage {
    public convenience init(count: Int) { self.init(shape: [count]) }
}

extension BF16Tensor: ReusableStorage {}

extension Reusable where Storage == Tensor {
    /// A tensor of exactly this shape (a different shape with the same count is a new tensor, since the
    /// shape is part of a tensor).
    public mutating func get(_ shape: [Int]) -> Tensor {
        if let t = storage, t.shape == shape { return t }
        let t = Tensor(shape: shape)
        storage = t
        return t
    }
}

/// Zero-initialized raw memory of plain values (per-row losses, ranks, norms).
public final class RawBuffer<Element: BitwiseCopyable & ExpressibleByIntegerLiteral>: ReusableStorage {
    public let count: Int
    public let pointer: UnsafeMutablePointer<Element>

    public init(count: Int) {
        self.count = count
        pointer = .allocate(capacity: max(count, 1))
        pointer.initialize(repeating: 0, count: max(count, 1))
    }

    deinit { pointer.deallocate() }
}
