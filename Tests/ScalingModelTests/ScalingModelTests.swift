import Foundation
import XCTest
import ScalingModel

final class AlphaBetaFitTests: XCTestCase {
    private func sweep(alpha: Double, beta: Double, algorithm: CollectiveAlgorithm, ranks: [Int], noise: Double = 0) -> [SweepPoint] {
        var points: [SweepPoint] = []
        var bytes = 8, i = 0
        while bytes <= 32 << 20 {
            for w in ranks {
                let exact = AlphaBeta(algorithm: algorithm, alpha: alpha, beta: beta).seconds(bytes: bytes, ranks: w)
                i += 1
                let wobble = noise * (i % 2 == 0 ? 1 : -1)   // deterministic +-noise
                points.append(SweepPoint(link: "x", collective: .allReduce, ranks: w, bytes: bytes, seconds: exact * (1 + wobble)))
            }
            bytes *= 4
        }
        return points
    }

    func testFitRecoversAlphaAndBetaOfExactPoints() throws {
        let points = sweep(alpha: 30e-6, beta: 8.4e-9, algorithm: .rabenseifner, ranks: [2, 4])
        let fit = try AlphaBeta.fit(points, algorithm: .rabenseifner)
        XCTAssertEqual(fit.alpha, 30e-6, accuracy: 30e-6 * 1e-9)
        XCTAssertEqual(fit.beta, 8.4e-9, accuracy: 8.4e-9 * 1e-9)
        XCTAssertEqual(fit.medianRelativeError(points), 0, accuracy: 1e-9)
        XCTAssertEqual(fit.gigabitsPerSecond, 8 / 8.4e-9 / 1e9, accuracy: 1e-9)
    }

    func testFitWithNoisePredictsHeldOutRanks() throws {
        let fit = try AlphaBeta.fit(sweep(alpha: 30e-6, beta: 8.4e-9, algorithm: .ring, ranks: [2, 4], noise: 0.03), algorithm: .ring)
        // Held out: 16 ranks, 32 MiB, the exact model's time.
        let truth = AlphaBeta(algorithm: .ring, alpha: 30e-6, beta: 8.4e-9).seconds(bytes: 32 << 20, ranks: 16)
        XCTAssertEqual(fit.seconds(bytes: 32 << 20, ranks: 16) / truth, 1, accuracy: 0.05)
    }

    func testTooFewPointsIsAnErrorThatSaysSo() {
        XCTAssertThrowsError(try AlphaBeta.fit([SweepPoint(link: "x", collective: .allReduce, ranks: 1, bytes: 8, seconds: 1)],
                                               algorithm: .ring)) { error in
            XCTAssertTrue("\(error)".contains("at least 2 sweep points"), "\(error)")
        }
    }

    func testAlgorithmsCostAsTheTextbookSays() {
        // One rank moves nothing; 8 ranks: ring 14 steps, Rabenseifner 6, recursive doubling 3; bandwidth 7/4.
        for a in CollectiveAlgorithm.allCases { XCTAssertEqual(a.latencySteps(ranks: 1), 0); XCTAssertEqual(a.bandwidthFactor(ranks: 1), 0) }
        XCTAssertEqual(CollectiveAlgorithm.ring.latencySteps(ranks: 8), 14)
        XCTAssertEqual(CollectiveAlgorithm.rabenseifner.latencySteps(ranks: 8), 6)
        XCTAssertEqual(CollectiveAlgorithm.recursiveDoubling.latencySteps(ranks: 8), 3)
        XCTAssertEqual(CollectiveAlgorithm.ring.bandwidthFactor(ranks: 8), 1.75)
        XCTAssertEqual(CollectiveAlgorithm.binomial.bandwidthFactor(ranks: 8), 6)
        XCTAssertEqual(CollectiveAlgorithm.ringGather.bandwidthFactor(ranks: 8), 0.875)
    }

    func testSweepCSVOfTheStudyScriptReads() throws {
        let csv = """
        link,world,algorithm,collective,ranks,bytes,iterations,seconds,algbw_gbps,busbw_gbps
        1gbit,2,nbc:3,allreduce,2,8,200,0.000026800,0.0003,0.0003
        1gbit,2,nbc:3,allgather,2,4096,200,0.000050000,0.0819,0.0410
        """
        let points = try SweepPoint.read(csv: csv)
        XCTAssertEqual(points, [SweepPoint(link: "1gbit", collective: .allReduce, ranks: 2, bytes: 8, seconds: 26.8e-6, algorithm: "nbc:3"),
                                SweepPoint(link: "1gbit", collective: .allGather, ranks: 2, bytes: 4096, seconds: 50e-6, algorithm: "nbc:3")])
        XCTAssertThrowsError(try SweepPoint.read(csv: "collective,ranks,bytes,seconds\nallreduce,2,8,0.1\n")) {
            XCTAssertTrue("\($0)".contains("no link column"), "\($0)")
        }
        XCTAssertThrowsError(try SweepPoint.read(csv: "collective,ranks,bytes,seconds\nallreduce,two,8,0.1\n", link: "l")) {
            XCTAssertTrue("\($0)".contains("line 2"), "\($0)")
        }
    }
}

