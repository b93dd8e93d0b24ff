import Cluster
import Foundation
import Kernels
import XCTest

/// A group of two whose every all-reduce fails, counting the calls made on it.
private final class FailingGroup: ProcessGroup, @unchecked Sendable {
    let rank = 0, size = 2, worldRank = 0
    private let lock = NSLock()
    private var calls = 0
    var allReduceCalls: Int { lock.lock(); defer { lock.unlock() }; return calls }

    func allReduce(_ values: UnsafeMutableRawPointer, count: Int, kind: MPIElementKind, op: ReductionOp) throws {
        lock.lock(); calls += 1; lock.unlock()
        throw ClusterError.mpi(call: "MPI_Allreduce", code: 1, message: "peer gone", rank: 0)
    }
    func broadcast(_ values: UnsafeMutableRawPointer, count: Int, kind: MPIElementKind, root: Int) throws {}
    func allGather(_ send: UnsafeRawPointer?, count: Int, kind: MPIElementKind, into receive: UnsafeMutableRawPointer?) throws {}
    func allGatherV(_ send: UnsafeRawPointer?, counts: [Int], kind: MPIElementKind, into receive: UnsafeMutableRawPointer?) throws {}
    func duplicateGroup() throws -> any ProcessGroup { self }
    func free() throws {}
    func abort(message: String, code: Int32) -> Never { fatalError(message) }
}

final class ReducerFailureTests: XCTestCase {
    /// The communication thread kept issuing the remaining buckets' all-reduces after the first failed.
    func testCommunicationThreadStopsAtTheFirstError() throws {
        for overlap in [true, false] {
            let group = FailingGroup()
            let gradients = Tensor(shape: [3000], values: [Float](repeating: 1, count: 3000))
            let ranges = [0..<1000, 1000..<2000, 2000..<3000]
            let reducer = try GradientBucketReducer(communicator: group, gradients: gradients, parameterRanges: ranges,
                                                    bucketBytes: 4000, firstBucketBytes: 4000, overlap: overlap)
            XCTAssertEqual(reducer.buckets.count, 3)
            reducer.beginStep()
            for r in ranges.reversed() { reducer.gradientsReady(r) }
            XCTAssertThrowsError(try reducer.finishStep()) { XCTAssertTrue("\($0)".contains("peer gone"), "\($0)") }
            XCTAssertEqual(group.allReduceCalls, 1, "overlap \(overlap): buckets issued after the first error")
            try reducer.close()
        }
    }

    func testTimeoutMessageNamesTheCallThePhaseAndTheMissingRank() {
        let two = CollectiveDeadline.timeoutMessage(call: "MPI_Allreduce", count: 6, waited: 5.2,
                                                    phase: "step 7", rank: 0, size: 2)
        XCTAssertTrue(two.contains("MPI_Allreduce") && two.contains("step 7") && two.contains("rank 1 did not arrive")
                      && two.contains("--collective-timeout"), two)
        let four = CollectiveDeadline.timeoutMessage(call: "MPI_Bcast", count: 1, waited: 5, phase: "start",
                                                     rank: 2, size: 4)
        XCTAssertTrue(four.contains("other 3 ranks"), four)
    }
}
