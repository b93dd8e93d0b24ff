import Cluster
import Foundation
import Kernels
import Tracing

/// The value after `name` on the command line, if any.
func stringOption(_ name: String) -> String? {
    guard let i = arguments.firstIndex(of: name), i + 1 < arguments.count else { return nil }
    return arguments[i + 1]
}

/// `cluster-check bandwidth --sweep [--min-bytes 8] [--max-bytes 64M] [--factor 2] [--collective allreduce|allgather]
/// [--seconds-per-size 0.25] [--csv FILE] [--tag TEXT]`: one row per collective and size with algbw and busbw.
/// `--tag` is copied into a first CSV column (e.g. the link and the MPI algorithm of the run). `--nonblocking`
/// times the calls training makes under a collective deadline (MPI_Iallreduce / MPI_Iallgather polled with
/// MPI_Test: OpenMPI's libnbc algorithms) instead of the blocking ones (coll/tuned's algorithms).
func sweepMode(_ c: Communicator) throws {
    let nonblocking = arguments.contains("--nonblocking")
    if nonblocking { CollectiveDeadline.configure(seconds: 3600) }
    defer { if nonblocking { CollectiveDeadline.configure(seconds: nil) } }
    var sweep = BandwidthSweep()
    sweep.minimumBytes = try byteCount(stringOption("--min-bytes") ?? "8")
    sweep.maximumBytes = try byteCount(stringOption("--max-bytes") ?? "64M")
    sweep.factor = Int(option("--factor", 2))
    sweep.secondsPerSize = option("--seconds-per-size", 0.25)
    if let only = stringOption("--collective") {
        guard let collective = BandwidthSweep.Collective(rawValue: only) else {
            throw SweepError("unknown --collective '\(only)'; use allreduce or allgather")
        }
        sweep.collectives = [collective]
    }
    guard sweep.minimumBytes >= 1, sweep.maximumBytes >= sweep.minimumBytes, sweep.factor >= 2 else {
        throw SweepError("need 1 <= --min-bytes <= --max-bytes and --factor >= 2")
    }
    let tag = stringOption("--tag")
    var csv = (tag.map { _ in "tag," } ?? "") + BandwidthMeasurement.csvHeader + "\n"
    if c.rank == 0 {
        say("SWEEP \(c.size) ranks, \(sweep.minimumBytes) B .. \(sweep.maximumBytes) B x\(sweep.factor), \(sweep.secondsPerSize) s per size, "
            + (nonblocking ? "non-blocking calls (libnbc)" : "blocking calls (coll/tuned)"))
        say(BandwidthMeasurement.tableHeader)
    }
    _ = try sweep.run(on: c) { point in
        guard c.rank == 0 else { return }
        say(point.tableRow)
        csv += (tag.map { $0 + "," } ?? "") + point.csvRow + "\n"
    }
    if c.rank == 0, let path = stringOption("--csv") {
        try csv.write(toFile: path, atomically: true, encoding: .utf8)
    }
}

/// "64M", "512K", "8" -> bytes (powers of 1024).
func byteCount(_ text: String) throws -> Int {
    let units: [Character: Int] = ["K": 1 << 10, "M": 1 << 20, "G": 1 << 30]
    if let last = text.last, let unit = units[Character(last.uppercased())], let n = Int(text.dropLast()) { return n * unit }
    guard let n = Int(text) else { throw SweepError("'\(text)' is not a byte count (e.g. 8, 512K, 64M)") }
    return n
}

struct SweepError: Error, CustomStringConvertible {
    let description: String
    init(_ description: String) { self.description = description }
}

/// `cluster-check trace --out FILE [--steps K]`: the simulated ResNet-18 backward of the overlap mode with
/// tracing on: a "step" span holding "backward" with one span per layer group and the SyncBN-sized reductions
/// on the compute row, the gradient buckets' all-reduces on the communication row; one process per rank.
func traceMode(_ c: Communicator, out: String, steps: Int) throws {
    let tracer = Tracer()
    Tracer.active = tracer
    defer { Tracer.active = nil }
    let group = TracedGroup(c)
    let ranges = flatRanges(resnet18ParameterCounts())
    let groups = backwardGroups(ranges)
    let grads = Tensor(shape: [ranges.last!.upperBound])
    let reducer = try GradientBucketReducer(communicator: group, gradients: grads, parameterRanges: ranges,
                                            bucketBytes: 4 << 20, average: true, overlap: true)
    defer { try? reducer.close() }
    let stepName = tracer.name("step"), backwardName = tracer.name("backward"), finishName = tracer.name("wait for gradients")
    let layerNames = groups.indices.map { tracer.name("layer group \($0)") }
    try c.alignTraceOrigin(tracer)
    for step in 0..<steps {
        tracer.compute.begin(stepName, argument: Int64(step))
        reducer.beginStep()
        tracer.compute.begin(backwardName)
        for (g, range) in groups.enumerated() {
            tracer.compute.begin(layerNames[g])
            _ = busyCompute(seconds: 0.0005)
            fillGradient(grads, range, rank: c.rank, step: step, exact: false)
            if g % 8 == 0 {
                var statistics = [Double](repeating: Double(c.rank), count: 129)
                try group.allReduceSum(&statistics)
            }
            tracer.compute.end()
            reducer.gradientsReady(range)
        }
        tracer.compute.end()
        _ = try tracer.compute.measure(finishName) { try reducer.finishStep() }
        tracer.compute.end()
    }
    let dropped = try group.writeTrace(tracer, to: out)
    if c.rank == 0 {
        say("TRACE \(c.size) ranks, \(steps) steps, \(reducer.buckets.count) buckets -> \(out)" + (dropped > 0 ? " (\(dropped) events dropped)" : ""))
    }
}
