import Kernels

extension ProcessGroup {
    /// Sums the tensor over all ranks, in place.
    public func allReduceSum(_ tensor: Tensor) throws {
        try allReduceSum(tensor, range: 0..<tensor.count)
    }

    /// Sums elements `range` of the tensor over all ranks, in place (the rest is untouched).
    public func allReduceSum(_ tensor: Tensor, range: Range<Int>) throws {
        guard range.lowerBound >= 0 && range.upperBound <= tensor.count else {
            throw ClusterError.invalidArgument(call: "MPI_Allreduce",
                                               message: "range \(range) outside a tensor of \(tensor.count) elements", rank: worldRank)
        }
        guard !range.isEmpty else { return }
        try tensor.withUnsafeMutableBufferPointer {
            try allReduce($0.baseAddress! + range.lowerBound, count: range.count, kind: .float, op: .sum)
        }
    }

    /// Reduces the array elementwise over all ranks, in place (the arrays must have equal lengths).
    public func allReduce<T: MPIElement>(_ values: inout [T], op: ReductionOp) throws {
        guard !values.isEmpty else { return }
        try values.withUnsafeMutableBytes { try allReduce($0.baseAddress!, count: $0.count / MemoryLayout<T>.stride, kind: T.mpiElementKind, op: op) }
    }

    /// Sums the array elementwise over all ranks, in place ([Float], [Double], [Int64], ...).
    public func allReduceSum<T: MPIElement>(_ values: inout [T]) throws { try allReduce(&values, op: .sum) }

    public func allReduceSum<T: MPIElement>(_ value: T) throws -> T { try reduceScalar(value, .sum) }
    public func allReduceMax(_ value: Double) throws -> Double { try reduceScalar(value, .max) }
    public func allReduceMin(_ value: Double) throws -> Double { try reduceScalar(value, .min) }
    public func allReduceMax(_ value: Int64) throws -> Int64 { try reduceScalar(value, .max) }
    public func allReduceMin(_ value: Int64) throws -> Int64 { try reduceScalar(value, .min) }

    private func reduceScalar<T: MPIElement>(_ value: T, _ op: ReductionOp) throws -> T {
        var v = value
        try withUnsafeMutableBytes(of: &v) { try allReduce($0.baseAddress!, count: 1, kind: T.mpiElementKind, op: op) }
        return v
    }
}
