import Cluster
import Foundation
import Kernels
import NeuralNet
import Training

/// Point checks of the Communicator's collectives with rank-dependent data whose results are exact.
func collectiveChecks(_ run: CheckRunner) {
    let c = run.comm
    let W = c.size, r = c.rank

    run.check("world") {
        let env = ProcessInfo.processInfo.environment
        // mpirun says how many it started in OMPI_COMM_WORLD_SIZE; srun in SLURM_STEP_NUM_TASKS.
        let launched = Int(env["OMPI_COMM_WORLD_SIZE"] ?? env["SLURM_STEP_NUM_TASKS"] ?? "1") ?? 1
        let hosts = try c.allGatherV(Array("\(c.processorName) local \(c.localRank)/\(c.localSize)".utf8))
        for (rank, host) in hosts.enumerated() { run.info("rank \(rank): \(String(decoding: host, as: UTF8.self))") }
        run.info("size \(W), thread level \(Communicator.providedThreadLevel.map { "\($0)" } ?? "?")")
        run.info("collective algorithms: \(CollectiveAlgorithms.summary)")
        return firstFailure(
            expect(W == launched, "size \(W) but the launcher started \(launched)"),
            expect(r >= 0 && r < W, "rank \(r) outside 0..<\(W)"),
            expect(c.localRank < c.localSize && c.localSize <= W, "local rank \(c.localRank) of \(c.localSize)"),
            expect(Communicator.providedThreadLevel == .multiple, "thread level \(String(describing: Communicator.providedThreadLevel))"))
    }

    run.check("barrier") { try c.barrier(); return nil }

    run.check("broadcast") {
        let root = W - 1
        let t = Tensor(shape: [1000], repeating: Float(r))
        try c.broadcast(t, root: root)
        var floats: [Float] = r == 0 ? [1.5, -2, 3] : []
        try c.broadcast(&floats)
        var doubles: [Double] = r == 0 ? [Double.pi, 1e300] : [7, 7, 7, 7]
        try c.broadcast(&doubles)
        var bytes: [UInt8] = Array(repeating: UInt8(r), count: r == root ? 5 : 2)
        try c.broadcast(&bytes, root: root)
        let text = try c.broadcast(r == 0 ? "héllo from rank 0" : "", root: 0)
        let data = try c.broadcast(r == 0 ? Data([1, 2, 3, 255]) : Data(), root: 0)
        let number = try c.broadcast(r == 0 ? 1 << 40 : -1)
        return firstFailure(
            expect(t.array.allSatisfy { $0 == Float(root) }, "tensor broadcast from rank \(root)"),
            expect(floats == [1.5, -2, 3], "[Float] \(floats)"),
            expect(doubles == [Double.pi, 1e300], "[Double] \(doubles)"),
            expect(bytes == Array(repeating: UInt8(root), count: 5), "[UInt8] \(bytes)"),
            expect(text == "héllo from rank 0", "String '\(text)'"),
            expect(data == Data([1, 2, 3, 255]), "Data \(Array(data))"),
            expect(number == 1 << 40, "Int \(number)"))
    }

    run.check("allreduce-sum") {
        // Small integers: every summation order gives the same exact result.
        let n = 100_003
        let t = Tensor(shape: [n])
        t.withUnsafeMutableBufferPointer { for i in 0..<n { $0[i] = Float((r + 1) * (i % 13)) } }
        try c.allReduceSum(t)
        let ranksSum = Float(W * (W + 1) / 2)
        let tensorOK = t.withUnsafeBufferPointer { p in (0..<n).allSatisfy { p[$0] == ranksSum * Float($0 % 13) } }
        let part = Tensor(shape: [10], repeating: 1)
        try c.allReduceSum(part, range: 3..<6)
        var f: [Float] = [Float(r), 1]
        var d: [Double] = [Double(r) * 0.5, -1]
        var i: [Int64] = [Int64(r) << 33, 1]
        try c.allReduceSum(&f); try c.allReduceSum(&d); try c.allReduceSum(&i)
        let s = Double(W * (W - 1) / 2)
        return firstFailure(
            expect(tensorOK, "tensor sum wrong"),
            expect(part.array == [1, 1, 1] + Array(repeating: Float(W), count: 3) + [1, 1, 1, 1], "range sum \(part.array)"),
            expect(f == [Float(s), Float(W)], "[Float] \(f)"),
            expect(d == [s * 0.5, -Double(W)], "[Double] \(d)"),
            expect(i == [Int64(s) << 33, Int64(W)], "[Int64] \(i)"))
    }

    run.check("allreduce-max-min") {
        let maxD = try c.allReduceMax(Double(r) - 0.5), minD = try c.allReduceMin(Double(r) - 0.5)
        let maxI = try c.allReduceMax(Int64(-r)), minI = try c.allReduceMin(Int64(-r))
        return firstFailure(
            expect(maxD == Double(W - 1) - 0.5 && minD == -0.5, "Double max/min \(maxD) \(minD)"),
            expect(maxI == 0 && minI == Int64(1 - W), "Int64 max/min \(maxI) \(minI)"))
    }

    run.check("allgather") {
        let b = 3, d = 4
        let local = Tensor(shape: [b, d])
        local.withUnsafeMutableBufferPointer { for i in 0..<(b * d) { $0[i] = Float(r * 1000 + i) } }
        let all = try c.allGather(local)
        let expected = (0..<W).flatMap { q in (0..<(b * d)).map { Float(q * 1000 + $0) } }
        let words = try c.allGather([UInt64(r) &* 0x9E37_79B9_7F4A_7C15])
        return firstFailure(
            expect(all.shape == [W * b, d], "shape \(all.shape)"),
            expect(all.array == expected, "values out of rank order"),
            expect(words == (0..<W).map { UInt64($0) &* 0x9E37_79B9_7F4A_7C15 }, "[UInt64] \(words)"))
    }

    run.check("allgatherv-uneven") {
        // Rank q contributes (q * 5) % 7 elements (rank 0 none), valued q*100 + i.
        let count = { (q: Int) in (q * 5) % 7 }
        let local = Tensor(shape: [count(r)])
        local.withUnsafeMutableBufferPointer { for i in 0..<$0.count { $0[i] = Float(r * 100 + i) } }
        let (values, counts) = try c.allGatherV(local)
        let expected = (0..<W).flatMap { q in (0..<count(q)).map { Float(q * 100 + $0) } }
        let arrays = try c.allGatherV([Double](repeating: Double(r), count: r + 1))
        return firstFailure(
            expect(counts == (0..<W).map(count), "counts \(counts)"),
            expect(values.array == expected, "values \(values.array) expected \(expected)"),
            expect(arrays == (0..<W).map { [Double](repeating: Double($0), count: $0 + 1) }, "[Double] allGatherV \(arrays)"))
    }

    run.check("duplicate-and-split") {
        let dup = try c.duplicate()
        let parity = try c.split(color: r % 2, key: r)!
        let none = try c.split(color: -1, key: r)
        var x: [Int64] = [1]
        try dup.allReduceSum(&x)
        var y: [Int64] = [Int64(r)]
        try parity.allReduceSum(&y)
        let expectedY = stride(from: r % 2, to: W, by: 2).reduce(0, +)
        let ok = firstFailure(
            expect(dup.size == W && dup.rank == r, "dup \(dup.rank)/\(dup.size)"),
            expect(x == [Int64(W)], "sum over dup \(x)"),
            expect(parity.size == (W - r % 2 + 1) / 2 && parity.rank == r / 2, "split \(parity.rank)/\(parity.size)"),
            expect(y == [Int64(expectedY)], "sum over split \(y)"),
            expect(none == nil, "MPI_UNDEFINED color gave a communicator"))
        try dup.free(); try parity.free()
        return ok
    }

    run.check("syncbn-statistics-reducer") {
        let reduce = SyncBatchNorm.statisticsReducer(communicator: c)
        // Two channels: sums r and r^2 of channel 0, 1 and -r of channel 1, over 3 values per rank.
        var stats = BatchStatistics(channels: 2)
        stats.values = [Double(r), 1, Double(r * r), -Double(r), 3]
        reduce(&stats)
        let s = Double(W * (W - 1) / 2), sq = (0..<W).map { Double($0 * $0) }.reduce(0, +)
        return firstFailure(
            expect(stats.values == [s, Double(W), sq, -s, Double(3 * W)], "statistics \(stats.values)"),
            expect(stats.first(1) == Double(W) && stats.second(0) == sq && stats.count == Double(3 * W), "accessors"))
    }
}
