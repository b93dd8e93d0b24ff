import Foundation
import XCTest
import ScalingModel
import Tracing

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
        XCTAssertEqual(CollectiveAlgorithm.recursiveDoublingGather.bandwidthFactor(ranks: 8), 0.875)
        XCTAssertEqual(CollectiveAlgorithm.recursiveDoublingGather.latencySteps(ranks: 8), 3)
        // Not a power of two: libnbc folds W - P ranks into partners first (P = 4 for W = 6, 2 for W = 3).
        XCTAssertEqual(CollectiveAlgorithm.rabenseifner.latencySteps(ranks: 6), 2 * 2 + 3)
        XCTAssertEqual(CollectiveAlgorithm.rabenseifner.bandwidthFactor(ranks: 6), 1.5 + 2)
        XCTAssertEqual(CollectiveAlgorithm.rabenseifner.bandwidthFactor(ranks: 3), 1 + 2)
        XCTAssertEqual(CollectiveAlgorithm.recursiveDoubling.latencySteps(ranks: 6), 2 + 2)
        XCTAssertEqual(CollectiveAlgorithm.recursiveDoubling.bandwidthFactor(ranks: 6), 2 + 2)
        XCTAssertEqual(CollectiveAlgorithm.recursiveDoublingGather.latencySteps(ranks: 6), 5)
        XCTAssertEqual(CollectiveAlgorithm.recursiveDoublingGather.bandwidthFactor(ranks: 6), 5.0 / 6)
        XCTAssertEqual(CollectiveAlgorithm.ring.bandwidthFactor(ranks: 6), 10.0 / 6)
        // The project's all-reduce: Rabenseifner on powers of two, the ring elsewhere; sweep points count for it so.
        XCTAssertEqual(CollectiveAlgorithm.projectAllReduce.latencySteps(ranks: 8), 6)
        XCTAssertEqual(CollectiveAlgorithm.projectAllReduce.latencySteps(ranks: 6), 10)
        XCTAssertEqual(CollectiveAlgorithm.projectAllReduce.bandwidthFactor(ranks: 6), 10.0 / 6)
        let point = { (w: Int, label: String) in
            var p = SweepPoint(link: "x", collective: .allReduce, ranks: w, bytes: 8, seconds: 1)
            p.algorithm = label
            return p.measured(.projectAllReduce)
        }
        XCTAssertEqual([point(4, "nbc:3"), point(4, "nbc:1"), point(6, "nbc:1"), point(6, "nbc:3")], [true, false, true, false])
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
    func testAFitUsesOnlyThePointsOfItsAlgorithm() throws {
        // Rabenseifner (libnbc 3) points of a 1 Gbit/s link, and ring (libnbc 1) points 10x slower beside them.
        var points = sweep(alpha: 20e-6, beta: 8e-9, algorithm: .rabenseifner, ranks: [2, 4]).map { p -> SweepPoint in
            var p = p; p.algorithm = "nbc:3"; return p
        }
        points += points.map { p -> SweepPoint in var p = p; p.algorithm = "nbc:1"; p.seconds *= 10; return p }
        let gather = [SweepPoint(link: "x", collective: .allGather, ranks: 2, bytes: 1 << 20, seconds: 0.01, algorithm: "nbc:2"),
                      SweepPoint(link: "x", collective: .allGather, ranks: 4, bytes: 1 << 20, seconds: 0.02, algorithm: "nbc:2"),
                      SweepPoint(link: "x", collective: .allGather, ranks: 2, bytes: 1 << 20, seconds: 9, algorithm: "nbc:1")]
        let link = try LinkModel.fit(name: "x", points: points + gather, maximumRanks: 4)
        XCTAssertEqual(link.allReduce.alpha, 20e-6, accuracy: 1e-12)
        XCTAssertEqual(link.allReduce.beta, 8e-9, accuracy: 1e-15)
        XCTAssertEqual(link.allGather.algorithm, .recursiveDoublingGather)
        XCTAssertLessThan(link.allGather.seconds(bytes: 1 << 20, ranks: 2), 0.1, "the linear (nbc:1) point must not enter the fit")
        XCTAssertEqual(CollectiveAlgorithm(openMPILabel: "tuned-yield:6", collective: .allReduce), .rabenseifner)
        XCTAssertNil(CollectiveAlgorithm(openMPILabel: "nbc:0", collective: .allReduce), "OpenMPI's own choice has no formula")
    }

    func testHostCPUIsReadWhenRecorded() throws {
        let csv = """
        link,world,algorithm,collective,ranks,bytes,iterations,seconds,algbw_gbps,busbw_gbps,host_cpu
        10gbit,8,nbc:3,allreduce,8,8,200,0.001,0,0,0.96
        1gbit,2,nbc:3,allreduce,2,8,200,0.001,0,0,
        """
        XCTAssertEqual(try SweepPoint.read(csv: csv).map(\.hostCPU), [0.96, nil])
    }
}