final class StepSimulatorTests: XCTestCase {
    /// Two parameters of 1000 floats; bucket 0 holds parameter 1 (its gradient is final first).
    private func timeline() -> StepTimeline {
        typealias E = StepTimeline.Event
        return StepTimeline(
            identity: .init(arch: "resnet18", stem: "cifar", width: 1, headDims: [512, 256], precision: "fp32", perRankImages: 1,
                            imageSize: 32, smallCrops: 0),
            machine: "test", threads: 1, measuredSteps: 1, measuredAt: "now", embeddingDim: 1,
            parameters: [.init(name: "a", elements: 1000, matrix: [10, 100]), .init(name: "b", elements: 1000, matrix: nil)],
            events: [E(kind: .syncBatchNorm, computeSeconds: 1.0, label: "bn", count: 1),
                     E(kind: .gather, computeSeconds: 0, label: "gather", count: 2),
                     E(kind: .gatherBackward, computeSeconds: 0.5, label: "loss", count: 2),
                     E(kind: .ready, computeSeconds: 1.0, label: "b", count: 1),
                     E(kind: .ready, computeSeconds: 1.0, label: "a", count: 0),
                     E(kind: .finishGradients, computeSeconds: 0, label: "wait", count: 0),
                     E(kind: .totals, computeSeconds: 0.2, label: "optimizer", count: 6)],
            trailingSeconds: 0, lossTimes: [.init(world: 1, seconds: 0.5), .init(world: 2, seconds: 0.5)])
    }

    /// All-reduce: 0.8 s per 4000 bytes at two ranks (ring factor 1); the gather is free.
    private let link = LinkModel(name: "test", allReduce: AlphaBeta(algorithm: .ring, alpha: 0, beta: 2e-4),
                                 allGather: AlphaBeta(algorithm: .ringGather, alpha: 0, beta: 0))

    func testOneRankIsItsCompute() {
        let p = StepSimulator.predict(timeline(), SimulationSettings(ranks: 1, link: link, buckets: [[1], [0]]))
        XCTAssertEqual(p.stepSeconds, 3.7, accuracy: 1e-12)
        XCTAssertEqual(p.communicationWaitSeconds, 0)
    }

    func testBucketsOverlapBackwardAndTheLastOneIsExposed() {
        let p = StepSimulator.predict(timeline(), SimulationSettings(ranks: 2, link: link, buckets: [[1], [0]]))
        // By hand: bn at 1.0 (+24 B = 0.0048), loss to 1.5048 (+16 B = 0.0032), bucket 0 [2.508, 3.308] hidden,
        // bucket 1 [3.508, 4.308] exposed 0.8, optimizer 0.2, totals 48 B = 0.0096.
        XCTAssertEqual(p.syncBatchNormSeconds, 0.0048, accuracy: 1e-12)
        XCTAssertEqual(p.gatherSeconds, 0.0032, accuracy: 1e-12)
        XCTAssertEqual(p.gradientSeconds, 1.6, accuracy: 1e-12)
        XCTAssertEqual(p.exposedGradientSeconds, 0.8, accuracy: 1e-12)
        XCTAssertEqual(p.stepSeconds, 4.5176, accuracy: 1e-12)
        XCTAssertEqual(p.limit, "gradient all-reduce")
    }

    func testWithoutOverlapEveryBucketWaitsForBackward() {
        var s = SimulationSettings(ranks: 2, link: link, buckets: [[1], [0]])
        s.overlap = false
        let p = StepSimulator.predict(timeline(), s)
        XCTAssertEqual(p.exposedGradientSeconds, 1.6, accuracy: 1e-12)
        XCTAssertEqual(p.stepSeconds, 4.5176 + 0.8, accuracy: 1e-12)
    }

    func testSlowdownStretchesComputeOnlyWhileBucketsAreInFlight() {
        var s = SimulationSettings(ranks: 2, link: link, buckets: [[1], [0]])
        s.slowdown = 0.5
        let p = StepSimulator.predict(timeline(), s)
        // The second backward second starts at 2.508 under bucket 0 (until 3.308): 0.8 s do 0.5333 of work,
        // the remaining 0.4667 run at full speed: ready at 3.7747, bucket 1 until 4.5747.
        let ready = 3.308 + (1 - 0.8 / 1.5)
        XCTAssertEqual(p.slowdownSeconds, ready - 3.508, accuracy: 1e-9)
        XCTAssertEqual(p.stepSeconds, ready + 0.8 + 0.2 + 0.0096, accuracy: 1e-9)
    }

