import Foundation

/// How the gradient reducer moves a bucket's bytes: the collectives a codec (`GradientCodec`) calls, and a
/// count of the payload bytes this rank handed to them.
protocol GradientTransport: AnyObject {
    /// Sums `count` floats at `values` over all ranks, in place.
    func allReduceSum(_ values: UnsafeMutablePointer<Float>, count: Int) throws
    /// Block r (`count` 16-bit values) of `send` to rank r; block r of `receive` from rank r. Both buffers hold
    /// W blocks laid out chunk by chunk (`chunkLength`): elements lo..<hi of every block occupy lo*W..<hi*W,
    /// block r's at lo*W + r*(hi-lo). One chunk (a plain rank-major layout) when the transport does not chunk.
    func allToAll(_ send: UnsafePointer<UInt16>, count: Int, into receive: UnsafeMutablePointer<UInt16>) throws
    /// Every rank's `count` 16-bit values into `receive`, laid out as `allToAll`'s buffers.
    func allGather(_ send: UnsafePointer<UInt16>, count: Int, into receive: UnsafeMutablePointer<UInt16>) throws
    /// Elements of each block per chunk for `allToAll` and `allGather` (`Int.max`: no chunks).
    var blockChunkLength: Int { get }
    /// Payload bytes this rank has given to collectives since the counter was last reset.
    var payloadBytes: Int { get set }
}

/// One blocking collective per call: the reducer's path without overlap (`--no-overlap`, and a world of one).
final class DirectTransport: GradientTransport {
    let group: any ProcessGroup
    var payloadBytes = 0

    init(group: any ProcessGroup) { self.group = group }

    var blockChunkLength: Int { Int.max }

    func allReduceSum(_ values: UnsafeMutablePointer<Float>, count: Int) throws {
        guard count > 0 else { return }
        payloadBytes += count * 4
        try group.allReduce(values, count: count, kind: .float, op: .sum)
    }

    func allToAll(_ send: UnsafePointer<UInt16>, count: Int, into receive: UnsafeMutablePointer<UInt16>) throws {
        guard count > 0 else { return }
        payloadBytes += count * 2 * group.size
        let pending = try group.startAllToAll(send, count: count, kind: .uint16, into: receive)
        try CollectiveWaiting.wait(for: [pending], group: group, pollSeconds: 0)
    }

    func allGather(_ send: UnsafePointer<UInt16>, count: Int, into receive: UnsafeMutablePointer<UInt16>) throws {
        guard count > 0 else { return }
        payloadBytes += count * 2
        try group.allGather(send, count: count, kind: .uint16, into: receive)
    }
}

/// The overlapping reducer's transport (note 'Chunks' in docs/bucket-plan.md). A bucket's collective runs as a
/// pipeline of chunks, at most `maxInFlight` of them started and unfinished at once, each sized to take about
/// `targetChunkSeconds` on the link. So the bytes queued ahead of a small collective of the compute thread
/// (SyncBN statistics, the embedding gather) on the same connection stay bounded by a few milliseconds of link
/// time, on a slow link and a fast one alike, while the link stays busy. Between tests of the chunks in flight
/// the thread sleeps `pollSeconds` (note 'Cheap waiting').
///
/// Every rank must cut the same chunks (they are collectives), so the size is not each rank's own guess: each
/// rank measures the rate of its chunks during a step, and `agreeOnChunkSize()` (collective, once per step)
/// takes the smallest proposal for the next step. The first step uses `minimumChunkBytes`.
final class PipelinedTransport: GradientTransport {
    let group: any ProcessGroup
    var payloadBytes = 0
    let minimumChunkBytes: Int
    let targetChunkSeconds: Double
    let maxInFlight: Int
    let pollSeconds: Double
    /// Payload bytes and seconds of this step's transfers, from the start of each to its end.
    private var timedBytes = 0.0, timedSeconds = 0.0
    /// This rank's measured rate of the last step's transfers (payload bytes per second); nil before.
    private(set) var measuredRate: Double?
    /// Bytes of each chunk (the last one of a collective may be smaller), the same on every rank.
    private(set) var chunkBytes: Int

