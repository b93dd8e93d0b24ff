import Cluster
import Foundation
import Kernels

/// Fills `t[range]` with this step's final gradient values.
/// `exact`: small integers, so any summation order gives the same bits; otherwise random floats.
func fillGradient(_ t: Tensor, _ range: Range<Int>, rank: Int, step: Int, exact: Bool) {
    t.withUnsafeMutableBufferPointer { p in
        if exact {
            for i in range { p[i] = Float((i &* 31 &+ rank &* 7 &+ step) % 17 - 8) }
        } else {
            var rng = SplitMix64(seed: UInt64(bitPattern: Int64(rank * 1_000_003 + step)) &* 0x1234_5678 &+ UInt64(range.lowerBound))
            for i in range { p[i] = rng.nextFloat() }
        }
    }
}

/// One simulated step: the buffer starts as NaN (so a bucket reduced before its gradients are final shows),
/// backward writes each group's gradients, optionally computes, runs a SyncBN-like world all-reduce, and
/// reports the group ready. Returns the timing and whether every SyncBN reduction was right.
func simulatedStep(_ reducer: GradientBucketReducer, grads: Tensor, groups: [Range<Int>], comm: Communicator,
                   step: Int, exact: Bool, computePerGroup: Double, reportFraction: Double = 1) throws
    -> (GradientReductionTiming, Bool) {
    grads.fill(.nan)
    reducer.beginStep()
    var statsOK = true
    let reported = Int(Double(groups.count) * reportFraction)
    for (g, range) in groups.enumerated() {
        if computePerGroup > 0 { _ = busyCompute(seconds: computePerGroup) }
        fillGradient(grads, range, rank: comm.rank, step: step, exact: exact)
        if g % 8 == 0 {
            // The compute thread's own collective on the world communicator while buckets are in flight.
            var stats: [Double] = [1, Double(comm.rank)]
            try comm.allReduceSum(&stats)
            statsOK = statsOK && stats == [Double(comm.size), Double(comm.size * (comm.size - 1) / 2)]
        }
        if g < reported { reducer.gradientsReady(range) }
    }
    return (try reducer.finishStep(), statsOK)
}

/// The reference: the same final gradients, reduced with one plain MPI_Allreduce of the whole buffer.
func referenceGradient(count: Int, groups: [Range<Int>], comm: Communicator, step: Int, exact: Bool) throws -> Tensor {
    let t = Tensor(shape: [count])
    for range in groups { fillGradient(t, range, rank: comm.rank, step: step, exact: exact) }
    try comm.allReduceSum(t)
    return t
}

func bitIdentical(_ a: Tensor, _ b: Tensor) -> Bool {
    a.withUnsafeBufferPointer { x in b.withUnsafeBufferPointer { y in
        x.count == y.count && (0..<x.count).allSatisfy { x[$0].bitPattern == y[$0].bitPattern }
    } }
}

func maxRelativeDifference(_ a: Tensor, _ b: Tensor) -> Float {
    a.withUnsafeBufferPointer { x in b.withUnsafeBufferPointer { y in
        (0..<x.count).reduce(Float(0)) { m, i in max(m, abs(x[i] - y[i]) / max(1e-6, abs(y[i]))) }
    } }
}

