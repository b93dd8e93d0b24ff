import CMPI
import Foundation

/// An MPI communicator: the world (`Communicator.shared`) or a duplicate of it; the MPI `ProcessGroup`.
///
/// Errors: every communicator is set to MPI_ERRORS_RETURN, and every call checks the return code and throws
/// `ClusterError.mpi` naming the call and the world rank. When a rank fails in a way the others cannot see
/// (it throws before entering a collective), call `abort(message:)` so the job ends instead of hanging.
///
/// Threads: the instance is immutable after creation and may be used from any thread as far as MPI allows.
/// With MPI_THREAD_MULTIPLE, two threads may run collectives at the same time only on *different*
/// communicators (collectives on one communicator must be issued in the same order on every rank, which
/// two unsynchronized threads cannot guarantee). That is why the gradient reducer's thread uses `duplicate()`.
public final class Communicator: ProcessGroup, @unchecked Sendable {
    /// MPI_COMM_NULL after `free()`, so a later call gets MPI's MPI_ERR_COMM instead of touching freed memory.
    private(set) var handle: MPI_Comm?
    /// Rank of this process in this communicator.
    public let rank: Int
    /// Number of processes in this communicator.
    public let size: Int
    /// Rank among the processes of this communicator that share this node's memory (MPI_COMM_TYPE_SHARED).
    public let localRank: Int
    /// Number of processes of this communicator on this node.
    public let localSize: Int
    /// MPI_Get_processor_name (normally the host name).
    public let processorName: String
    /// Rank in MPI_COMM_WORLD, used in error messages.
    public let worldRank: Int
    public let isWorld: Bool
    private let freeLock = NSLock()
    private var freed = false

    init(handle: MPI_Comm?, isWorld: Bool) throws {
        self.handle = handle
        self.isWorld = isWorld
        var worldRank: Int32 = 0
        MPI_Comm_rank(cmpi_comm_world(), &worldRank)
        self.worldRank = Int(worldRank)
        try checkMPI(MPI_Comm_set_errhandler(handle, cmpi_errors_return()), "MPI_Comm_set_errhandler", rank: Int(worldRank))
        var rank: Int32 = 0, size: Int32 = 0
        try checkMPI(MPI_Comm_rank(handle, &rank), "MPI_Comm_rank", rank: Int(worldRank))
        try checkMPI(MPI_Comm_size(handle, &size), "MPI_Comm_size", rank: Int(worldRank))
        self.rank = Int(rank)
        self.size = Int(size)

        var local: MPI_Comm? = nil
        try checkMPI(MPI_Comm_split_type(handle, cmpi_comm_type_shared(), rank, cmpi_info_null(), &local),
                     "MPI_Comm_split_type", rank: Int(worldRank))
        var localRank: Int32 = 0, localSize: Int32 = 1
        MPI_Comm_rank(local, &localRank)
        MPI_Comm_size(local, &localSize)
        MPI_Comm_free(&local)
        self.localRank = Int(localRank)
        self.localSize = Int(localSize)

        var name = [CChar](repeating: 0, count: Int(cmpi_max_processor_name()) + 1)
        var length: Int32 = 0
        try checkMPI(MPI_Get_processor_name(&name, &length), "MPI_Get_processor_name", rank: Int(worldRank))
        self.processorName = String(decoding: name.prefix(Int(length)).map { UInt8(bitPattern: $0) }, as: UTF8.self)
    }

    deinit {
        // The world is never freed; duplicates are, unless MPI is already gone.
        if !isWorld && !freed && !Communicator.isFinalized { MPI_Comm_free(&handle) }
    }

    // MARK: world setup

    /// Initializes MPI (MPI_Init_thread requesting `threadLevel`) and returns the world communicator.
    /// Throws `ClusterError.threadLevel` when the library provides less than requested (MPI stays
    /// initialized; `providedThreadLevel` says what there is). Calling it again returns the same world.
    /// Works without mpirun: the process is then a world of size 1.
    @discardableResult
    public static func initialize(threadLevel: ThreadLevel = .multiple) throws -> Communicator {
        worldState.lock.lock()
        defer { worldState.lock.unlock() }
        if let world = worldState.world {
            let provided = worldState.provided ?? .single
            if provided < threadLevel {
                throw ClusterError.threadLevel(requested: threadLevel, provided: provided, rank: world.worldRank)
            }
            return world
        }
        var flag: Int32 = 0
        MPI_Finalized(&flag)
        if flag != 0 {
            throw ClusterError.invalidArgument(call: "MPI_Init_thread", message: "MPI was already finalized",
                                               rank: launcherRank)
        }
        var provided: Int32 = 0
        MPI_Initialized(&flag)
        if flag == 0 {
            CollectiveAlgorithms.applyDefaults()
            try checkMPI(MPI_Init_thread(nil, nil, threadLevel.mpiValue, &provided), "MPI_Init_thread", rank: launcherRank)
        } else {
            // Someone else initialized MPI in this process; adopt the world it made.
            MPI_Query_thread(&provided)
        }
        let world = try Communicator(handle: cmpi_comm_world(), isWorld: true)
        let level = ThreadLevel(mpiValue: provided)
        worldState.world = world
        worldState.provided = level
        if level < threadLevel {
            throw ClusterError.threadLevel(requested: threadLevel, provided: level, rank: world.worldRank)
        }
        return world
    }