    func testQueueingDelaysOnlyCollectivesIssuedWhileBytesAreInFlight() {
        var s = SimulationSettings(ranks: 2, link: link, buckets: [[1], [0]])
        s.queueingSeconds = 0.1
        // Nothing is in flight when the SyncBN, gather and totals collectives run here.
        XCTAssertEqual(StepSimulator.predict(timeline(), s).stepSeconds, 4.5176, accuracy: 1e-12)
    }

    func testCompressionChangesTheBytes() {
        let params = timeline().parameters
        XCTAssertEqual(GradientCompression.none.allReduces(of: params), [8000])
        XCTAssertEqual(GradientCompression.bf16.allReduces(of: params), [4000])
        // [10, 100] at rank 4: P 10x4, Q 100x4 floats; the vector goes with P.
        XCTAssertEqual(GradientCompression.powerSGD(rank: 4).allReduces(of: params), [(40 + 1000) * 4, 400 * 4])
        // At rank 10, (10 + 100) * 10 > 1000: the matrix goes uncompressed.
        XCTAssertEqual(GradientCompression.powerSGD(rank: 10).allReduces(of: params), [2000 * 4])
        var s = SimulationSettings(ranks: 2, link: link, buckets: [[0, 1]])
        s.compression = .bf16
        XCTAssertEqual(StepSimulator.predict(timeline(), s).gradientSeconds, 0.8, accuracy: 1e-12)
    }

    func testLossTimeFollowsAStraightLineBeyondTheMeasuredWorlds() {
        var t = timeline()
        t.lossTimes = [.init(world: 1, seconds: 0.010), .init(world: 2, seconds: 0.012), .init(world: 4, seconds: 0.016)]
        XCTAssertEqual(t.lossSeconds(world: 2), 0.012)
        XCTAssertEqual(t.lossSeconds(world: 64), 0.010 + 63 * 0.002, accuracy: 1e-12)
        XCTAssertEqual(t.events(world: 64).first { $0.kind == .gatherBackward }?.computeSeconds ?? 0, 0.136, accuracy: 1e-12)
    }

    func testTimelineFileRoundTripsAndOtherFilesAreRefusedWithTheReason() throws {
        let dir = FileManager.default.temporaryDirectory.appendingPathComponent("timeline-\(getpid())")
        try FileManager.default.createDirectory(at: dir, withIntermediateDirectories: true)
        defer { try? FileManager.default.removeItem(at: dir) }
        let file = dir.appendingPathComponent("p.json")
        try timeline().encoded().write(to: file)
        XCTAssertEqual(try StepTimeline.read(contentsOf: file), timeline())
        try Data(#"{"format": "something-else"}"#.utf8).write(to: file)
        XCTAssertThrowsError(try StepTimeline.read(contentsOf: file)) { XCTAssertTrue("\($0)".contains("is not a step profile"), "\($0)") }
        try Data(#"{"format": "simclr-step-timeline", "version": 99}"#.utf8).write(to: file)
        XCTAssertThrowsError(try StepTimeline.read(contentsOf: file)) { XCTAssertTrue("\($0)".contains("version 99"), "\($0)") }
        XCTAssertThrowsError(try StepTimeline.read(contentsOf: dir.appendingPathComponent("missing.json"))) {
            XCTAssertTrue("\($0)".contains("cannot read the step profile"), "\($0)")
        }
    }

    func testIdentityMismatchNamesTheField() {
        let a = timeline().identity
        var b = a
        XCTAssertNil(a.mismatch(with: b))
        b.width = 0.5
        XCTAssertEqual(a.mismatch(with: b), "width 1.0 vs 0.5")
        b = a; b.precision = "bf16"
        XCTAssertEqual(a.mismatch(with: b), "precision fp32 vs bf16")
        b = a; b.perRankImages = 64
        XCTAssertEqual(a.mismatch(with: b), "batch per rank 1 vs 64 images")
    }

    func testExtrapolationGetsSlowerWithNodesAndFasterWithRate() {
        let e = Extrapolation(timeline: timeline(), baseLink: LinkModel(name: "m", allReduce: AlphaBeta(algorithm: .rabenseifner, alpha: 30e-6, beta: 1),
                                                                    allGather: AlphaBeta(algorithm: .recursiveDoubling, alpha: 30e-6, beta: 1)),
                              rateEfficiency: 0.9, buckets: [[1], [0]])
        let rows = e.rows(nodes: [64, 256], gigabits: [1, 100], compressions: [.none])
        XCTAssertEqual(rows.count, 4)
        let step = { (n: Int, g: Double) in rows.first { $0.nodes == n && $0.gigabits == g }!.prediction.stepSeconds }
        XCTAssertGreaterThan(step(256, 1), step(64, 1))
        XCTAssertLessThan(step(64, 100), step(64, 1))
        XCTAssertTrue(rows.allSatisfy { $0.efficiency > 0 && $0.efficiency <= 1 })
    }
}
