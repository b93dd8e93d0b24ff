import Cluster
import Kernels
import XCTest

/// The world of one a process without MPI runs in: every collective is the identity, so code written for
/// W ranks gives, with W = 1, what the single-process computation gives. No MPI is involved.
final class SingleProcessTests: XCTestCase {
    let world = SingleProcess()

    func testSumsAndBroadcastsLeaveValuesAsTheyAre() throws {
        XCTAssertEqual(world.rank, 0)
        XCTAssertEqual(world.size, 1)
        let t = Tensor(shape: [5], values: [1, -2, 3, 0.5, 7])
        try world.allReduceSum(t)
        XCTAssertEqual(t.array, [1, -2, 3, 0.5, 7])
        var d: [Double] = [1.5, 2]
        try world.allReduceSum(&d)
        XCTAssertEqual(d, [1.5, 2])
        XCTAssertEqual(try world.allReduceMax(3.25), 3.25)
        try world.broadcast(t)
        XCTAssertEqual(t.array, [1, -2, 3, 0.5, 7])
        var counters: [Int64] = [4, 5]
        try world.broadcast(&counters)
        XCTAssertEqual(counters, [4, 5])
        XCTAssertEqual(try world.broadcast("héllo"), "héllo")
        XCTAssertThrowsError(try world.broadcast(1, root: 1), "a world of one has no rank 1")
    }

    func testGathersCopy() throws {
        let local = Tensor(shape: [2, 3], values: [1, 2, 3, 4, 5, 6])
        XCTAssertEqual(try world.allGather(local).array, local.array)
        XCTAssertEqual(try world.allGather([UInt64(9), 8]), [9, 8])
        let result = Tensor(shape: [6])
        try world.allGatherV(local, counts: [6], into: result)
        XCTAssertEqual(result.array, local.array)
        XCTAssertEqual(try world.allGatherV([Double]()), [[]])
        XCTAssertThrowsError(try world.allGather(local, into: Tensor(shape: [5])))
    }

    /// The SimCLR gather and its backward over one rank are the single-process layout and gradient.
    func testEmbeddingGatherIsTheIdentity() throws {
        let gather = EmbeddingGather(communicator: world)
        let local = Tensor(shape: [4, 2], values: (0..<8).map(Float.init))   // b = 2: views [0, 1] and [2, 3]
        let global = try gather.gatherViews(local)
        XCTAssertEqual(global.array, local.array)
        XCTAssertEqual(gather.ownedRows(localBatch: 2), [0, 1, 2, 3])
        let gradient = Tensor(shape: [4, 2], values: (0..<8).map { Float($0) * 0.5 })
        XCTAssertEqual(try gather.viewsBackward(gradient).array, gradient.array)
    }

    func testConfigurationAndReplicaChecksPass() throws {
        let text = ConfigurationCheck.canonical(["lr": "0.3"])
        XCTAssertEqual(try ConfigurationCheck.verify(text, communicator: world), ConfigurationCheck.hash(text))
        XCTAssertTrue(try ReplicaCheck.compare(Tensor(shape: [3], repeating: 1), communicator: world).isConsistent)
    }
}