final class StepSimulatorTests: XCTestCase {
    /// Two parameters of 1000 floats; bucket 0 holds parameter 1 (its gradient is final first).
    private func timeline() -> StepTimeline {
        typealias E = StepTimeline.Event
        return StepTimeline(
            identity: .init(arch: "resnet18", stem: "cifar", width: 1, headDims: [512, 256], precision: "fp32", perRankBatch: 1,
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

    func testComputeFactorStretchesEveryComputeStretchOfADistributedStep() {
        var s = SimulationSettings(ranks: 2, link: link, buckets: [[1], [0]])
        s.computeFactor = 1.5
        let p = StepSimulator.predict(timeline(), s)
        // By hand: bn 1.5 (+0.0048), loss 0.75 to 2.258 (+0.0032), b ready at 3.758: bucket 0 [3.758, 4.558];
        // a ready at 5.258: bucket 1 [5.258, 6.058] exposed 0.8; optimizer 0.3 to 6.358, totals +0.0096.
        XCTAssertEqual(p.stepSeconds, 6.3676, accuracy: 1e-9)
        XCTAssertEqual(p.slowdownSeconds, 0.5 * 3.7, accuracy: 1e-9)
        XCTAssertEqual(p.exposedGradientSeconds, 0.8, accuracy: 1e-9)
        // One rank communicates nothing: its compute is the profile's.
        s.ranks = 1
        XCTAssertEqual(StepSimulator.predict(timeline(), s).stepSeconds, 3.7, accuracy: 1e-12)
    }

    func testQueueingDelaysOnlyCollectivesIssuedWhileBytesAreInFlight() {
        var s = SimulationSettings(ranks: 2, link: link, buckets: [[1], [0]])
        s.queueingSeconds = 0.1
        // Nothing is in flight when the SyncBN, gather and totals collectives run here.
        XCTAssertEqual(StepSimulator.predict(timeline(), s).stepSeconds, 4.5176, accuracy: 1e-12)
    }

    /// A step whose backward SyncBN runs while the first bucket is in flight (0.4 s of 4000 bytes at two ranks), and
    /// backward's remaining compute hides it, so the SyncBN's queueing delays the step.
    private func backwardSyncTimeline() -> StepTimeline {
        typealias E = StepTimeline.Event
        var t = timeline()
        t.events = [E(kind: .gather, computeSeconds: 0.5, label: "gather", count: 2),
                    E(kind: .gatherBackward, computeSeconds: 0.1, label: "loss", count: 2),
                    E(kind: .ready, computeSeconds: 0.2, label: "b", count: 1),
                    E(kind: .syncBatchNorm, computeSeconds: 0.1, label: "bn", count: 64),
                    E(kind: .ready, computeSeconds: 1.5, label: "a", count: 0),
                    E(kind: .finishGradients, computeSeconds: 0, label: "wait", count: 0),
                    E(kind: .totals, computeSeconds: 0.1, label: "optimizer", count: 6)]
        return t
    }

    /// A run with `--emulate-scale K` sends 1/K of each gradient on a link at 1/K of the rate: the model costs
    /// its buckets at 1/K of the bytes on the sweep of the slower link, and a study row says which.
    func testEmulateScaleCostsOneKthOfTheGradientsOnTheSlowerLinksSweep() throws {
        var scaled = SimulationSettings(ranks: 2, link: link, buckets: [[1], [0]])
        scaled.gradientScale = 4
        let full = StepSimulator.predict(timeline(), SimulationSettings(ranks: 2, link: link, buckets: [[1], [0]]))
        XCTAssertEqual(StepSimulator.predict(timeline(), scaled).gradientSeconds, full.gradientSeconds / 4, accuracy: 1e-12)
        scaled.gradientScale = 3   // 1000 elements -> 334 each
        XCTAssertEqual(StepSimulator.predict(timeline(), scaled).gradientSeconds, 2 * 334 * 4 * 2e-4, accuracy: 1e-12)

        // Gradients of 8000 bytes take about 1.4 s at W = 8 on the fast link: a good part of the 3.7 s step.
        let fast = LinkModel(name: "10gbit", allReduce: AlphaBeta(algorithm: .rabenseifner, alpha: 1e-5, beta: 1e-4),
                             allGather: AlphaBeta(algorithm: .recursiveDoublingGather, alpha: 1e-5, beta: 1e-4))
        var slow = fast
        slow.name = "1250mbit"; slow.allReduce.beta = 8e-4; slow.allGather.beta = 8e-4
        var points: [SweepPoint] = []
        for l in [fast, slow] {
            for bytes in [8, 1 << 10, 1 << 20] {
                for w in [2, 4] {
                    points.append(SweepPoint(link: l.name, collective: .allReduce, ranks: w, bytes: bytes, seconds: l.allReduce.seconds(bytes: bytes, ranks: w)))
                    points.append(SweepPoint(link: l.name, collective: .allGather, ranks: w, bytes: bytes, seconds: l.allGather.seconds(bytes: bytes, ranks: w)))
                }
            }
        }
        let model = ScalingModel(timeline: timeline(), links: ["10gbit": fast, "1250mbit": slow], buckets: try timeline().buckets(bucketBytes: 25 << 20),
                                 fitMaxRanks: 4)
        var table = StudyTable(header: ["link", "ranks", "per_rank_batch", "ms_per_step", "emulate_scale"])
        for w in [1, 2, 4, 8] {
            let ms = try model.predict(link: "10gbit", ranks: w, compression: .none, gradientScale: 8, sweptLink: "1250mbit").stepSeconds * 1000
            table.append(["link": "10gbit", "ranks": String(w), "per_rank_batch": "1", "ms_per_step": String(ms), "emulate_scale": "8"])
        }
        let study = ScalingModelStudy(points: points)
        let report = try study.steps(timeline: timeline(), study: table)
        XCTAssertTrue(report.text.contains("Held out: 1 rows, largest error 0.0% (target 10%): met."), report.text)
        // K's point: 1/8 of the gradients at 1/8 of the rate cost what the full ones cost on the fast link (only
        // SyncBN's and the gather's bytes, which do not shrink, cost 8x); the slow link's sweep with full
        // gradients, or the fast link's with 1/8, would be other steps.
        let row = table.number(3, "ms_per_step")! / 1000
        let scaledSlow = try model.predict(link: "10gbit", ranks: 8, compression: .none, gradientScale: 8, sweptLink: "1250mbit")
        let unscaledFast = try model.predict(link: "10gbit", ranks: 8, compression: .none)
        XCTAssertEqual(scaledSlow.stepSeconds, row, accuracy: 1e-9)
        XCTAssertEqual(scaledSlow.gradientSeconds, unscaledFast.gradientSeconds, accuracy: 1e-12)
        XCTAssertGreaterThan(scaledSlow.syncBatchNormSeconds + scaledSlow.gatherSeconds, unscaledFast.syncBatchNormSeconds + unscaledFast.gatherSeconds)
        XCTAssertGreaterThan(try model.predict(link: "10gbit", ranks: 8, compression: .none, gradientScale: 1, sweptLink: "1250mbit").stepSeconds / row, 1.5)
        XCTAssertLessThan(try model.predict(link: "10gbit", ranks: 8, compression: .none, gradientScale: 8).stepSeconds / row, 0.8)
        // Without a sweep at 1/8 of the rate the row cannot be costed, and the error says what to give.
        XCTAssertThrowsError(try ScalingModelStudy(points: points.filter { $0.link == "10gbit" }).steps(timeline: timeline(), study: table)) {
            XCTAssertTrue("\($0)".contains("ran 10gbit with --emulate-scale 8: give a sweep of the link at 1/8 of its rate"), "\($0)")
        }
    }

    func testQueueingIsFittedOnTheSmallWorldsAndPredictsTheHeldOutOnes() throws {
        let fast = LinkModel(name: "x", allReduce: AlphaBeta(algorithm: .rabenseifner, alpha: 1e-4, beta: 1e-4),
                             allGather: AlphaBeta(algorithm: .recursiveDoublingGather, alpha: 1e-4, beta: 1e-6))
        var truth = ScalingModel(timeline: backwardSyncTimeline(), links: ["x": fast], buckets: [[1], [0]], fitMaxRanks: 4)
        truth.queueing["x"] = 0.004
        let measured = try [2, 4, 8, 16].map { w in
            ScalingModel.Measurement(link: "x", compression: .none, ranks: w,
                                     seconds: try truth.predict(link: "x", ranks: w, compression: .none).stepSeconds)
        }
        var model = truth
        model.queueing = [:]
        XCTAssertGreaterThan(abs(try model.predict(link: "x", ranks: 8, compression: .none).stepSeconds / measured[2].seconds - 1), 0.001,
                             "the step must depend on queueing for this test to mean anything")
        // The held-out rows (8, 16) get a wildly wrong time: the fit must not look at them.
        var poisoned = measured
        poisoned[2].seconds *= 3; poisoned[3].seconds *= 3
        model.fitQueueing(to: poisoned)
        XCTAssertEqual(model.queueing["x"] ?? 0, 0.004, accuracy: 1e-6)
        XCTAssertEqual(try model.predict(link: "x", ranks: 16, compression: .none).stepSeconds, measured[3].seconds, accuracy: 1e-6)
    }

    /// W emulated ranks on one host stretch their replayed compute by 1 + h (W - 1): h is fitted on the small
    /// worlds' measured compute alone, applies to emulated rows only, and predicts the held-out ones.
    func testHostStretchIsFittedOnTheSmallWorldsComputeAndAppliesToEmulatedRowsOnly() throws {
        let fast = LinkModel(name: "x", allReduce: AlphaBeta(algorithm: .rabenseifner, alpha: 1e-4, beta: 1e-4),
                             allGather: AlphaBeta(algorithm: .recursiveDoublingGather, alpha: 1e-4, beta: 1e-6))
        var truth = ScalingModel(timeline: backwardSyncTimeline(), links: ["x": fast], buckets: [[1], [0]], fitMaxRanks: 4)
        truth.hostStretch[ScalingModel.hostKey("x", .none)] = 0.03
        let measured = try [2, 3, 4, 8, 16].map { w in
            var m = ScalingModel.Measurement(link: "x", compression: .none, ranks: w, seconds: 0)
            m.emulated = true
            let p = try truth.predict(m)
            (m.seconds, m.computeSeconds) = (p.stepSeconds, p.computeSeconds + p.slowdownSeconds + p.syncBatchNormSeconds)
            return m
        }
        var model = truth
        model.hostStretch = [:]
        XCTAssertLessThan(try model.predict(measured[4]).stepSeconds / measured[4].seconds, 0.85, "the stretch must matter for this test to mean anything")
        // The held-out rows (8, 16) measured a wildly different compute: the fit must not look at them.
        var poisoned = measured
        poisoned[3].computeSeconds! *= 3; poisoned[4].computeSeconds! /= 3
        try model.fitHostStretch(to: poisoned)
        XCTAssertEqual(model.hostStretch[ScalingModel.hostKey("x", .none)] ?? 0, 0.03, accuracy: 1e-9)
        XCTAssertNil(model.hostStretch[ScalingModel.hostKey("x", .bf16)])
        XCTAssertEqual(try model.predict(measured[4]).stepSeconds, measured[4].seconds, accuracy: 1e-9)
        // A row that computed for real (not emulated) and the link's own prediction are not stretched.
        var real = measured[4]
        real.emulated = false
        XCTAssertEqual(try model.predict(real).stepSeconds, try model.predict(link: "x", ranks: 16, compression: .none).stepSeconds, accuracy: 1e-12)
        XCTAssertLessThan(try model.predict(real).stepSeconds, measured[4].seconds * 0.85)
        // Measured compute below the prediction never gives a negative stretch.
        var faster = Array(measured.prefix(3))
        for i in faster.indices { faster[i].computeSeconds! *= 0.5 }
        try model.fitHostStretch(to: faster)
        XCTAssertEqual(model.hostStretch[ScalingModel.hostKey("x", .none)], 0)
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
        b = a; b.perRankBatch = 64
        XCTAssertEqual(a.mismatch(with: b), "batch per rank 1 vs 64")
    }

    /// The extrapolation is the model itself at the base link's rate, and it moves the right way with the rate
    /// and the node count: a faster link never makes a step slower, more nodes never make it faster.
    func testExtrapolationReproducesTheBaseLinkAndIsMonotone() throws {
        // Base link "1gbit": all-reduce at 1/2 and all-gather at 1/4 of a nominal rate, slow enough that
        // communication is a good part of the step (8000 bytes of gradients take 1.6 s at W = 2).
        let base = LinkModel(name: "1gbit", allReduce: AlphaBeta(algorithm: .rabenseifner, alpha: 1e-3, beta: 2e-4),
                             allGather: AlphaBeta(algorithm: .recursiveDoublingGather, alpha: 1e-3, beta: 4e-4))
        let buckets = [[1], [0]]
        let e = Extrapolation(timeline: timeline(), baseLink: base, baseGigabits: 1, buckets: buckets)
        let compressions: [GradientCompression] = [.none, .bf16, .powerSGD(rank: 2)]
        let model = ScalingModel(timeline: timeline(), links: ["1gbit": base], buckets: buckets, fitMaxRanks: 4)

        // At the base rate every rank count it could have measured is the model's prediction for that link.
        for w in [1, 2, 3, 4, 6, 8] {
            for c in compressions {
                let row = try XCTUnwrap(e.rows(nodes: [w], gigabits: [1], compressions: [c]).first)
                XCTAssertEqual(row.prediction, try model.predict(link: "1gbit", ranks: w, compression: c), "W=\(w) \(c.name)")
            }
        }
        // Each collective keeps its own fraction of the rate: at 4x the rate, 1/4 of the seconds per byte.
        XCTAssertEqual(e.link(gigabits: 4).allReduce.beta, 5e-5, accuracy: 1e-18)
        XCTAssertEqual(e.link(gigabits: 4).allGather.beta, 1e-4, accuracy: 1e-18)
        XCTAssertEqual(e.link(gigabits: 4).allReduce.alpha, 1e-3)

        let rates = [0.25, 1, 10, 25, 100], nodes = [2, 4, 8, 16, 64, 256]
        let rows = e.rows(nodes: nodes, gigabits: rates, compressions: compressions)
        XCTAssertEqual(rows.count, rates.count * nodes.count * compressions.count)
        func row(_ n: Int, _ g: Double, _ c: GradientCompression) -> Extrapolation.Row {
            rows.first { $0.nodes == n && $0.gigabits == g && $0.compression == c }!
        }
        for c in compressions {
            for n in nodes {
                let steps = rates.map { row(n, $0, c).prediction.stepSeconds }
                XCTAssertEqual(steps, steps.sorted(by: >), "\(c.name), \(n) nodes: step time against rate \(rates)")
                XCTAssertLessThan(steps.last!, steps.first!, "\(c.name), \(n) nodes: the rate must matter here")
            }
            for g in rates {
                let steps = nodes.map { row($0, g, c).prediction.stepSeconds }
                XCTAssertEqual(steps, steps.sorted(), "\(c.name) at \(g): step time against nodes \(nodes)")
            }
        }
        XCTAssertTrue(rows.allSatisfy { $0.efficiency > 0 && $0.efficiency <= 1 })
        // The efficiency is the one-node step over the row's step, on the same link.
        let one = StepSimulator.predict(timeline(), SimulationSettings(ranks: 1, link: e.link(gigabits: 10), buckets: buckets)).stepSeconds
        XCTAssertEqual(row(64, 10, .none).efficiency, one / row(64, 10, .none).prediction.stepSeconds, accuracy: 1e-12)

        // "From N nodes" is the first power of two where the part passes the fraction.
        let exposed = { (p: StepPrediction) in p.exposedGradientSeconds }
        let first = try XCTUnwrap(e.firstNodes(where: exposed, exceeds: 0.1, gigabits: 1, compression: .none))
        let at = { (n: Int) in e.rows(nodes: [n], gigabits: [1], compressions: [.none])[0].prediction }
        XCTAssertGreaterThan(at(first).exposedGradientSeconds, 0.1 * at(first).stepSeconds)
        if first > 2 { XCTAssertLessThanOrEqual(at(first / 2).exposedGradientSeconds, 0.1 * at(first / 2).stepSeconds) }
    }

    /// `simclr scaling-model`'s study: CPU-bound sweep points are left out, the queueing is fitted on the small
    /// worlds, every measured weak-scaling row of the profile's batch gets its prediction, and the held-out rows
    /// decide whether the model met the tolerance.
    func testTheStudyChecksHeldOutRowsAndFillsThePredictions() throws {
        let truth = LinkModel(name: "1gbit", allReduce: AlphaBeta(algorithm: .rabenseifner, alpha: 30e-6, beta: 8e-9),
                              allGather: AlphaBeta(algorithm: .recursiveDoublingGather, alpha: 30e-6, beta: 8e-9))
        var points: [SweepPoint] = []
        for bytes in [8, 1 << 10, 1 << 20, 8 << 20] {
            for w in [2, 4, 8] {
                for (kind, cost) in [(SweepPoint.Collective.allReduce, truth.allReduce), (.allGather, truth.allGather)] {
                    points.append(SweepPoint(link: "1gbit", collective: kind, ranks: w, bytes: bytes, seconds: cost.seconds(bytes: bytes, ranks: w)))
                }
            }
        }
        var bound = SweepPoint(link: "1gbit", collective: .allReduce, ranks: 8, bytes: 8, seconds: 5)
        bound.hostCPU = 0.99
        var study = ScalingModelStudy(points: points + [bound])
        study.extrapolation = (nodes: [64], gigabits: [10])
        let model = ScalingModel(timeline: timeline(), links: ["1gbit": truth], buckets: try timeline().buckets(bucketBytes: 25 << 20), fitMaxRanks: 4)
        var table = StudyTable(header: ["link", "mode", "ranks", "per_rank_batch", "ms_per_step"])
        for w in [1, 2, 4, 8] {
            let ms = try model.predict(link: "1gbit", ranks: w, compression: .none).stepSeconds * 1000
            table.append(["link": "1gbit", "mode": "weak", "ranks": String(w), "per_rank_batch": "1", "ms_per_step": String(ms)])
        }
        table.append(["link": "1gbit", "mode": "weak", "ranks": "2", "per_rank_batch": "64", "ms_per_step": "1"])   // another batch
        table.append(["link": "1gbit", "mode": "strong", "ranks": "2", "per_rank_batch": "1", "ms_per_step": "1"])  // not weak

        let report = try study.steps(timeline: timeline(), study: table)
        XCTAssertTrue(report.met, report.text)
        XCTAssertTrue(report.text.contains("Left out as CPU-bound (host CPU >= 0.95; not link figures): 1gbit W=8 (1 points)."), report.text)
        XCTAssertTrue(report.text.contains("Held out: 1 rows, largest error 0.0% (target 10%): met."), report.text)
        XCTAssertTrue(report.text.contains("## Extrapolation"), report.text)
        let predicted = try XCTUnwrap(report.study).rows.map { $0.last! }
        XCTAssertEqual(predicted.prefix(4).map { Double($0) != nil }, [true, true, true, true])
        XCTAssertEqual(predicted.suffix(2), ["", ""], "rows of another batch or mode are not predicted")
        XCTAssertEqual(Set(report.charts.keys), ["efficiency.svg", "predicted-vs-measured.svg"])

        // A held-out row 30% slower than the model says: not met.
        table.set(3, "ms_per_step", String(table.number(3, "ms_per_step")! * 1.3))
        let missed = try study.steps(timeline: timeline(), study: table)
        XCTAssertFalse(missed.met)
        XCTAssertTrue(missed.text.contains("(target 10%): NOT met."), missed.text)
        XCTAssertThrowsError(try study.steps(timeline: timeline(), study: StudyTable(header: ["link", "ranks"]))) {
            XCTAssertEqual("\($0)", "the study table has no column 'ms_per_step'")
        }
    }
}

final class TimelineBuilderTests: XCTestCase {
    /// Two steps recorded at known times (ms): forward 10 (SyncBN of 64 channels at 4), gather of 8 rows at 10-11,
    /// loss 11-14, gather backward 14-15, backward with ready marks at 20 and 25 (+ the step offset), wait 25-26,
    /// optimizer 26-28, totals 28-29. Step 2 is the same but 2 ms slower in the loss.
    private func trace() -> Tracer {
        let t = Tracer(capacity: 256)
        let c = t.compute
        let ms: (Double) -> UInt64 = { UInt64($0 * 1e6) }
        for (step, offset, extraLoss) in [(0, 1000.0, 0.0), (1, 2000.0, 2.0)] {
            let o = offset
            c.begin(t.name(StepSpans.step), at: ms(o), argument: Int64(step))
            c.begin(t.name(StepSpans.forward), at: ms(o))
            c.span(t.name(StepSpans.syncBatchNormPrefix + "bn1"), from: ms(o + 4), to: ms(o + 4.5), argument: 64)
            c.end(at: ms(o + 10))
            c.span(t.name(StepSpans.gather), from: ms(o + 10), to: ms(o + 11), argument: 8)
            c.span(t.name(StepSpans.loss), from: ms(o + 11), to: ms(o + 14 + extraLoss))
            c.span(t.name(StepSpans.gatherBackward), from: ms(o + 14 + extraLoss), to: ms(o + 15 + extraLoss), argument: 8)
            c.instant(t.name(StepSpans.readyPrefix + "fc.weight"), at: ms(o + 20 + extraLoss), argument: 1)
            c.instant(t.name(StepSpans.readyPrefix + "conv1.weight"), at: ms(o + 25 + extraLoss), argument: 0)
            c.span(t.name(StepSpans.waitForGradients), from: ms(o + 25 + extraLoss), to: ms(o + 26 + extraLoss))
            c.span(t.name(StepSpans.totals), from: ms(o + 28 + extraLoss), to: ms(o + 29 + extraLoss))
            c.end(at: ms(o + 29 + extraLoss))
        }
        return t
    }

    private func build(_ t: Tracer) throws -> StepTimeline {
        try StepTimeline.build(events: t.compute.events, names: t.nameTable,
                               identity: .init(arch: "resnet18", stem: "cifar", width: 1, headDims: [4], precision: "fp32",
                                               perRankBatch: 8, imageSize: 32, smallCrops: 0),
                               machine: "m", threads: 1, measuredAt: "now", embeddingDim: 4,
                               parameters: [.init(name: "conv1.weight", elements: 10, matrix: [2, 5]), .init(name: "fc.weight", elements: 4, matrix: [2, 2])],
                               lossTimes: [.init(world: 1, seconds: 0.003)])
    }

    func testEventsAndTheComputeBetweenThem() throws {
        let timeline = try build(trace())
        XCTAssertEqual(timeline.measuredSteps, 2)
        let summary = timeline.events.map { "\($0.kind.rawValue) \($0.label) \($0.count)" }
        XCTAssertEqual(summary, ["syncbn bn1 64", "gather gather 8", "gather-backward gather backward 8", "ready fc.weight 1",
                                 "ready conv1.weight 0", "finish-gradients wait for gradients 0", "totals step totals 6"])
        // Gaps in ms: 4; 10 - 4.5; loss 3 or 5 (median of two: the larger); 5; 5; 0; 2.
        let gaps = timeline.events.map { ($0.computeSeconds * 1e3 * 1000).rounded() / 1000 }
        XCTAssertEqual(gaps, [4, 5.5, 5, 5, 5, 0, 2])
        XCTAssertEqual(timeline.trailingSeconds, 0, accuracy: 1e-9)
        XCTAssertEqual(timeline.bytesOfGather, 8 * 4 * 4)
    }

    func testStepsOfAnotherShapeAreRefused() throws {
        let t = trace()
        let c = t.compute
        c.begin(t.name(StepSpans.step), at: 3_000_000_000)
        c.span(t.name(StepSpans.waitForGradients), from: 3_001_000_000, to: 3_002_000_000)
        c.end(at: 3_003_000_000)
        XCTAssertThrowsError(try build(t)) { XCTAssertTrue("\($0)".contains("step 3 of the trace has other events"), "\($0)") }
        XCTAssertThrowsError(try build(Tracer())) { XCTAssertTrue("\($0)".contains("no 'step' span"), "\($0)") }
    }
}

extension StepTimeline {
    var bytesOfGather: Int { events.first { $0.kind == .gather }!.bytes(embeddingDim: embeddingDim) }
}