func reducerChecks(_ run: CheckRunner) {
    let c = run.comm
    let ranges = flatRanges(resnet18ParameterCounts())
    let count = ranges.last!.upperBound
    let groups = backwardGroups(ranges)

    run.check("bucket-plan") {
        let buckets = try GradientBucketPlan.buckets(parameterRanges: ranges)
        run.info("bucket plan over \(count) floats: " + buckets.map { "#\($0.index) \($0.bytes >> 10) KiB" }.joined(separator: ", "))
        let covered = buckets.reversed().map(\.elements)
        let contiguous = zip(covered, covered.dropFirst()).allSatisfy { $0.upperBound == $1.lowerBound }
        let gapped = [0..<10, 10..<20, 30..<40, 40..<50]
        let split = try GradientBucketPlan.buckets(parameterRanges: gapped, bucketBytes: 1 << 20, firstBucketBytes: 1 << 20)
        return firstFailure(
            expect(buckets.first?.elements.upperBound == count, "bucket 0 does not hold the last parameters"),
            expect(contiguous && covered.first?.lowerBound == 0, "buckets do not tile the buffer"),
            expect(buckets[0].bytes >= GradientBucketPlan.defaultFirstBucketBytes && buckets[0].bytes < 4 << 20,
                   "first bucket \(buckets[0].bytes) bytes"),
            expect(buckets.dropFirst().dropLast().allSatisfy { $0.bytes >= GradientBucketPlan.defaultBucketBytes },
                   "a middle bucket is below 25 MiB"),
            expect(split.map(\.elements) == [30..<50, 0..<20], "a gap does not split buckets: \(split.map(\.elements))"))
    }

    run.check("bucket-reducer-sum-exact") {
        let grads = Tensor(shape: [count])
        let reducer = try GradientBucketReducer(communicator: c, gradients: grads, parameterRanges: ranges, average: false)
        defer { try? reducer.close() }
        for step in 0..<3 {
            let expected = try referenceGradient(count: count, groups: groups, comm: c, step: step, exact: true)
            let (timing, statsOK) = try simulatedStep(reducer, grads: grads, groups: groups, comm: c, step: step,
                                                      exact: true, computePerGroup: 0.0005)
            if !bitIdentical(grads, expected) { return "step \(step): bucketed sum differs from MPI_Allreduce" }
            if !statsOK { return "step \(step): world all-reduce during the step gave a wrong sum" }
            if timing.lateBuckets != 0 { return "step \(step): \(timing.lateBuckets) buckets late although all were reported" }
        }
        return nil
    }

    run.check("bucket-reducer-sum-random") {
        let grads = Tensor(shape: [count])
        let reducer = try GradientBucketReducer(communicator: c, gradients: grads, parameterRanges: ranges, average: false)
        defer { try? reducer.close() }
        let expected = try referenceGradient(count: count, groups: groups, comm: c, step: 7, exact: false)
        _ = try simulatedStep(reducer, grads: grads, groups: groups, comm: c, step: 7, exact: false, computePerGroup: 0)
        let identical = bitIdentical(grads, expected)
        run.info("random floats, \(c.size) ranks: bucketed vs whole-buffer MPI_Allreduce "
                 + (identical ? "bit-identical" : "max rel diff \(maxRelativeDifference(grads, expected))"))
        // Two operands: a+b is exact-commutative, so bits must match; with more ranks MPI's algorithm may
        // associate differently per message size, so allow rounding.
        return c.size <= 2 ? expect(identical, "not bit-identical with \(c.size) ranks")
                           : expect(maxRelativeDifference(grads, expected) < 1e-5, "differs beyond rounding")
    }

    run.check("bucket-reducer-average-sync-and-late") {
        let gradsA = Tensor(shape: [count]), gradsB = Tensor(shape: [count])
        let overlapped = try GradientBucketReducer(communicator: c, gradients: gradsA, parameterRanges: ranges,
                                                   bucketBytes: 4 << 20, firstBucketBytes: 256 << 10, average: true)
        let synchronous = try GradientBucketReducer(communicator: c, gradients: gradsB, parameterRanges: ranges,
                                                    average: true, overlap: false)
        defer { try? overlapped.close(); try? synchronous.close() }
        let expected = try referenceGradient(count: count, groups: groups, comm: c, step: 3, exact: true)
        expected.withUnsafeMutableBufferPointer { for i in 0..<$0.count { $0[i] /= Float(c.size) } }
        // Only half of the groups are reported: the rest must be reduced by finishStep.
        let (late, _) = try simulatedStep(overlapped, grads: gradsA, groups: groups, comm: c, step: 3, exact: true,
                                          computePerGroup: 0, reportFraction: 0.5)
        let (sync, _) = try simulatedStep(synchronous, grads: gradsB, groups: groups, comm: c, step: 3, exact: true,
                                          computePerGroup: 0)
        return firstFailure(
            expect(bitIdentical(gradsA, expected), "overlapped average differs from sum / W"),
            expect(bitIdentical(gradsB, expected), "synchronous average differs from sum / W"),
            expect(late.lateBuckets > 0 && late.bucketCount == overlapped.buckets.count, "late buckets \(late.lateBuckets)"),
            expect(sync.lateBuckets == sync.bucketCount, "synchronous mode reports \(sync.lateBuckets) late buckets"))
    }
}
