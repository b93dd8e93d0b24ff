import Synchronization

/// Where a large tensor's memory starts, so that large buffers used side by side do not alias in the L1 cache's
/// way predictor.
///
/// AMD Zen cores pick the L1 data cache's way by a small tag hashed from virtual-address bits 12-27
/// ("µtag"; Lipp et al., "Take A Way", AsiaCCS 2020). Two lines with the same set and the same µtag cannot stay
/// in L1 together, so a loop that walks several buffers whose addresses agree in bits 6-27 misses L1 on every
/// access. Large allocations are separate mmaps, which glibc and the kernel often place at addresses that agree
/// in all those bits: measured on a Zen 4 machine, the SGD update over parameters, gradients and momentum
/// (46 MB each) took 37-42 ms per step instead of 6-9 ms when the three buffers lay 128 MiB apart (a C loop
/// over three buffers 0x8000000 bytes apart: 165 ms; adjacent, or moved 16 KiB or more apart: 9-13 ms).
/// It depended on what else the process had mapped first (a second thread's malloc arena made it likely), so
/// it came and went between runs of the same command.
///
/// So every allocation of at least `minimumBytes` gets a color: the next value of a counter, modulo `colors`,
/// written into address bits 14-17 (`colorStride` = 16 KiB). Two large buffers allocated one after the other
/// always differ in those bits, whatever addresses the allocator returned; the cost is up to
/// `colors` x 16 KiB of slack per large buffer (at most 6% of the smallest).
public enum BufferPlacement {
    /// Allocations below this size are placed as the allocator returns them.
    public static let minimumBytes = 4 << 20
    public static let colorStride = 16 << 10
    public static let colors = 16
    private static let allocations = Atomic<Int>(0)

    /// Bytes to request for `bytes` of payload (the slack that lets `start(in:)` pick a color).
    public static func requestedBytes(for bytes: Int) -> Int {
        bytes >= minimumBytes ? bytes + colors * colorStride : bytes
    }

    /// Where the payload of `bytes` starts inside an allocation of `requestedBytes(for: bytes)` at `raw`.
    /// Keeps `raw`'s alignment below `colorStride`.
    public static func start(in raw: UnsafeMutableRawPointer, bytes: Int) -> UnsafeMutableRawPointer {
        guard bytes >= minimumBytes else { return raw }
        let color = allocations.wrappingAdd(1, ordering: .relaxed).oldValue & (colors - 1)
        let current = (Int(bitPattern: raw) / colorStride) & (colors - 1)
        return raw + ((color - current) & (colors - 1)) * colorStride
    }

    /// The color of an address: its bits 14-17.
    public static func color(of address: UnsafeRawPointer) -> Int {
        (Int(bitPattern: address) / colorStride) & (colors - 1)
    }
}