    /// The world communicator, initializing MPI with MPI_THREAD_MULTIPLE on first use.
    /// A failure here is fatal (with the reason); call `initialize(threadLevel:)` to handle it yourself.
    public static var shared: Communicator {
        if let world = worldState.withLock({ worldState.world }) { return world }
        do { return try initialize(threadLevel: .multiple) } catch {
            fatalError("cannot initialize MPI: \(error)")
        }
    }

    /// The thread level MPI_Init_thread provided, or nil before initialization.
    public static var providedThreadLevel: ThreadLevel? { worldState.withLock { worldState.provided } }

    public static var isFinalized: Bool { var flag: Int32 = 0; MPI_Finalized(&flag); return flag != 0 }

    /// MPI_Finalize. Stop every communication thread (close reducers) first. Safe to call twice.
    public static func finalize() throws {
        var flag: Int32 = 0
        MPI_Initialized(&flag)
        guard flag != 0, !isFinalized else { return }
        try checkMPI(MPI_Finalize(), "MPI_Finalize", rank: worldState.withLock { worldState.world?.worldRank ?? 0 })
    }

    /// The rank the launcher gave this process, for messages before MPI is up.
    static var launcherRank: Int {
        let env = ProcessInfo.processInfo.environment
        return Int(env["OMPI_COMM_WORLD_RANK"] ?? env["PMIX_RANK"] ?? env["SLURM_PROCID"] ?? "0") ?? 0
    }

    // MARK: communicator operations

    /// MPI_Comm_dup: a communicator over the same processes whose collectives never interleave with this
    /// one's. Collective: every rank must call it.
    public func duplicate() throws -> Communicator {
        var copy: MPI_Comm? = nil
        try checkMPI(MPI_Comm_dup(handle, &copy), "MPI_Comm_dup", rank: worldRank)
        return try Communicator(handle: copy!, isWorld: false)
    }

    /// MPI_Comm_split: ranks passing the same `color` form a new communicator, ordered by `key` (then by rank).
    /// Collective. A negative color means MPI_UNDEFINED: this rank joins none and gets nil.
    public func split(color: Int, key: Int) throws -> Communicator? {
        var part: MPI_Comm? = nil
        let c = color < 0 ? cmpi_undefined() : Int32(color)
        try checkMPI(MPI_Comm_split(handle, c, Int32(key), &part), "MPI_Comm_split", rank: worldRank)
        guard let part, part != cmpi_comm_null() else { return nil }
        return try Communicator(handle: part, isWorld: false)
    }

    /// MPI_Comm_free for a duplicate (the world cannot be freed). Collective. Later use is an error.
    public func free() throws {
        guard !isWorld else { return }
        freeLock.lock(); defer { freeLock.unlock() }
        guard !freed else { return }
        try checkMPI(MPI_Comm_free(&handle), "MPI_Comm_free", rank: worldRank)
        handle = cmpi_comm_null()
        freed = true
    }

    public func duplicateGroup() throws -> any ProcessGroup { try duplicate() }

    public func barrier() throws {
        guard let deadline = CollectiveDeadline.current() else {
            return try checkMPI(MPI_Barrier(handle), "MPI_Barrier", rank: worldRank)
        }
        var request: MPI_Request? = nil
        try checkMPI(MPI_Ibarrier(handle, &request), "MPI_Barrier", rank: worldRank)
        try wait(&request, "MPI_Barrier", count: 0, deadline)
    }

    /// Prints `message` with the rank and host to stderr and ends the whole job (MPI_Abort), so ranks waiting
    /// in a collective for this one do not hang.
    public func abort(message: String, code: Int32) -> Never {
        let text = "[rank \(worldRank) of \(size) on \(processorName)] \(message)\n"
        FileHandle.standardError.write(text.data(using: .utf8)!)
        if !Communicator.isFinalized { MPI_Abort(cmpi_comm_world(), code) }
        exit(code)
    }

    // MARK: the ProcessGroup primitives, over MPI

    // With a deadline in force each is issued non-blocking and polled against it; without one, the blocking
    // call (what `--collective-timeout 0` gives, e.g. to compare their speed).

