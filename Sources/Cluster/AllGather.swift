import CMPI
import Kernels

extension Communicator {
    /// MPI_Allgather: every rank's tensor, in rank order, into `result` (result.count == size * local.count).
    public func allGather(_ local: Tensor, into result: Tensor) throws {
        guard result.count == local.count * size else {
            throw ClusterError.invalidArgument(call: "MPI_Allgather",
                message: "result has \(result.count) elements, \(size) ranks x \(local.count) need \(local.count * size)", rank: worldRank)
        }
        let n = try mpiCount(local.count, "MPI_Allgather")
        try local.withUnsafeBufferPointer { send in
            try result.withUnsafeMutableBufferPointer { recv in
                try checkMPI(MPI_Allgather(send.baseAddress!, n, cmpi_float(), recv.baseAddress!, n, cmpi_float(), handle),
                             "MPI_Allgather", rank: worldRank)
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
        let n = try mpiCount(values.count, "MPI_Allgather")
        let type = T.mpiElementKind.datatype
        try values.withUnsafeBytes { send in
            try result.withUnsafeMutableBytes { recv in
                try checkMPI(MPI_Allgather(send.baseAddress, n, type, recv.baseAddress, n, type, handle),
                             "MPI_Allgather", rank: worldRank)
            }
        }
        return result
    }

    /// MPI_Allgatherv: rank r contributes `counts[r]` elements (its own must equal local.count); the result
    /// holds them in rank order and must have sum(counts) elements.
    public func allGatherV(_ local: Tensor, counts: [Int], into result: Tensor) throws {
        let call = "MPI_Allgatherv"
        guard counts.count == size, counts[rank] == local.count, result.count == counts.reduce(0, +) else {
            throw ClusterError.invalidArgument(call: call,
                message: "counts \(counts) do not match \(size) ranks, a local tensor of \(local.count) and a result of \(result.count)",
                rank: worldRank)
        }
        let counts32 = try counts.map { try mpiCount($0, call) }
        var displacements = [Int32](repeating: 0, count: size)
        var offset = 0
        for r in 0..<size { displacements[r] = try mpiCount(offset, call); offset += counts[r] }
        try local.withUnsafeBufferPointer { send in
            try result.withUnsafeMutableBufferPointer { recv in
                try checkMPI(MPI_Allgatherv(send.baseAddress!, counts32[rank], cmpi_float(),
                                            recv.baseAddress!, counts32, displacements, cmpi_float(), handle),
                             call, rank: worldRank)
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
}

extension Communicator {
    /// Variable-length all-gather of arrays: element r of the result is rank r's array.
    public func allGatherV<T: MPIElement>(_ values: [T]) throws -> [[T]] {
        let call = "MPI_Allgatherv"
        let counts = try allGather([Int64(values.count)]).map { Int($0) }
        var flat = [T](repeating: 0, count: counts.reduce(0, +))
        let counts32 = try counts.map { try mpiCount($0, call) }
        var displacements = [Int32](repeating: 0, count: size)
        var offset = 0
        for r in 0..<size { displacements[r] = try mpiCount(offset, call); offset += counts[r] }
        let type = T.mpiElementKind.datatype
        try values.withUnsafeBytes { send in
            try flat.withUnsafeMutableBytes { recv in
                try checkMPI(MPI_Allgatherv(send.baseAddress, counts32[rank], type, recv.baseAddress, counts32, displacements,
                                            type, handle), call, rank: worldRank)
            }
        }
        var result: [[T]] = []
        offset = 0
        for c in counts { result.append(Array(flat[offset..<offset + c])); offset += c }
        return result
    }
}
