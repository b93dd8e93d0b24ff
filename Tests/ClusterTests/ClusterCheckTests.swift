import XCTest

/// Runs the `cluster-check` executable as 1, 2 and 4 MPI ranks and checks its verdicts.
final class ClusterCheckTests: XCTestCase {
    /// The checks every full run must report as PASS.
    static let expectedChecks = [
        "world", "barrier", "broadcast", "allreduce-sum", "allreduce-max-min", "allgather", "allgatherv-uneven",
        "duplicate-and-split", "syncbn-statistics-reducer", "bucket-plan", "bucket-reducer-sum-exact",
        "bucket-reducer-sum-random", "bucket-reducer-average-sync-and-late", "compression-powersgd-ranks-equal-one-process",
        "compression-powersgd-full-rank-is-exact", "compression-bf16-within-rounding-of-float64",
        "compression-powersgd-checkpoint-resumes-on-any-rank-count", "embedding-gather-rows",
        "embedding-gather-views-layout", "embedding-gather-backward-matches-single-process", "config-check-match",
        "config-check-mismatch-detected", "replica-check", "error-invalid-root", "error-freed-communicator",
        "error-wrong-result-size", "error-mismatched-broadcast",
    ]

    /// Checks that need two ranks and report SKIP on one.
    static let multiRankChecks: Set = ["config-check-mismatch-detected", "error-mismatched-broadcast",
                                       "compression-powersgd-ranks-equal-one-process"]

    static func assertAllPassed(_ result: RunResult, ranks: Int, file: StaticString = #filePath, line: UInt = #line) {
        XCTAssertFalse(result.timedOut, "cluster-check hung (killed by timeout)\n\(result.output)", file: file, line: line)
        XCTAssertEqual(result.status, 0, "cluster-check failed\n\(result.output)", file: file, line: line)
        let names = { (prefix: String) in
            Set(result.lines(startingWith: prefix).map { String($0.dropFirst(5).split(separator: " ")[0]).trimmingCharacters(in: [":"]) })
        }
        let passed = names("PASS "), skipped = names("SKIP ")
        for name in expectedChecks {
            if ranks == 1 && multiRankChecks.contains(name) {
                XCTAssertTrue(skipped.contains(name), "no SKIP line for \(name) on 1 rank\n\(result.output)", file: file, line: line)
            } else {
                XCTAssertTrue(passed.contains(name), "no PASS line for \(name)\n\(result.output)", file: file, line: line)
            }
        }
        XCTAssertTrue(result.lines(startingWith: "FAIL").isEmpty, result.output, file: file, line: line)
        XCTAssertTrue(result.output.contains("ALL PASSED on \(ranks) rank(s)"), result.output, file: file, line: line)
    }

    func testSingletonWithoutMpirunIsAWorldOfOne() throws {
        let binary = try ClusterHarness.clusterCheck()
        let result = try ClusterHarness.run([binary.path], timeout: 60)
        Self.assertAllPassed(result, ranks: 1)
    }

    func testTwoRanks() throws {
        Self.assertAllPassed(try ClusterHarness.mpirun(np: 2, []), ranks: 2)
    }

    func testFourRanksOversubscribed() throws {
        let result = try ClusterHarness.mpirun(np: 4, [], timeout: 90)
        Self.assertAllPassed(result, ranks: 4)
        XCTAssertTrue(result.output.contains("INFO rank 3:"), result.output)
    }

    func testConfigMismatchStopsEveryRankWithTheReason() throws {
        let result = try ClusterHarness.mpirun(np: 2, ["config-mismatch"])
        XCTAssertFalse(result.timedOut, result.output)
        XCTAssertNotEqual(result.status, 0, result.output)
        for rank in 0..<2 {
            let line = result.lines(startingWith: "rank \(rank): configuration check on rank \(rank)")
            XCTAssertEqual(line.count, 1, "rank \(rank) did not stop with the message\n\(result.output)")
            XCTAssertTrue(line.first?.contains("rank(s) 1 differs from rank 0") ?? false, result.output)
            XCTAssertTrue(line.first?.contains("'lr=0.6', rank 0 has 'lr=0.3'") ?? false, result.output)
        }
    }