    /// In-place MPI_Allreduce.
    public func allReduce(_ values: UnsafeMutableRawPointer, count: Int, kind: MPIElementKind, op: ReductionOp) throws {
        let call = "MPI_Allreduce", n = try mpiCount(count, call)
        guard let deadline = CollectiveDeadline.current() else {
            return try checkMPI(MPI_Allreduce(cmpi_in_place(), values, n, kind.datatype, op.op, handle), call, rank: worldRank)
        }
        var request: MPI_Request? = nil
        try checkMPI(MPI_Iallreduce(cmpi_in_place(), values, n, kind.datatype, op.op, handle, &request), call, rank: worldRank)
        try wait(&request, call, count: count, deadline)
    }

    /// MPI_Bcast (the same count on every rank).
    public func broadcast(_ values: UnsafeMutableRawPointer, count: Int, kind: MPIElementKind, root: Int) throws {
        let call = "MPI_Bcast", n = try mpiCount(count, call)
        guard let deadline = CollectiveDeadline.current() else {
            return try checkMPI(MPI_Bcast(values, n, kind.datatype, Int32(root), handle), call, rank: worldRank)
        }
        var request: MPI_Request? = nil
        try checkMPI(MPI_Ibcast(values, n, kind.datatype, Int32(root), handle, &request), call, rank: worldRank)
        try wait(&request, call, count: count, deadline)
    }

    /// MPI_Allgather.
    public func allGather(_ send: UnsafeRawPointer?, count: Int, kind: MPIElementKind, into receive: UnsafeMutableRawPointer?) throws {
        let call = "MPI_Allgather", n = try mpiCount(count, call)
        guard let deadline = CollectiveDeadline.current() else {
            return try checkMPI(MPI_Allgather(send, n, kind.datatype, receive, n, kind.datatype, handle), call, rank: worldRank)
        }
        var request: MPI_Request? = nil
        try checkMPI(MPI_Iallgather(send, n, kind.datatype, receive, n, kind.datatype, handle, &request), call, rank: worldRank)
        try wait(&request, call, count: count * size, deadline)
    }

    /// MPI_Allgatherv with the displacements of consecutive blocks.
    public func allGatherV(_ send: UnsafeRawPointer?, counts: [Int], kind: MPIElementKind, into receive: UnsafeMutableRawPointer?) throws {
        let call = "MPI_Allgatherv"
        let counts32 = try counts.map { try mpiCount($0, call) }
        var displacements = [Int32](repeating: 0, count: size)
        var offset = 0
        for r in 0..<size { displacements[r] = try mpiCount(offset, call); offset += counts[r] }
        guard let deadline = CollectiveDeadline.current() else {
            return try checkMPI(MPI_Allgatherv(send, counts32[rank], kind.datatype, receive, counts32, displacements,
                                               kind.datatype, handle), call, rank: worldRank)
        }
        var request: MPI_Request? = nil
        // The count and displacement arrays must outlive the request: the wait is inside their scope.
        try counts32.withUnsafeBufferPointer { c in
            try displacements.withUnsafeBufferPointer { d in
                try checkMPI(MPI_Iallgatherv(send, c[rank], kind.datatype, receive, c.baseAddress, d.baseAddress,
                                             kind.datatype, handle, &request), call, rank: worldRank)
                try wait(&request, call, count: offset, deadline)
            }
        }
    }

    /// Polls `request` until it completes; past the deadline, ends the whole job with a message naming this
    /// rank, the call and the phase (a rank that merely threw would leave the others waiting).
    private func wait(_ request: inout MPI_Request?, _ call: String, count: Int,
                      _ deadline: (limit: Double, phase: String)) throws {
        let start = monotonicSeconds()
        var done: Int32 = 0
        while true {
            try checkMPI(MPI_Test(&request, &done, cmpi_status_ignore()), call, rank: worldRank)
            if done != 0 { return }
            let waited = monotonicSeconds() - start
            if waited > deadline.limit {
                abort(message: CollectiveDeadline.timeoutMessage(call: call, count: count, waited: waited, phase: deadline.phase,
                                                                 rank: rank, size: size), code: 1)
            }
            sched_yield()
        }
    }

    /// The number of elements as MPI's Int32 count, or a thrown error naming the call.
    func mpiCount(_ n: Int, _ call: String) throws -> Int32 {
        guard n >= 0 && n <= Int(Int32.max) else {
            throw ClusterError.invalidArgument(call: call, message: "count \(n) outside 0...\(Int32.max)", rank: worldRank)
        }
        return Int32(n)
    }
}

private final class WorldState: @unchecked Sendable {
    let lock = NSLock()
    var world: Communicator?
    var provided: ThreadLevel?
    func withLock<T>(_ body: () -> T) -> T { lock.lock(); defer { lock.unlock() }; return body() }
}

private let worldState = WorldState()
