import Kernels

extension ProcessGroup {
    /// Every rank's tensor, in rank order, into `result` (result.count == size * local.count).
    public func allGather(_ local: Tensor, into result: Tensor) throws {
        guard result.count == local.count * size else {
            throw ClusterError.invalidArgument(call: "MPI_Allgather",
                message: "result has \(result.count) elements, \(size) ranks x \(local.count) need \(local.count * size)", rank: worldRank)
        }
        try local.withUnsafeBufferPointer { send in
            try result.withUnsafeMutableBufferPointer { receive in
                try allGather(send.baseAddress!, count: local.count, kind: .float, into: receive.baseAddress!)
            }
        }
    }

    /// Every rank's tensor stacked along the first dimension in rank order: [size * d0, d1, ...].
    public func allGather(_ local: Tensor) throws -> Tensor {
        var shape = local.shape
        if shape.isEmpty { shape = [size] } else { shape[0] *= size }
        let result = Tensor(shape: shape)
        try allGather(local, into: result)
        return result
    }

    /// Every rank's array (all of the same length), concatenated in rank order.
    public func allGather<T: MPIElement>(_ values: [T]) throws -> [T] {
        var result = [T](repeating: 0, count: values.count * size)
        try values.withUnsafeBytes { send in
            try result.withUnsafeMutableBytes { receive in
                try allGather(send.baseAddress, count: values.count, kind: T.mpiElementKind, into: receive.baseAddress)
            }
        }
        return result
    }

    /// Rank r contributes `counts[r]` elements (its own must equal local.count); the result holds them in
    /// rank order and must have sum(counts) elements.
    public func allGatherV(_ local: Tensor, counts: [Int], into result: Tensor) throws {
        guard counts.count == size, counts[rank] == local.count, result.count == counts.reduce(0, +) else {
            throw ClusterError.invalidArgument(call: "MPI_Allgatherv",
                message: "counts \(counts) do not match \(size) ranks, a local tensor of \(local.count) and a result of \(result.count)",
                rank: worldRank)
        }
        try local.withUnsafeBufferPointer { send in
            try result.withUnsafeMutableBufferPointer { receive in
                try allGatherV(send.baseAddress!, counts: counts, kind: .float, into: receive.baseAddress!)
            }
        }
    }

    /// Variable-count all-gather: first gathers every rank's count, then the data (flat, rank order).
    public func allGatherV(_ local: Tensor) throws -> (values: Tensor, counts: [Int]) {
        let counts = try allGather([Int64(local.count)]).map { Int($0) }
        let result = Tensor(shape: [counts.reduce(0, +)])
        try allGatherV(local, counts: counts, into: result)
        return (result, counts)
    }

    /// Variable-length all-gather of arrays: element r of the result is rank r's array.
    public func allGatherV<T: MPIElement>(_ values: [T]) throws -> [[T]] {
        let counts = try allGather([Int64(values.count)]).map { Int($0) }
        var flat = [T](repeating: 0, count: counts.reduce(0, +))
        try values.withUnsafeBytes { send in
            try flat.withUnsafeMutableBytes { receive in
                try allGatherV(send.baseAddress, counts: counts, kind: T.mpiElementKind, into: receive.baseAddress)
            }
        }
        var result: [[T]] = []
        var offset = 0
        for c in counts { result.append(Array(flat[offset..<offset + c])); offset += c }
        return result
    }
}