    init(group: any ProcessGroup, minimumChunkBytes: Int = 256 << 10, targetChunkSeconds: Double = 0.003,
         maxInFlight: Int = 2, pollSeconds: Double = 200e-6) {
        self.group = group
        self.minimumChunkBytes = minimumChunkBytes
        self.targetChunkSeconds = targetChunkSeconds
        self.maxInFlight = maxInFlight
        self.pollSeconds = pollSeconds
        chunkBytes = minimumChunkBytes
    }

    /// Collective: the chunk size of the next step, the smallest of the ranks' proposals (measured rate times
    /// the target time, at least the minimum).
    func agreeOnChunkSize() throws {
        if timedSeconds > 0 { measuredRate = timedBytes / timedSeconds }
        (timedBytes, timedSeconds) = (0, 0)
        let proposal = measuredRate.map { max(Double(minimumChunkBytes), $0 * targetChunkSeconds) } ?? Double(minimumChunkBytes)
        chunkBytes = Int(try group.allReduceMin(proposal))
    }

    func allReduceSum(_ values: UnsafeMutablePointer<Float>, count: Int) throws {
        payloadBytes += count * 4
        try pipeline(payload: count * 4, elements: count, length: max(1, chunkBytes / 4)) { lo, hi in
            try self.group.startAllReduce(values + lo, count: hi - lo, kind: .float, op: .sum)
        }
    }

    var blockChunkLength: Int { max(1, chunkBytes / (2 * group.size)) }

    /// Chunk lo..<hi of every rank's block travels in one all-to-all of its own.
    func allToAll(_ send: UnsafePointer<UInt16>, count: Int, into receive: UnsafeMutablePointer<UInt16>) throws {
        let world = group.size
        payloadBytes += count * 2 * world
        try pipeline(payload: count * 2 * world, elements: count, length: blockChunkLength) { lo, hi in
            try self.group.startAllToAll(send + lo * world, count: hi - lo, kind: .uint16, into: receive + lo * world)
        }
    }

    func allGather(_ send: UnsafePointer<UInt16>, count: Int, into receive: UnsafeMutablePointer<UInt16>) throws {
        let world = group.size
        payloadBytes += count * 2
        try pipeline(payload: count * 2 * world, elements: count, length: blockChunkLength) { lo, hi in
            try self.group.startAllGather(send + lo, count: hi - lo, kind: .uint16, into: receive + lo * world)
        }
    }

    /// Starts `start(lo, hi)` for consecutive element ranges covering 0..<elements (`length` each), keeping
    /// at most `maxInFlight` unfinished, and returns when all finished. The time from the first start to the
    /// last completion, with the bytes moved, feeds `measuredRate`.
    private func pipeline(payload: Int, elements: Int, length: Int,
                          start: (_ lo: Int, _ hi: Int) throws -> PendingCollective) throws {
        guard elements > 0 else { return }
        var inFlight: [PendingCollective] = []
        inFlight.reserveCapacity(maxInFlight)
        var next = 0
        let began = monotonicSeconds()
        let deadline = CollectiveDeadline.current()
        var waitingSince = began
        while next < elements || !inFlight.isEmpty {
            while next < elements && inFlight.count < maxInFlight {
                let hi = min(elements, next + length)
                inFlight.append(try start(next, hi))
                next = hi
            }
            if try inFlight[0].isComplete() {
                inFlight.removeFirst()
                waitingSince = monotonicSeconds()
                continue
            }
            if let deadline, monotonicSeconds() - waitingSince > deadline.limit {
                let first = inFlight[0]
                group.abort(message: CollectiveDeadline.timeoutMessage(call: first.call, count: first.count,
                    waited: monotonicSeconds() - waitingSince, phase: deadline.phase, rank: group.rank, size: group.size), code: 1)
            }
            CollectiveWaiting.sleep(pollSeconds)
        }
        timedBytes += Double(payload)
        timedSeconds += monotonicSeconds() - began
    }
}
