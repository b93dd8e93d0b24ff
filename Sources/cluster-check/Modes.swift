import Cluster
import Foundation
import Kernels

/// `cluster-check bandwidth --bytes N [--iterations K]`: one table row per collective, then what each gradient
/// compression hands to collectives per step (`compressionBytes`).
func bandwidthMode(_ c: Communicator, bytes: Int, iterations: Int) throws {
    let reduce = try c.busBandwidth(allReduceBytes: bytes, iterations: iterations)
    let gather = try c.busBandwidth(allGatherBytes: bytes, iterations: iterations)
    if c.rank == 0 {
        say(BandwidthMeasurement.tableHeader)
        say(reduce.tableRow)
        say(gather.tableRow)
    }
    try compressionBytes(c, iterations: max(1, min(iterations, 5)))
}

/// The gradients of ResNet-18 with the SimCLR head (11.5 M floats) reduced by the gradient reducer, one table row
/// per compression (`none`, `bf16`, `powersgd` at its default rank, compressed from the first step): the payload
/// bytes a rank hands to collectives per step (bf16's all-to-all counts the rank's own block too; what leaves the
/// rank depends on MPI's algorithm) and the time of a step's reduction without overlap, the slowest rank's mean
/// over `iterations` steps after one warm-up step.
func compressionBytes(_ c: Communicator, iterations: Int) throws {
    let shapes = resnet18ParameterShapes()
    let ranges = flatRanges(shapes.map { $0.reduce(1, *) })
    let grads = Tensor(shape: [ranges.last!.upperBound])
    if c.rank == 0 {
        say("GRADIENTS \(c.size) ranks, ResNet-18 + head: \(grads.count) floats (\(String(format: "%.1f", Double(grads.count * 4) / 1e6)) MB)")
        say("| compression | payload MB/step/rank | vs none | reduction ms/step |")
        say("| --- | --- | --- | --- |")
    }
    var noneBytes = 0
    for compression in [GradientCompression.none, GradientCompression(method: .bf16),
                        GradientCompression(method: .powersgd, startStep: 0)] {
        let reducer = try GradientBucketReducer(communicator: c, gradients: grads, parameterRanges: ranges, average: true,
                                                overlap: false, compression: compression,
                                                matrixShapes: shapes.map { GradientMatrixShape(parameterShape: $0) })
        defer { try? reducer.close() }
        var seconds = 0.0, payload = 0
        for step in 0...iterations {
            grads.withUnsafeMutableBufferPointer { g in
                var rng = SplitMix64(seed: UInt64(c.rank * 7919 + step + 1))
                for i in g.indices { g[i] = rng.nextFloat() * 1e-2 }
            }
            try c.barrier()
            reducer.beginStep()
            for range in ranges.reversed() { reducer.gradientsReady(range) }
            let timing = try reducer.finishStep()
            if step > 0 { seconds += timing.communicationSeconds; payload = timing.payloadBytes }
        }
        let ms = try c.allReduceMax(seconds / Double(iterations) * 1000)
        if compression.method == .none { noneBytes = payload }
        if c.rank == 0 {
            let name = compression.method == .powersgd ? "powersgd R=\(compression.powerSGDRank)" : compression.method.rawValue
            say(String(format: "| %@ | %.2f | %.3f | %.1f |", name, Double(payload) / 1e6,
                       noneBytes > 0 ? Double(payload) / Double(noneBytes) : 1, ms))
        }
    }
}

/// `cluster-check overlap`: a simulated ResNet-18 backward (busy compute spread over 21 groups, last layers
/// first) with the gradient reducer, synchronous vs overlapped. Times are per step, means over `steps`,
/// the slowest rank's.
func overlapMode(_ c: Communicator, computeMs: Double, steps: Int, bucketBytes: Int) throws {
    let ranges = flatRanges(resnet18ParameterCounts())
    let groups = backwardGroups(ranges)
    let grads = Tensor(shape: [ranges.last!.upperBound])
    if c.rank == 0 {
        say("OVERLAP \(c.size) ranks, \(grads.count) floats (\(grads.count * 4 / 1_000_000) MB), \(groups.count) backward groups, "
            + "bucket \(bucketBytes >> 20) MiB, compute \(computeMs) ms/step")
        say("OVERLAP mode      compute(ms)  blocked(ms)  comm(ms)  step(ms)  hidden")
    }
    for overlap in [false, true] {
        let reducer = try GradientBucketReducer(communicator: c, gradients: grads, parameterRanges: ranges,
                                                bucketBytes: bucketBytes, average: true, overlap: overlap)
        defer { try? reducer.close() }
        var compute = 0.0, blocked = 0.0, comm = 0.0, total = 0.0
        for step in -1..<steps {   // step -1 warms up
            try c.barrier()
            let start = now()
            let (timing, _) = try simulatedStep(reducer, grads: grads, groups: groups, comm: c, step: step, exact: false,
                                                computePerGroup: computeMs / 1000 / Double(groups.count))
            let elapsed = now() - start
            if step >= 0 {
                total += elapsed; blocked += timing.blockedSeconds; comm += timing.communicationSeconds
                compute += elapsed - timing.blockedSeconds
            }
        }
        let n = Double(steps) / 1000
        let figures = try [compute, blocked, comm, total].map { try c.allReduceMax($0 / n) }
        if c.rank == 0 {
            let hidden = figures[2] > 0 ? max(0, 1 - figures[1] / figures[2]) : 1
            say("OVERLAP " + (overlap ? "overlap=true " : "overlap=false")
                + String(format: "  %10.1f  %11.1f  %8.1f  %8.1f  %5.0f%%", figures[0], figures[1], figures[2], figures[3], hidden * 100))
        }
    }
}

/// `cluster-check config-mismatch`: rank 1 runs with another learning rate; every rank must stop.
func configMismatchMode(_ c: Communicator) -> Int32 {
    do {
        try ConfigurationCheck.verify(demoConfiguration(rank: c.rank, mismatch: true), communicator: c)
        say("rank \(c.rank): configuration matches rank 0" + (c.size == 1 ? " (a single rank cannot mismatch)" : ""))
        return 0
    } catch {
        say("rank \(c.rank): \(error)")
        return 3
    }
}

/// `cluster-check abort`: the last rank fails before a collective the others are already in; it aborts
/// the job so they do not hang.
func abortMode(_ c: Communicator) throws -> Never {
    if c.rank == c.size - 1 {
        struct SimulatedFailure: Error, CustomStringConvertible { var description: String { "simulated failure before MPI_Barrier" } }
        _ = c.abortOnError("step 1") { () throws -> Int in throw SimulatedFailure() }
    }
    try c.barrier()
    say("rank \(c.rank): barrier returned although a rank failed")
    exit(4)
}
