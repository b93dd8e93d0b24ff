import Cluster
import Foundation
import Kernels

/// A small model's gradients for the compression checks: convolution-like and Linear-like matrices, with
/// vectors between them, in forward order.
private let shapes: [[Int]] = [[32, 3, 3, 3], [32], [32], [64, 32, 3, 3], [64], [64], [48, 64], [48], [10, 48], [10]]
private let ranges = flatRanges(shapes.map { $0.reduce(1, *) })
private let matrixShapes = shapes.map { GradientMatrixShape(parameterShape: $0) }
private let count = ranges.last!.upperBound

/// Rank `rank`'s gradients at `step`: normal numbers, each parameter with its own scale.
private func fillGradients(_ t: Tensor, rank: Int, step: Int) {
    t.withUnsafeMutableBufferPointer { p in
        for (k, range) in ranges.enumerated() {
            var rng = SplitMix64(seed: UInt64(rank * 7919 + step * 104_729 + k * 31 + 1))
            let scale = 1 / Double(k + 1)
            for i in range { p[i] = Float(rng.nextNormal() * scale) }
        }
    }
}

/// The sum over `world` ranks of their gradients, in float32 and rank order: one process's gradients.
private func fillSum(_ t: Tensor, world: Int, step: Int) {
    let one = Tensor(shape: [count])
    t.fill(0)
    for r in 0..<world {
        fillGradients(one, rank: r, step: step)
        t.withUnsafeMutableBufferPointer { s in one.withUnsafeBufferPointer { o in for i in 0..<count { s[i] += o[i] } } }
    }
}

/// One step of `reducer` on the gradients `fill` writes, reported ready in backward order (last first).
private func step(_ reducer: GradientBucketReducer, _ grads: Tensor, _ fill: (Tensor) -> Void) throws {
    fill(grads)
    reducer.beginStep()
    for range in ranges.reversed() { reducer.gradientsReady(range) }
    _ = try reducer.finishStep()
}

/// max |a - b| / max |b| (0 when b is all zero and a equals it).
private func relativeDifference(_ a: Tensor, _ b: Tensor) -> Double {
    a.withUnsafeBufferPointer { x in b.withUnsafeBufferPointer { y in
        var diff = 0.0, scale = 0.0
        for i in 0..<x.count { diff = max(diff, Double(abs(x[i] - y[i]))); scale = max(scale, Double(abs(y[i]))) }
        return scale > 0 ? diff / scale : diff
    } }
}

private func reducer(_ group: any ProcessGroup, _ grads: Tensor, _ compression: GradientCompression,
                     overlap: Bool) throws -> GradientBucketReducer {
    // Small buckets (4 KiB first, then 16 KiB) so a step has several, some with vectors between matrices.
    try GradientBucketReducer(communicator: group, gradients: grads, parameterRanges: ranges, bucketBytes: 16 << 10,
                              firstBucketBytes: 4 << 10, average: false, overlap: overlap && group.size > 1,
                              compression: compression, matrixShapes: matrixShapes)
}

