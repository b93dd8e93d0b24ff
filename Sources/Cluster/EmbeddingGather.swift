import Kernels

/// All-gather of projection embeddings for a global InfoNCE, with its backward.
///
/// SimCLR layout. Each rank holds its local embeddings `[2b, D]` as `[view1 of its b images; view2 of them]`.
/// `gatherViews` builds the global `[2B, D]` (B = W*b) as `[view1 of all B images; view2 of all B images]`,
/// images in rank order, i.e. exactly the single-process layout for the concatenated batch, so the positive
/// of global row i is row (i + B) mod 2B. This rank's anchors are `ownedRows`: r*b..<(r+1)*b and
/// B + r*b..<B + (r+1)*b.
///
/// Backward. Each rank computes the loss over its own anchors against all 2B rows, so it has a partial
/// gradient w.r.t. every gathered row. The true gradient of a row is the sum of all ranks' partials:
/// `viewsBackward` all-reduces (sums) the `[2B, D]` gradient and returns this rank's `[2b, D]` slice in the
/// local layout. (Returning only the local partial is the bug of lightly < 1.5.4.)
/// Scaling: if each rank's loss is the mean over its 2b anchors, the summed gradient is W times the gradient
/// of the global mean loss; averaging the parameter gradients over ranks (the gradient reducer's `average`)
/// then gives exactly the single-process gradient.
///
/// Scratch tensors are kept per shape, so repeated steps of one shape allocate nothing in the `into:` forms.
public final class EmbeddingGather {
    public let communicator: any ProcessGroup
    private var stacked = ReusableTensor()  // [W * 2b, D] as received: rank-major local layouts

    public init(communicator: any ProcessGroup) {
        self.communicator = communicator
    }

    private var world: Int { communicator.size }
    private var rank: Int { communicator.rank }

    /// `[W*b, D]`: every rank's `[b, D]` in rank order.
    public func allGatherRows(_ local: Tensor) throws -> Tensor {
        try communicator.allGather(local)
    }

    /// The same into a preallocated `[W*b, D]` tensor.
    public func allGatherRows(_ local: Tensor, into result: Tensor) throws {
        try communicator.allGather(local, into: result)
    }

    /// Global rows owned by this rank (its anchors) for a per-rank batch of `localBatch` images.
    public func ownedRows(localBatch b: Int) -> [Int] {
        let B = world * b
        return Array(rank * b..<(rank + 1) * b) + Array(B + rank * b..<B + (rank + 1) * b)
    }

    /// The global `[2B, D]` matrix in the single-process layout (see the type's notes).
    public func gatherViews(_ local: Tensor) throws -> Tensor {
        let (twoB, d) = try localShape(local)
        let result = Tensor(shape: [world * twoB, d])
        try gatherViews(local, into: result)
        return result
    }

    public func gatherViews(_ local: Tensor, into result: Tensor) throws {
        let (twoB, d) = try localShape(local)
        try requireShape(result, [world * twoB, d], "gatherViews")
        let stacked = self.stacked.get(count: result.count)
        try communicator.allGather(local, into: stacked)
        let b = twoB / 2, B = world * b
        stacked.withUnsafeBufferPointer { src in
            result.withUnsafeMutableBufferPointer { dst in
                for r in 0..<world {
                    for view in 0..<2 {
                        let from = (r * twoB + view * b) * d, to = (view * B + r * b) * d
                        (dst.baseAddress! + to).update(from: src.baseAddress! + from, count: b * d)
                    }
                }
            }
        }
    }

    /// Backward of `gatherViews`: sums the `[2B, D]` gradient over ranks (in place: `globalGradient` holds the
    /// total afterwards) and returns this rank's `[2b, D]` rows in the local layout.
    public func viewsBackward(_ globalGradient: Tensor) throws -> Tensor {
        guard globalGradient.shape.count == 2, globalGradient.shape[0] % (2 * world) == 0 else {
            throw ClusterError.invalidArgument(call: "viewsBackward",
                message: "gradient shape \(globalGradient.shape) is not [2B, D] with B a multiple of \(world)",
                rank: communicator.worldRank)
        }
        let local = Tensor(shape: [globalGradient.shape[0] / world, globalGradient.shape[1]])
        try viewsBackward(globalGradient, into: local)
        return local
    }

    public func viewsBackward(_ globalGradient: Tensor, into local: Tensor) throws {
        let (twoB, d) = try localShape(local)
        try requireShape(globalGradient, [world * twoB, d], "viewsBackward")
        try communicator.allReduceSum(globalGradient)
        let b = twoB / 2, B = world * b
        globalGradient.withUnsafeBufferPointer { src in
            local.withUnsafeMutableBufferPointer { dst in
                for view in 0..<2 {
                    (dst.baseAddress! + view * b * d).update(from: src.baseAddress! + (view * B + rank * b) * d, count: b * d)
                }
            }
        }
    }

    private func localShape(_ t: Tensor) throws -> (Int, Int) {
        guard t.shape.count == 2, t.shape[0] % 2 == 0 else {
            throw ClusterError.invalidArgument(call: "EmbeddingGather",
                message: "local embeddings have shape \(t.shape), expected [2b, D]", rank: communicator.worldRank)
        }
        return (t.shape[0], t.shape[1])
    }

    private func requireShape(_ t: Tensor, _ shape: [Int], _ call: String) throws {
        guard t.shape == shape else {
            throw ClusterError.invalidArgument(call: call, message: "tensor has shape \(t.shape), expected \(shape)",
                                               rank: communicator.worldRank)
        }
    }
}
