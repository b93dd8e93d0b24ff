import Foundation
import Kernels

/// One collective's measured speed, in nccl-tests' terms.
public struct BandwidthMeasurement: Sendable {
    public let collective: String
    /// nccl-tests' "size": the all-reduced buffer, or the whole all-gathered output.
    public let bytes: Int
    public let ranks: Int
    public let iterations: Int
    /// Mean time of one call (the slowest rank's mean).
    public let seconds: Double
    /// bytes / seconds.
    public var algorithmBandwidth: Double { seconds > 0 ? Double(bytes) / seconds : 0 }
    /// What each link carries: algbw * 2(n-1)/n for all-reduce, algbw * (n-1)/n for all-gather.
    public let busBandwidth: Double

    public static let tableHeader = "collective      bytes  ranks  iters    time(us)  algbw(GB/s)  busbw(GB/s)"
    public var tableRow: String {
        func pad(_ s: String, _ w: Int) -> String { String(repeating: " ", count: max(0, w - s.count)) + s }
        return pad(collective, 10) + pad(String(bytes), 11) + pad(String(ranks), 7) + pad(String(iterations), 7)
            + pad(String(format: "%.1f", seconds * 1e6), 12) + pad(String(format: "%.3f", algorithmBandwidth / 1e9), 13)
            + pad(String(format: "%.3f", busBandwidth / 1e9), 13)
    }
}

extension Communicator {
    /// Times MPI_Allreduce (sum, in place) of a float buffer of `allReduceBytes`. Collective.
    public func busBandwidth(allReduceBytes bytes: Int, iterations: Int = 20, warmup: Int = 3) throws -> BandwidthMeasurement {
        let buffer = Tensor(shape: [max(1, bytes / 4)], repeating: 1)
        let seconds = try timeCollective(iterations: iterations, warmup: warmup) { try allReduceSum(buffer) }
        let n = Double(size)
        let algbw = seconds > 0 ? Double(buffer.count * 4) / seconds : 0
        return BandwidthMeasurement(collective: "allreduce", bytes: buffer.count * 4, ranks: size, iterations: iterations,
                                    seconds: seconds, busBandwidth: algbw * 2 * (n - 1) / n)
    }

    /// Times MPI_Allgather whose whole output is `allGatherBytes` (each rank contributes 1/size of it). Collective.
    public func busBandwidth(allGatherBytes bytes: Int, iterations: Int = 20, warmup: Int = 3) throws -> BandwidthMeasurement {
        let local = Tensor(shape: [max(1, bytes / 4 / size)], repeating: 1)
        let result = Tensor(shape: [local.count * size])
        let seconds = try timeCollective(iterations: iterations, warmup: warmup) { try allGather(local, into: result) }
        let n = Double(size)
        let algbw = seconds > 0 ? Double(result.count * 4) / seconds : 0
        return BandwidthMeasurement(collective: "allgather", bytes: result.count * 4, ranks: size, iterations: iterations,
                                    seconds: seconds, busBandwidth: algbw * (n - 1) / n)
    }

    /// Mean seconds per call of `body`, the slowest rank's.
    private func timeCollective(iterations: Int, warmup: Int, _ body: () throws -> Void) throws -> Double {
        for _ in 0..<warmup { try body() }
        try barrier()
        let start = monotonicSeconds()
        for _ in 0..<max(1, iterations) { try body() }
        let mean = (monotonicSeconds() - start) / Double(max(1, iterations))
        return try allReduceMax(mean)
    }
}
