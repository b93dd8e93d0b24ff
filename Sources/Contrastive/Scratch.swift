import Kernels

/// Grow-only raw memory for per-row scratch values (losses, ranks, norms); reallocated only when a
/// larger size is asked for, so steady-state calls do not allocate. Contents do not survive a resize.
final class Scratch<Element> {
    private(set) var pointer: UnsafeMutablePointer<Element>
    private(set) var capacity = 0
    private let zero: Element

    init(_ zero: Element) {
        self.zero = zero
        pointer = .allocate(capacity: 1)
        pointer.initialize(to: zero)
    }

    func reserve(_ count: Int) {
        guard count > capacity else { return }
        pointer.deinitialize(count: max(capacity, 1))
        pointer.deallocate()
        pointer = .allocate(capacity: count)
        pointer.initialize(repeating: zero, count: count)
        capacity = count
    }

    deinit {
        pointer.deinitialize(count: max(capacity, 1))
        pointer.deallocate()
    }
}

/// A tensor of at least `count` elements: `tensor` itself when it is large enough, else a new one.
/// (matmul reads only the leading rows x columns elements, so a larger buffer serves smaller shapes.)
func atLeast(_ count: Int, _ tensor: Tensor) -> Tensor {
    tensor.count >= count ? tensor : Tensor(shape: [count])
}

