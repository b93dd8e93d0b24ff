import Cluster
import Foundation
import Kernels
import XCTest

/// A world of one that records whether anything collective was asked of it (the reducer's duplicate).
private final class WatchedGroup: ProcessGroup, @unchecked Sendable {
    let rank = 0, size = 1, worldRank = 0
    private(set) var duplicated = false
    private let inner = SingleProcess()
    func allReduce(_ values: UnsafeMutableRawPointer, count: Int, kind: MPIElementKind, op: ReductionOp) throws {}
    func broadcast(_ values: UnsafeMutableRawPointer, count: Int, kind: MPIElementKind, root: Int) throws {}
    func allGather(_ send: UnsafeRawPointer?, count: Int, kind: MPIElementKind, into receive: UnsafeMutableRawPointer?) throws {
        try inner.allGather(send, count: count, kind: kind, into: receive)
    }
    func allGatherV(_ send: UnsafeRawPointer?, counts: [Int], kind: MPIElementKind, into receive: UnsafeMutableRawPointer?) throws {
        try inner.allGatherV(send, counts: counts, kind: kind, into: receive)
    }
    func duplicateGroup() throws -> any ProcessGroup { duplicated = true; return inner }
    func free() throws {}
    func abort(message: String, code: Int32) -> Never { fatalError(message) }
}

/// `--comm-cpu`: the gradient reducer's communication thread runs on the CPU asked for (read back from the kernel),
/// the thread that builds the reducer keeps its CPUs, and a CPU that cannot be used is refused up front.
final class ThreadPlacementTests: XCTestCase {
    private func reducer(group: any ProcessGroup = SingleProcess(), cpu: Int?, overlap: Bool = true) throws -> GradientBucketReducer {
        let gradients = Tensor(shape: [3000], values: [Float](repeating: 1, count: 3000))
        return try GradientBucketReducer(communicator: group, gradients: gradients, parameterRanges: [0..<1000, 1000..<3000],
                                         bucketBytes: 4000, firstBucketBytes: 4000, overlap: overlap, communicationCPU: cpu)
    }

    func testCommunicationThreadRunsOnTheCPUAskedFor() throws {
        let allowed = ThreadPlacement.currentThreadCPUs
        guard allowed.count >= 2 else { throw XCTSkip("this thread may run on one CPU only (\(allowed)): nothing to choose") }
        let unbound = try reducer(cpu: nil)
        XCTAssertEqual(unbound.communicationThreadCPUs, allowed, "without a CPU the thread runs where its creator may")
        try unbound.close()
        for cpu in [allowed.last!, allowed.first!] {
            let r = try reducer(cpu: cpu)
            XCTAssertEqual(r.communicationThreadCPUs, [cpu])
            XCTAssertEqual(r.communicationCPU, cpu)
            XCTAssertEqual(ThreadPlacement.currentThreadCPUs, allowed, "binding the thread changed its creator's CPUs")
            // It still reduces: a world of one sums to the values themselves.
            r.beginStep()
            r.gradientsReady(1000..<3000); r.gradientsReady(0..<1000)
            let timing = try r.finishStep()
            XCTAssertEqual(timing.bucketCount, 2)
            try r.close()
        }
    }

    func testACPUThatCannotBeUsedIsRefusedBeforeAnythingCollective() throws {
        let group = WatchedGroup(), before = ThreadPlacement.currentThreadCPUs
        XCTAssertThrowsError(try reducer(group: group, cpu: 1023)) {
            XCTAssertTrue("\($0)".contains("cannot bind the communication thread to CPU 1023"), "\($0)")
        }
        XCTAssertFalse(group.duplicated, "the communicator was duplicated (collective) before the CPU was refused")
        XCTAssertThrowsError(try reducer(group: group, cpu: 0, overlap: false)) {
            XCTAssertTrue("\($0)".contains("without overlap"), "\($0)")
        }
        XCTAssertFalse(group.duplicated)
        XCTAssertEqual(ThreadPlacement.currentThreadCPUs, before, "the refused probe left this thread's CPUs changed")
    }

    func testListGivesEachRankOfANodeItsCPU() throws {
        XCTAssertEqual(ThreadPlacement.parseList("3"), [3])
        XCTAssertEqual(ThreadPlacement.parseList("2, 3"), [2, 3])
        for bad in ["", "a", "1,,2", "-1", "1.5"] { XCTAssertNil(ThreadPlacement.parseList(bad), bad) }
        XCTAssertEqual(try ThreadPlacement.communicationCPU(from: [5], localRank: 3, worldRank: 7), 5)
        XCTAssertEqual(try ThreadPlacement.communicationCPU(from: [2, 3], localRank: 1, worldRank: 1), 3)
        XCTAssertThrowsError(try ThreadPlacement.communicationCPU(from: [2, 3], localRank: 2, worldRank: 6)) {
            XCTAssertTrue("\($0)".contains("local rank 2 has no CPU in the list 2,3"), "\($0)")
        }
        XCTAssertNil(ThreadPlacement.listRefusal(nil, overlap: false))
        XCTAssertNotNil(ThreadPlacement.listRefusal([1], overlap: false))
        XCTAssertNil(ThreadPlacement.listRefusal([1], overlap: true))
        XCTAssertEqual(ThreadPlacement.describe([0, 1, 2, 3, 6, 8, 9]), "0-3,6,8-9")
    }
}
