import CMPI
import Foundation

/// A collective that was started and may not have finished: what `ProcessGroup.startAllReduce` and its
/// siblings return. Its buffers belong to MPI until `isComplete()` has returned true.
///
/// A communication thread keeps a few of these in flight and tests them between short sleeps
/// (`CollectiveWaiting`), so it takes a core only when there is work to do (note 'Cheap waiting' in
/// docs/bucket-plan.md).
public final class PendingCollective {
    /// The MPI call, for messages ("MPI_Iallreduce").
    public let call: String
    /// Elements the call moves, for messages.
    public let count: Int
    private var request: MPI_Request?
    private var done: Bool
    private let rank: Int
    /// Runs once, on the thread that sees the collective finished (`TracedGroup` closes its span there).
    private var completionObserver: (() -> Void)?

    /// An MPI request to test.
    init(request: MPI_Request?, call: String, count: Int, rank: Int) {
        self.request = request; self.call = call; self.count = count; self.rank = rank
        done = false
    }

    /// A collective that finished when it started (a world of one, or a group without non-blocking calls).
    public init(completedCall call: String, count: Int) {
        self.call = call; self.count = count; rank = 0
        request = nil; done = true
    }

    /// MPI_Test: true once the collective finished on this rank (its output is then valid).
    public func isComplete() throws -> Bool {
        if done { return true }
        var flag: Int32 = 0
        try checkMPI(MPI_Test(&request, &flag, cmpi_status_ignore()), call, rank: rank)
        done = flag != 0
        if done, let observer = completionObserver {
            completionObserver = nil
            observer()
        }
        return done
    }

    /// Calls `observer` when `isComplete()` first returns true (now, if the collective already finished).
    func whenComplete(_ observer: @escaping () -> Void) {
        if done { observer() } else { completionObserver = observer }
    }
}

extension Communicator {
    /// MPI_Iallreduce of `count` elements at `values`, in place.
    public func startAllReduce(_ values: UnsafeMutableRawPointer, count: Int, kind: MPIElementKind,
                               op: ReductionOp) throws -> PendingCollective {
        let call = "MPI_Iallreduce", n = try mpiCount(count, call)
        var request: MPI_Request? = nil
        try checkMPI(MPI_Iallreduce(cmpi_in_place(), values, n, kind.datatype, op.op, handle, &request), call, rank: worldRank)
        return PendingCollective(request: request, call: call, count: count, rank: worldRank)
    }

    /// MPI_Ialltoall: block r of `send` (`count` elements each) goes to rank r; block r of `receive` comes from rank r.
    public func startAllToAll(_ send: UnsafeRawPointer, count: Int, kind: MPIElementKind,
                              into receive: UnsafeMutableRawPointer) throws -> PendingCollective {
        let call = "MPI_Ialltoall", n = try mpiCount(count, call)
        var request: MPI_Request? = nil
        try checkMPI(MPI_Ialltoall(send, n, kind.datatype, receive, n, kind.datatype, handle, &request), call, rank: worldRank)
        return PendingCollective(request: request, call: call, count: count * size, rank: worldRank)
    }

    /// MPI_Iallgather of `count` elements from every rank, in rank order.
    public func startAllGather(_ send: UnsafeRawPointer, count: Int, kind: MPIElementKind,
                               into receive: UnsafeMutableRawPointer) throws -> PendingCollective {
        let call = "MPI_Iallgather", n = try mpiCount(count, call)
        var request: MPI_Request? = nil
        try checkMPI(MPI_Iallgather(send, n, kind.datatype, receive, n, kind.datatype, handle, &request), call, rank: worldRank)
        return PendingCollective(request: request, call: call, count: count * size, rank: worldRank)
    }
}
