import Cluster
import Foundation
import XCTest

/// `cluster-check bandwidth --sweep` and `cluster-check trace` under mpirun with two ranks.
final class SweepAndTraceTests: XCTestCase {
    func testSweepPrintsAlgorithmAndBusBandwidthAsNcclTestsDefineThem() throws {
        let csv = FileManager.default.temporaryDirectory.appendingPathComponent("sweep-\(getpid()).csv")
        defer { try? FileManager.default.removeItem(at: csv) }
        let result = try ClusterHarness.mpirun(np: 2, ["bandwidth", "--sweep", "--max-bytes", "64K", "--factor", "8",
                                                       "--seconds-per-size", "0.01", "--csv", csv.path, "--tag", "local"])
        XCTAssertEqual(result.status, 0, result.output)
        let rows = try String(contentsOf: csv, encoding: .utf8).split(separator: "\n").map { $0.split(separator: ",").map(String.init) }
        XCTAssertEqual(rows.first, ["tag", "collective", "ranks", "bytes", "iterations", "seconds", "algbw_gbps", "busbw_gbps"])
        let points = rows.dropFirst()
        // 8 B .. 64 KiB by 8: 8, 64, 512, 4096, 32768 for each collective.
        XCTAssertEqual(points.filter { $0[1] == "allreduce" }.map { Int($0[3])! }, [8, 64, 512, 4096, 32768])
        XCTAssertEqual(points.filter { $0[1] == "allgather" }.map { Int($0[3])! }, [8, 64, 512, 4096, 32768])
        for p in points {
            let bytes = Double(p[3])!, seconds = Double(p[5])!, algbw = Double(p[6])!, busbw = Double(p[7])!
            XCTAssertEqual(p[0], "local")
            XCTAssertEqual(p[2], "2")
            XCTAssertGreaterThan(seconds, 0, "\(p)")
            XCTAssertEqual(algbw, bytes / seconds / 1e9, accuracy: 1e-4 + algbw * 1e-3, "\(p)")
            // nccl-tests: all-reduce busbw = algbw * 2(n-1)/n, all-gather algbw * (n-1)/n; n = 2.
            XCTAssertEqual(busbw, p[1] == "allreduce" ? algbw : algbw / 2, accuracy: 1e-4 + busbw * 1e-3, "\(p)")
        }
        XCTAssertTrue(result.output.contains("busbw(GB/s)"), result.output)
    }

    func testTraceHasBothRanksTheCommunicationRowAndNestedSpans() throws {
        let file = FileManager.default.temporaryDirectory.appendingPathComponent("trace-\(getpid()).json")
        defer { try? FileManager.default.removeItem(at: file) }
        let steps = 2
        let result = try ClusterHarness.mpirun(np: 2, ["trace", "--out", file.path, "--steps", String(steps)])
        XCTAssertEqual(result.status, 0, result.output)
        let object = try JSONSerialization.jsonObject(with: Data(contentsOf: file)) as? [String: Any]
        let events = try XCTUnwrap(object?["traceEvents"] as? [[String: Any]])
        // Gradient floats of the simulated ResNet-18 + head (cluster-check's layout): every one crosses once per step.
        let gradientBytes = 4 * 11_562_816
        for rank in 0..<2 {
            let mine = events.filter { $0["pid"] as? Int == rank }
            let rows = Dictionary(mine.filter { $0["name"] as? String == "thread_name" }
                .map { (($0["args"] as! [String: Any])["name"] as! String, $0["tid"] as! Int) }, uniquingKeysWith: { a, _ in a })
            let compute = try XCTUnwrap(rows["compute"], "rank \(rank) has no compute row")
            let communication = try XCTUnwrap(rows["communication"], "rank \(rank) has no communication row")
            let spans = mine.filter { $0["ph"] as? String == "X" }
            func intervals(_ name: String, _ tid: Int) -> [(Double, Double)] {
                spans.filter { ($0["name"] as! String).hasPrefix(name) && $0["tid"] as? Int == tid }
                    .map { ($0["ts"] as! Double, ($0["ts"] as! Double) + ($0["dur"] as! Double)) }
            }
            func bytes(_ name: String, rows: [Int]) -> Int {
                spans.filter { $0["name"] as? String == name && rows.contains($0["tid"] as? Int ?? -1) }
                    .map { ($0["args"] as! [String: Any])["value"] as! Int }.reduce(0, +)
            }
            // One span per bucket on the communication row, covering the gradients.
            let bucketSpans = spans.filter { ($0["name"] as! String).hasPrefix("bucket ") && $0["tid"] as? Int == communication }
            XCTAssertEqual(bucketSpans.map { ($0["args"] as! [String: Any])["value"] as! Int }.reduce(0, +), steps * gradientBytes,
                           "rank \(rank): the bucket spans do not cover the gradients")
            // The buckets travel as non-blocking chunks (MPI_Iallreduce) on the in-flight rows, also under tracing;
            // the only blocking all-reduce of the communication thread is, after each step's last bucket, the
            // ranks' 8-byte agreement on the next step's chunk size (docs/bucket-plan.md, note 'Chunks').
            let inFlight = rows.filter { $0.key.hasPrefix("communication in flight ") }.map(\.value)
            XCTAssertFalse(inFlight.isEmpty, "rank \(rank): no in-flight row in \(rows.keys.sorted())")
            XCTAssertEqual(bytes("iallreduce", rows: inFlight), steps * gradientBytes, "rank \(rank): the chunks do not cover the gradients")
            XCTAssertEqual(bytes("allreduce", rows: [communication]), steps * 8, "rank \(rank): a bucket took a blocking all-reduce")
            let bucketIntervals = intervals("bucket ", communication)
            let chunks = spans.filter { $0["name"] as? String == "iallreduce" && inFlight.contains($0["tid"] as? Int ?? -1) }
                .map { ($0["ts"] as! Double, ($0["ts"] as! Double) + ($0["dur"] as! Double)) }
            XCTAssertTrue(chunks.allSatisfy { c in bucketIntervals.contains { $0.0 <= c.0 && c.1 <= $0.1 } },
                          "rank \(rank): a chunk outside its bucket's span")
            let stepSpans = intervals("step", compute), backward = intervals("backward", compute)
            let layers = intervals("layer group", compute)
            XCTAssertEqual(stepSpans.count, steps)
            XCTAssertEqual(backward.count, steps)
            XCTAssertEqual(layers.count, steps * 22)
            func inside(_ a: (Double, Double), _ b: [(Double, Double)]) -> Bool { b.contains { $0.0 <= a.0 && a.1 <= $0.1 } }
            XCTAssertTrue(backward.allSatisfy { inside($0, stepSpans) }, "rank \(rank): backward outside its step")
            XCTAssertTrue(layers.allSatisfy { inside($0, backward) }, "rank \(rank): a layer span outside backward")
            // The SyncBN-sized reductions run on the compute row, inside their layer group.
            let small = intervals("allreduce", compute)
            XCTAssertEqual(small.count, steps * 3)
            XCTAssertTrue(small.allSatisfy { inside($0, layers) }, "rank \(rank): a compute-row all-reduce outside its layer")
        }
        XCTAssertEqual(Set(events.compactMap { $0["pid"] as? Int }), [0, 1])
    }

