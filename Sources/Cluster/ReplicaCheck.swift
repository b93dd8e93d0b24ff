import Kernels

/// Result of comparing a replicated tensor across ranks.
public struct ReplicaReport: Sendable {
    /// Each rank's checksum of the tensor's bit patterns, by rank.
    public let checksums: [UInt64]
    /// Ranks whose tensor is not bit-identical to rank 0's.
    public let differingRanks: [Int]
    /// When some rank differs: per rank, how many elements differ from rank 0's and the largest |difference|.
    public let differingElements: [Int]?
    public let maxAbsDifference: [Float]?
    public var isConsistent: Bool { differingRanks.isEmpty }

    public var summary: String {
        if isConsistent { return "replicas bit-identical on \(checksums.count) rank(s)" }
        return differingRanks.map { r in
            "rank \(r): \(differingElements?[r] ?? -1) elements differ from rank 0, max |diff| \(maxAbsDifference?[r] ?? .nan)"
        }.joined(separator: "; ")
    }
}

/// Verifies that replicated parameters are still bit-identical on every rank.
///
/// Cheap in the normal case: a 64-bit checksum per rank, all-gathered. Only when checksums differ is rank 0's
/// tensor broadcast so each rank can count its differing elements for the report.
public enum ReplicaCheck {
    /// A 64-bit checksum of the float bit patterns (FNV-1a style, over 32-bit words; +0 and -0 differ).
    public static func checksum(_ tensor: Tensor) -> UInt64 {
        tensor.withUnsafeBufferPointer { values in
            var hash = FNV1a64()
            for v in values { hash.combine(UInt64(v.bitPattern)) }
            return hash.value ^ UInt64(values.count)
        }
    }

    /// Collective: compares every rank's tensor with rank 0's.
    public static func compare(_ tensor: Tensor, communicator: any ProcessGroup) throws -> ReplicaReport {
        let checksums = try communicator.allGather([checksum(tensor)])
        let differing = checksums.indices.filter { checksums[$0] != checksums[0] }
        guard !differing.isEmpty else {
            return ReplicaReport(checksums: checksums, differingRanks: [], differingElements: nil, maxAbsDifference: nil)
        }
        let reference = Tensor(shape: [tensor.count])
        if communicator.rank == 0 { reference.copy(from: tensor.reshaped([tensor.count])) }
        try communicator.broadcast(reference, root: 0)
        var count: Int64 = 0
        var maxDiff: Float = 0
        tensor.withUnsafeBufferPointer { mine in
            reference.withUnsafeBufferPointer { ref in
                for i in 0..<mine.count where mine[i].bitPattern != ref[i].bitPattern {
                    count += 1
                    maxDiff = max(maxDiff, abs(mine[i] - ref[i]))
                }
            }
        }
        let counts = try communicator.allGather([count]).map { Int($0) }
        let diffs = try communicator.allGather([maxDiff])
        return ReplicaReport(checksums: checksums, differingRanks: differing, differingElements: counts, maxAbsDifference: diffs)
    }

    /// Collective: throws `ClusterError.replicasDiffer` on every rank when some rank differs.
    public static func verify(_ tensor: Tensor, communicator: any ProcessGroup) throws {
        let report = try compare(tensor, communicator: communicator)
        if !report.isConsistent {
            throw ClusterError.replicasDiffer(message: report.summary, rank: communicator.worldRank,
                                              differingRanks: report.differingRanks)
        }
    }
}