func compressionChecks(_ run: CheckRunner) {
    let c = run.comm
    let powerSGD = GradientCompression(method: .powersgd, powerSGDRank: 2, startStep: 0)

    // W ranks with PowerSGD compute what one process computes with the summed gradients: the result, Q and the
    // summed error after each of 3 steps; and per-rank error feedback (e_i <- N_i - A) must not.
    run.check("compression-powersgd-ranks-equal-one-process") {
        if c.size == 1 { return skip("needs two or more ranks") }
        var failures: [String] = []
        for fault in [nil, PowerSGDFault.perRankErrorFeedback, .perRankQ] {
            var compression = powerSGD
            compression.fault = fault
            let grads = Tensor(shape: [count]), single = Tensor(shape: [count])
            let world = try reducer(c, grads, compression, overlap: true)
            let one = try reducer(SingleProcess(), single, powerSGD, overlap: false)
            defer { try? world.close() }
            var worst = 0.0
            for t in 0..<3 {
                try step(world, grads) { fillGradients($0, rank: c.rank, step: t) }
                try step(one, single) { fillSum($0, world: c.size, step: t) }
                let mine = try world.checkpointTensors(), reference = try one.checkpointTensors()
                let differences = [relativeDifference(grads, single),
                                   relativeDifference(mine["powersgd.error_sum"]!, reference["powersgd.error_sum"]!),
                                   relativeDifference(mine["powersgd.q"]!, reference["powersgd.q"]!)]
                worst = max(worst, differences.max()!)
                if fault == nil, differences.max()! > 1e-4 {
                    failures.append("step \(t + 1): result, summed error, Q differ from one process by \(differences) (relative)")
                }
            }
            if let fault {
                run.info("\(fault.rawValue): W = \(c.size) differs from one process by \(String(format: "%.2g", worst)) (relative)")
                if worst < 1e-2 { failures.append("the fault \(fault.rawValue) went unnoticed (difference \(worst))") }
            } else {
                run.info("powersgd rank 2, W = \(c.size): largest relative difference from one process over 3 steps \(String(format: "%.2g", worst))")
            }
        }
        return failures.first
    }

    // At full rank (R = the smaller side of every matrix), one power iteration reproduces the matrix: PowerSGD
    // equals the uncompressed sum and leaves no error.
    run.check("compression-powersgd-full-rank-is-exact") {
        let fullShapes: [[Int]] = [[8, 27], [8], [40, 8], [8, 8, 2, 2]]
        let fullRanges = flatRanges(fullShapes.map { $0.reduce(1, *) })
        let n = fullRanges.last!.upperBound
        var compression = GradientCompression(method: .powersgd, powerSGDRank: 8, startStep: 0)
        compression.compressEveryMatrix = true
        let a = Tensor(shape: [n]), b = Tensor(shape: [n])
        let full = try GradientBucketReducer(communicator: c, gradients: a, parameterRanges: fullRanges, average: false,
                                             compression: compression, matrixShapes: fullShapes.map { GradientMatrixShape(parameterShape: $0) })
        let plain = try GradientBucketReducer(communicator: c, gradients: b, parameterRanges: fullRanges, average: false)
        defer { try? full.close(); try? plain.close() }
        var worst = 0.0, error = 0.0
        for t in 0..<2 {
            for (reducer, grads) in [(full, a), (plain, b)] {
                var rng = SplitMix64(seed: UInt64(c.rank * 13 + t + 5))
                grads.withUnsafeMutableBufferPointer { for i in 0..<n { $0[i] = Float(rng.nextNormal()) } }
                reducer.beginStep()
                reducer.gradientsReady(0..<n)
                _ = try reducer.finishStep()
            }
            worst = max(worst, relativeDifference(a, b))
            let e = try full.checkpointTensors()["powersgd.error_sum"]!
            error = max(error, Double(e.array.map { abs($0) }.max() ?? 0))
        }
        run.info("full-rank powersgd vs uncompressed: relative difference \(String(format: "%.2g", worst)), largest error left \(String(format: "%.2g", error))")
        return firstFailure(expect(worst < 1e-5, "full-rank PowerSGD differs from the sum by \(worst)"),
                            expect(error < 1e-4, "full-rank PowerSGD left an error of \(error)"))
    }

    // bf16 on the wire: every element within bf16 rounding of the float64 sum, the same on every rank, and
    // really rounded (not the float32 sum).
    run.check("compression-bf16-within-rounding-of-float64") {
        let grads = Tensor(shape: [count])
        let bf16 = try reducer(c, grads, GradientCompression(method: .bf16), overlap: true)
        defer { try? bf16.close() }
        try step(bf16, grads) { fillGradients($0, rank: c.rank, step: 0) }
        var exact = [Double](repeating: 0, count: count), magnitude = [Double](repeating: 0, count: count)
        var float32 = [Float](repeating: 0, count: count)
        let one = Tensor(shape: [count])
        for r in 0..<c.size {
            fillGradients(one, rank: r, step: 0)
            for i in 0..<count {
                exact[i] += Double(one[i]); magnitude[i] += Double(abs(one[i])); float32[i] += one[i]
            }
        }
        // Each contribution and the sum are rounded once to 8 significant bits (relative error <= 2^-8).
        var outside = 0, rounded = 0, worst = 0.0
        for i in 0..<count {
            let bound = 0x1p-8 * (magnitude[i] + abs(exact[i])) * 1.001 + 1e-30
            let error = abs(Double(grads[i]) - exact[i])
            worst = max(worst, error / max(bound, 1e-30))
            if error > bound { outside += 1 }
            if grads[i] != float32[i] { rounded += 1 }
        }
        let identical = try ReplicaCheck.compare(grads, communicator: c).isConsistent
        run.info("bf16 sum over \(c.size) rank(s): worst error \(String(format: "%.2f", worst)) of the bound; \(rounded) of \(count) values differ from the float32 sum")
        return firstFailure(expect(outside == 0, "\(outside) values outside bf16 rounding of the float64 sum"),
                            expect(rounded > count / 2, "only \(rounded) of \(count) values differ from the float32 sum: not bf16"))
            ?? (identical ? nil : "ranks hold different sums")
    }

    // A checkpoint of PowerSGD's state (summed error, Q) restored on this many ranks and on one process (rank 0
    // the sum, the others zero) continues exactly as the uninterrupted run.
    run.check("compression-powersgd-checkpoint-resumes-on-any-rank-count") {
        let grads = Tensor(shape: [count]), resumed = Tensor(shape: [count]), single = Tensor(shape: [count])
        let original = try reducer(c, grads, powerSGD, overlap: true)
        defer { try? original.close() }
        for t in 0..<2 { try step(original, grads) { fillGradients($0, rank: c.rank, step: t) } }
        let saved = try original.checkpointTensors()
        let again = try reducer(c, resumed, powerSGD, overlap: true)
        defer { try? again.close() }
        try again.restore(checkpointTensors: c.rank == 0 ? saved : [:], rank: c.rank)
        again.stepsFinished = 2
        let one = try reducer(SingleProcess(), single, powerSGD, overlap: false)
        try one.restore(checkpointTensors: saved, rank: 0)
        one.stepsFinished = 2
        try step(original, grads) { fillGradients($0, rank: c.rank, step: 2) }
        try step(again, resumed) { fillGradients($0, rank: c.rank, step: 2) }
        try step(one, single) { fillSum($0, world: c.size, step: 2) }
        let sameRanks = relativeDifference(resumed, grads), oneProcess = relativeDifference(single, grads)
        run.info("resumed PowerSGD: on \(c.size) rank(s) \(String(format: "%.2g", sameRanks)), on one process \(String(format: "%.2g", oneProcess)) from the uninterrupted run (relative)")
        let refusal = original.checkpointRefusal(["powersgd.error_sum": Tensor(shape: [3]), "powersgd.q": saved["powersgd.q"]!])
        return firstFailure(expect(sameRanks < 1e-5, "resumed on \(c.size) rank(s): differs by \(sameRanks)"),
                            expect(oneProcess < 1e-4, "resumed on one process: differs by \(oneProcess)"),
                            expect(refusal != nil, "a checkpoint with an error of the wrong size was accepted"))
    }
}