    /// MPI runs with the project's libnbc algorithms unless the user chose others (read back through MPI_T).
    func testProjectChoosesCollectiveAlgorithmsButTheUserWins() throws {
        let binary = try ClusterHarness.clusterCheck()
        let chosen = try ClusterHarness.run([binary.path], timeout: 60)
        XCTAssertEqual(chosen.status, 0, chosen.output)
        XCTAssertEqual(chosen.lines(startingWith: "INFO collective algorithms:"),
                       ["INFO collective algorithms: coll_libnbc_iallreduce_algorithm=3 coll_libnbc_iallgather_algorithm=2"], chosen.output)
        let user = try ClusterHarness.run([binary.path], timeout: 60, environment: ["OMPI_MCA_coll_libnbc_iallreduce_algorithm": "1"])
        XCTAssertEqual(user.lines(startingWith: "INFO collective algorithms:"),
                       ["INFO collective algorithms: coll_libnbc_iallreduce_algorithm=1 coll_libnbc_iallgather_algorithm=2"], user.output)
        // Three ranks (not a power of two): the ring all-reduce, as every rank runs it.
        let three = try ClusterHarness.mpirun(np: 3, [])
        XCTAssertEqual(three.status, 0, three.output)
        XCTAssertEqual(Set(three.lines(startingWith: "INFO collective algorithms:")),
                       ["INFO collective algorithms: coll_libnbc_iallreduce_algorithm=1 coll_libnbc_iallgather_algorithm=2"], three.output)
    }

    /// Rabenseifner's all-reduce on powers of two (and when the launcher does not say), the ring elsewhere;
    /// the world size comes from mpirun's or srun's environment.
    func testTheAllReduceAlgorithmFollowsTheWorldSize() {
        let allReduce = { (w: Int?) in CollectiveAlgorithms.defaults(worldSize: w).first { $0.parameter == "coll_libnbc_iallreduce_algorithm" }!.value }
        XCTAssertEqual([nil, 1, 2, 4, 8, 16, 64].map(allReduce), ["3", "3", "3", "3", "3", "3", "3"])
        XCTAssertEqual([3, 5, 6, 7, 12].map(allReduce), ["1", "1", "1", "1", "1"])
        XCTAssertEqual(CollectiveAlgorithms.launcherWorldSize(["OMPI_COMM_WORLD_SIZE": "6", "SLURM_STEP_NUM_TASKS": "4"]), 6)
        XCTAssertEqual(CollectiveAlgorithms.launcherWorldSize(["SLURM_STEP_NUM_TASKS": "5"]), 5)
        XCTAssertNil(CollectiveAlgorithms.launcherWorldSize(["OMPI_COMM_WORLD_SIZE": "x"]))
        XCTAssertNil(CollectiveAlgorithms.launcherWorldSize([:]))
    }
}
