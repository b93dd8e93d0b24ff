import Foundation

/// The processes a run spans and the collectives among them.
///
/// Two kinds exist. `Communicator` is an MPI communicator: the ranks an MPI launcher started (or a duplicate
/// of them). `SingleProcess` is the world of one a process started without a launcher is: it never touches
/// MPI, and every collective is the identity (a sum over one rank leaves the values as they are, a gather
/// or a broadcast copies), so training and evaluation code has one path for any number of ranks.
///
/// A group implements four primitives on raw memory; every typed collective (`allReduceSum`, `broadcast`,
/// `allGather`, `allGatherV` on tensors, arrays and strings) is built on them once, in extensions below
/// and in AllReduce.swift, Broadcast.swift and AllGather.swift. Collectives must be called on every rank of
/// the group, in the same order.
public protocol ProcessGroup: AnyObject, Sendable {
    /// This process's rank in the group, 0..<size.
    var rank: Int { get }
    var size: Int { get }
    /// This process's rank in the whole job, for messages.
    var worldRank: Int { get }

    /// Reduces `count` elements at `values` over the ranks, in place.
    func allReduce(_ values: UnsafeMutableRawPointer, count: Int, kind: MPIElementKind, op: ReductionOp) throws
    /// Copies the root's `count` elements at `values` into every rank's `values`.
    func broadcast(_ values: UnsafeMutableRawPointer, count: Int, kind: MPIElementKind, root: Int) throws
    /// Every rank's `count` elements at `send`, in rank order, into `receive` (size * count elements).
    /// The pointers may be nil where there are no elements.
    func allGather(_ send: UnsafeRawPointer?, count: Int, kind: MPIElementKind, into receive: UnsafeMutableRawPointer?) throws
    /// Rank r's `counts[r]` elements, in rank order, into `receive` (sum of `counts` elements).
    func allGatherV(_ send: UnsafeRawPointer?, counts: [Int], kind: MPIElementKind, into receive: UnsafeMutableRawPointer?) throws

    /// Non-blocking forms, for a communication thread that keeps several collectives in flight
    /// (PendingCollective.swift). A group without them runs the collective now and returns it completed.
    func startAllReduce(_ values: UnsafeMutableRawPointer, count: Int, kind: MPIElementKind, op: ReductionOp) throws -> PendingCollective
    /// Block r of `send` (`count` elements) goes to rank r; block r of `receive` comes from rank r.
    func startAllToAll(_ send: UnsafeRawPointer, count: Int, kind: MPIElementKind, into receive: UnsafeMutableRawPointer) throws -> PendingCollective
    func startAllGather(_ send: UnsafeRawPointer, count: Int, kind: MPIElementKind, into receive: UnsafeMutableRawPointer) throws -> PendingCollective

    /// A group over the same processes whose collectives never interleave with this one's (MPI_Comm_dup),
    /// for a second thread (the gradient reducer's). Collective.
    func duplicateGroup() throws -> any ProcessGroup
    /// Releases a duplicate. Collective.
    func free() throws
    /// Ends the whole job with `message` on stderr (no rank is left waiting in a collective for this one).
    func abort(message: String, code: Int32) -> Never
}

extension ProcessGroup {
    public func abort(message: String) -> Never { abort(message: message, code: 1) }

    /// Runs `body`; if it throws, aborts the job with the error's description.
    public func abortOnError<T>(_ what: String, _ body: () throws -> T) -> T {
        do { return try body() } catch { abort(message: "\(what): \(error)") }
    }

    /// True on rank 0, the rank that writes files and logs.
    public var isLeader: Bool { rank == 0 }

    public func startAllReduce(_ values: UnsafeMutableRawPointer, count: Int, kind: MPIElementKind,
                               op: ReductionOp) throws -> PendingCollective {
        try allReduce(values, count: count, kind: kind, op: op)
        return PendingCollective(completedCall: "allReduce", count: count)
    }

    public func startAllGather(_ send: UnsafeRawPointer, count: Int, kind: MPIElementKind,
                               into receive: UnsafeMutableRawPointer) throws -> PendingCollective {
        try allGather(send, count: count, kind: kind, into: receive)
        return PendingCollective(completedCall: "allGather", count: count * size)
    }

    /// All-to-all from the primitives: every rank gathers all blocks and keeps the ones sent to it (W times
    /// the bytes of a real all-to-all; `Communicator` uses MPI_Ialltoall).
    public func startAllToAll(_ send: UnsafeRawPointer, count: Int, kind: MPIElementKind,
                              into receive: UnsafeMutableRawPointer) throws -> PendingCollective {
        let blockBytes = count * kind.byteCount
        let gathered = UnsafeMutableRawPointer.allocate(byteCount: max(1, blockBytes * size * size), alignment: 16)
        defer { gathered.deallocate() }
        try allGather(send, count: count * size, kind: kind, into: gathered)
        for r in 0..<size {
            (receive + r * blockBytes).copyMemory(from: gathered + (r * size + rank) * blockBytes, byteCount: blockBytes)
        }
        return PendingCollective(completedCall: "allToAll", count: count * size)
    }
}

/// The world of one of a process started without an MPI launcher (see `ProcessGroup`). MPI is never
/// initialized: a sum over one rank is the values themselves, a gather or broadcast copies.
public final class SingleProcess: ProcessGroup {
    public let rank = 0
    public let size = 1
    public let worldRank = 0

    public init() {}

    public func allReduce(_ values: UnsafeMutableRawPointer, count: Int, kind: MPIElementKind, op: ReductionOp) throws {}

    public func broadcast(_ values: UnsafeMutableRawPointer, count: Int, kind: MPIElementKind, root: Int) throws {
        try checkRoot(root, "broadcast")
    }

    public func allGather(_ send: UnsafeRawPointer?, count: Int, kind: MPIElementKind, into receive: UnsafeMutableRawPointer?) throws {
        copy(send, into: receive, count: count, kind: kind)
    }

    public func allGatherV(_ send: UnsafeRawPointer?, counts: [Int], kind: MPIElementKind, into receive: UnsafeMutableRawPointer?) throws {
        copy(send, into: receive, count: counts[0], kind: kind)
    }

    public func duplicateGroup() throws -> any ProcessGroup { SingleProcess() }

    public func free() throws {}

    public func abort(message: String, code: Int32) -> Never {
        FileHandle.standardError.write(Data("\(message)\n".utf8))
        exit(code)
    }

    private func copy(_ send: UnsafeRawPointer?, into receive: UnsafeMutableRawPointer?, count: Int, kind: MPIElementKind) {
        guard count > 0, let send, let receive else { return }
        receive.copyMemory(from: send, byteCount: count * kind.byteCount)
    }

    private func checkRoot(_ root: Int, _ call: String) throws {
        guard root == 0 else {
            throw ClusterError.invalidArgument(call: call, message: "root \(root) in a world of one", rank: 0)
        }
    }
}
