import Foundation
import Kernels

/// A size sweep of the collectives the training step uses, in nccl-tests' terms (its `-b 8 -e 64M -f 2`):
/// for each message size, the time of one call and the algorithm and bus bandwidths
/// (docs/collective-algorithms.md). The points are what the scaling model's latency-bandwidth fit reads.
public struct BandwidthSweep: Sendable {
    public enum Collective: String, CaseIterable, Sendable {
        /// In-place MPI_Allreduce (sum) of floats: the gradient buckets, SyncBN statistics, the gather's backward.
        case allReduce = "allreduce"
        /// MPI_Allgather of floats: the embedding gather.
        case allGather = "allgather"
    }

    public var collectives: [Collective] = [.allReduce, .allGather]
    public var minimumBytes = 8
    public var maximumBytes = 64 << 20
    /// Each size is this factor times the previous one.
    public var factor = 2
    /// Seconds spent timing each size (after warm-up): the iteration count follows from the warm-up's time.
    public var secondsPerSize = 0.25
    public var minimumIterations = 3
    public var maximumIterations = 200

    public init() {}

    /// The sizes in bytes, `minimumBytes` to `maximumBytes`.
    public var sizes: [Int] {
        var sizes: [Int] = []
        var s = max(1, minimumBytes)
        while s <= maximumBytes {
            sizes.append(s)
            s *= max(2, factor)
        }
        return sizes
    }

    /// Runs the sweep on `group`; `report` sees each point as it is measured (on every rank). Collective.
    public func run(on group: any ProcessGroup, report: (BandwidthMeasurement) -> Void = { _ in }) throws -> [BandwidthMeasurement] {
        var points: [BandwidthMeasurement] = []
        // One buffer of the largest size for each collective, reused for every size (no allocation per size).
        let largest = max(1, maximumBytes / 4)
        let reduceBuffer = Tensor(shape: [largest], repeating: 1)
        let gatherLocal = Tensor(shape: [max(1, largest / group.size)], repeating: 1)
        let gatherResult = Tensor(shape: [gatherLocal.count * group.size])
        // The first calls of a run set up connections: keep them out of the first size's figures.
        for _ in 0..<5 {
            try reduceBuffer.withUnsafeMutableBufferPointer { try group.allReduce($0.baseAddress!, count: 1024, kind: .float, op: .sum) }
        }
        for collective in collectives {
            var previousBytes = -1
            for size in sizes {
                let point: BandwidthMeasurement
                switch collective {
                case .allReduce:
                    let count = max(1, size / 4)
                    point = try measure(collective, bytes: count * 4, group: group) {
                        try reduceBuffer.withUnsafeMutableBufferPointer {
                            try group.allReduce($0.baseAddress!, count: count, kind: .float, op: .sum)
                        }
                    }
                case .allGather:
                    let count = max(1, size / 4 / group.size)
                    if count * 4 * group.size == previousBytes { continue }  // tiny sizes round to the same message
                    point = try measure(collective, bytes: count * 4 * group.size, group: group) {
                        try gatherLocal.withUnsafeBufferPointer { send in
                            try gatherResult.withUnsafeMutableBufferPointer { receive in
                                try group.allGather(send.baseAddress!, count: count, kind: .float, into: receive.baseAddress!)
                            }
                        }
                    }
                }
                previousBytes = point.bytes
                points.append(point)
                report(point)
            }
        }
        return points
    }

    /// Times `body`: warm-up calls, then as many timed calls as fit `secondsPerSize` (every rank agrees on the
    /// count), after a synchronizing call. The time is the slowest rank's mean.
    private func measure(_ collective: Collective, bytes: Int, group: any ProcessGroup, _ body: () throws -> Void) throws -> BandwidthMeasurement {
        var start = monotonicSeconds()
        try body()
        try body()
        let warm = try group.allReduceMax((monotonicSeconds() - start) / 2)
        let iterations = warm > 0 ? max(minimumIterations, min(maximumIterations, Int(secondsPerSize / warm))) : maximumIterations
        _ = try group.allReduceMax(0.0)    // everyone starts together
        start = monotonicSeconds()
        for _ in 0..<iterations { try body() }
        let seconds = try group.allReduceMax((monotonicSeconds() - start) / Double(iterations))
        let n = Double(group.size)
        let algbw = seconds > 0 ? Double(bytes) / seconds : 0
        let busFactor = collective == .allReduce ? 2 * (n - 1) / n : (n - 1) / n
        return BandwidthMeasurement(collective: collective.rawValue, bytes: bytes, ranks: group.size, iterations: iterations,
                                    seconds: seconds, busBandwidth: algbw * busFactor)
    }
}

extension BandwidthMeasurement {
    public static let csvHeader = "collective,ranks,bytes,iterations,seconds,algbw_gbps,busbw_gbps"
    /// algbw and busbw in GB/s (10^9 bytes), as nccl-tests prints them.
    public var csvRow: String {
        "\(collective),\(ranks),\(bytes),\(iterations),\(String(format: "%.6e", seconds)),"
            + String(format: "%.4f,%.4f", algorithmBandwidth / 1e9, busBandwidth / 1e9)
    }
}