    func testFailingRankAbortsTheJobInsteadOfHanging() throws {
        let start = Date()
        let result = try ClusterHarness.mpirun(np: 2, ["abort"], timeout: 30)
        XCTAssertFalse(result.timedOut, "the job hung although rank 1 aborted\n\(result.output)")
        XCTAssertNotEqual(result.status, 0, result.output)
        XCTAssertTrue(result.output.contains("[rank 1 of 2 on "), result.output)
        XCTAssertTrue(result.output.contains("simulated failure before MPI_Barrier"), result.output)
        XCTAssertFalse(result.output.contains("barrier returned"), result.output)
        XCTAssertLessThan(Date().timeIntervalSince(start), 20)
    }

    func testBandwidthTableUsesNcclTestsDefinitions() throws {
        let result = try ClusterHarness.mpirun(np: 2, ["bandwidth", "--bytes", "4000000", "--iterations", "3"])
        XCTAssertEqual(result.status, 0, result.output)
        let rows = result.output.split(separator: "\n").map { $0.split(separator: " ").map(String.init) }
        let reduce = try XCTUnwrap(rows.first { $0.first == "allreduce" }, result.output)
        let gather = try XCTUnwrap(rows.first { $0.first == "allgather" }, result.output)
        // columns: collective bytes ranks iters time(us) algbw busbw; n = 2: 2(n-1)/n = 1, (n-1)/n = 1/2.
        XCTAssertEqual(reduce[1], "4000000")
        let (rAlg, rBus) = (try XCTUnwrap(Double(reduce[5])), try XCTUnwrap(Double(reduce[6])))
        let (gAlg, gBus) = (try XCTUnwrap(Double(gather[5])), try XCTUnwrap(Double(gather[6])))
        XCTAssertGreaterThan(rAlg, 0)
        XCTAssertEqual(rBus, rAlg, accuracy: 0.002)
        XCTAssertEqual(gBus, gAlg / 2, accuracy: 0.002)
    }

    func testOverlapModeReportsBothModes() throws {
        let result = try ClusterHarness.mpirun(np: 2, ["overlap", "--steps", "1", "--compute-ms", "100"], timeout: 90)
        XCTAssertEqual(result.status, 0, result.output)
        for mode in ["overlap=false", "overlap=true"] {
            let row = try XCTUnwrap(result.lines(startingWith: "OVERLAP \(mode)").first, result.output)
            let numbers = row.split(separator: " ").compactMap { Double($0.trimmingCharacters(in: CharacterSet(charactersIn: "%"))) }
            XCTAssertEqual(numbers.count, 5, row)                      // compute, blocked, comm, step, hidden %
            XCTAssertGreaterThan(numbers.first ?? 0, 90, row)          // the simulated compute really ran
        }
    }

    func testLaunchScriptOversubscribesOnlyBeyondTheSlots() throws {
        let launch = ClusterHarness.packageRoot.appendingPathComponent("deploy/launch.sh").path
        let binary = try ClusterHarness.clusterCheck().path
        let within = try ClusterHarness.run([launch, "--dry-run", "-n", "1", "--program", binary], timeout: 10)
        let beyond = try ClusterHarness.run([launch, "--dry-run", "-n", "64", "--program", binary, "--", "bandwidth"], timeout: 10)
        XCTAssertTrue(within.output.contains("--bind-to core"), within.output)
        XCTAssertFalse(within.output.contains("--oversubscribe"), within.output)
        XCTAssertTrue(beyond.output.contains("--oversubscribe") && beyond.output.contains("--bind-to none"), beyond.output)
        XCTAssertTrue(beyond.output.contains("OPENBLAS_NUM_THREADS=1") && beyond.output.hasSuffix("bandwidth \n"), beyond.output)
        _ = try ClusterHarness.requireMpirun()
        let real = try ClusterHarness.run([launch, "-n", "2", "--program", binary, "bandwidth", "--bytes", "100000",
                                        "--iterations", "2"], timeout: 60)
        XCTAssertEqual(real.status, 0, real.output)
        XCTAssertEqual(real.lines(startingWith: " allreduce").count, 1, real.output)
    }
}
