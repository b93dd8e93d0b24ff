import Cluster
import Tracing
import XCTest

/// A traced group hands every call to the group it wraps unchanged: in particular the non-blocking calls the
/// gradient reducer's chunk pipeline uses stay non-blocking (a traced run communicates as an untraced one),
/// and each is recorded on an in-flight row with its bytes.
final class TracedGroupTests: XCTestCase {
    /// A world of one that remembers which of its calls ran.
    private final class CallLog: ProcessGroup, @unchecked Sendable {
        var calls: [String] = []
        let rank = 0, size = 1, worldRank = 0
        func allReduce(_ values: UnsafeMutableRawPointer, count: Int, kind: MPIElementKind, op: ReductionOp) throws { calls.append("allReduce") }
        func broadcast(_ values: UnsafeMutableRawPointer, count: Int, kind: MPIElementKind, root: Int) throws { calls.append("broadcast") }
        func allGather(_ send: UnsafeRawPointer?, count: Int, kind: MPIElementKind, into receive: UnsafeMutableRawPointer?) throws {
            calls.append("allGather")
        }
        func allGatherV(_ send: UnsafeRawPointer?, counts: [Int], kind: MPIElementKind, into receive: UnsafeMutableRawPointer?) throws {
            calls.append("allGatherV")
        }
        func startAllReduce(_ values: UnsafeMutableRawPointer, count: Int, kind: MPIElementKind, op: ReductionOp) throws -> PendingCollective {
            calls.append("startAllReduce")
            return PendingCollective(completedCall: "test", count: count)
        }
        func startAllGather(_ send: UnsafeRawPointer, count: Int, kind: MPIElementKind, into receive: UnsafeMutableRawPointer) throws -> PendingCollective {
            calls.append("startAllGather")
            return PendingCollective(completedCall: "test", count: count)
        }
        func startAllToAll(_ send: UnsafeRawPointer, count: Int, kind: MPIElementKind, into receive: UnsafeMutableRawPointer) throws -> PendingCollective {
            calls.append("startAllToAll")
            return PendingCollective(completedCall: "test", count: count)
        }
        func duplicateGroup() throws -> any ProcessGroup { CallLog() }
        func free() throws {}
        func abort(message: String, code: Int32) -> Never { fatalError(message) }
    }

    /// Runs the three non-blocking calls on `group` (16 floats / 8 uint16 per block).
    private func startAll(_ group: any ProcessGroup) throws {
        var floats = [Float](repeating: 1, count: 16)
        var halves = [UInt16](repeating: 1, count: 8)
        var received = [UInt16](repeating: 0, count: 8)
        try floats.withUnsafeMutableBytes { f in
            try halves.withUnsafeMutableBytes { h in
                try received.withUnsafeMutableBytes { r in
                    for pending in [try group.startAllReduce(f.baseAddress!, count: 16, kind: .float, op: .sum),
                                    try group.startAllGather(h.baseAddress!, count: 8, kind: .uint16, into: r.baseAddress!),
                                    try group.startAllToAll(h.baseAddress!, count: 8, kind: .uint16, into: r.baseAddress!)] {
                        XCTAssertTrue(try pending.isComplete())
                    }
                }
            }
        }
    }

    func testNonBlockingCallsReachTheWrappedGroupsOwnNonBlockingCalls() throws {
        for tracing in [false, true] {
            let log = CallLog(), tracer = Tracer(capacity: 16)
            Tracer.active = tracing ? tracer : nil
            defer { Tracer.active = nil }
            try startAll(TracedGroup(log))
            XCTAssertEqual(log.calls, ["startAllReduce", "startAllGather", "startAllToAll"],
                           "tracing \(tracing): a non-blocking call became a blocking one")
        }
    }

    func testNonBlockingCallsAreRecordedOnTheirGroupsInFlightRow() throws {
        let tracer = Tracer(capacity: 16)
        Tracer.active = tracer
        defer { Tracer.active = nil }
        let compute = TracedGroup(CallLog())
        let communication = try XCTUnwrap(try compute.duplicateGroup() as? TracedGroup)
        try startAll(communication)
        var value: [Float] = [1]
        try compute.allReduceSum(&value)

        func spans(_ row: String) -> [String] {
            guard let track = tracer.tracks.first(where: { $0.name == row }) else { return [] }
            return track.events.map { "\(tracer.text(of: $0.name)) \($0.argument)" }
        }
        // Each call finished before the next started, so one in-flight row holds all three.
        XCTAssertEqual(spans("communication in flight 1"), ["iallreduce 64", "iallgather 16", "ialltoall 16"])
        XCTAssertEqual(spans("communication"), [])
        XCTAssertEqual(spans("compute"), ["allreduce 4"])
        XCTAssertEqual(spans("compute in flight 1"), [])
    }
}
