// cluster-check: exercises the Cluster module under mpirun (or alone, as a world of one).
//
//   cluster-check [all]                      every check, one PASS/FAIL line each; exit 1 on any failure
//   cluster-check bandwidth --bytes N [--iterations K]   all-reduce/all-gather bandwidth, then payload bytes per compression
//   cluster-check bandwidth --sweep [--min-bytes 8] [--max-bytes 64M] [--collective C] [--csv FILE] [--tag T]
//   cluster-check trace --out FILE [--steps K]  a Chrome trace of simulated steps (compute and communication rows)
//   cluster-check overlap [--compute-ms MS] [--steps K] [--bucket-mb MB]
//   cluster-check config-mismatch            rank 1 differs: every rank exits 3 with the message
//   cluster-check abort                      the last rank aborts; mpirun must end non-zero, not hang
import Cluster
import Foundation

let arguments = Array(CommandLine.arguments.dropFirst())
let mode = arguments.first.flatMap { $0.hasPrefix("-") ? nil : $0 } ?? "all"

func option(_ name: String, _ fallback: Double) -> Double {
    guard let i = arguments.firstIndex(of: name), i + 1 < arguments.count, let v = Double(arguments[i + 1]) else { return fallback }
    return v
}

let comm: Communicator
do { comm = try Communicator.initialize(threadLevel: .multiple) } catch {
    FileHandle.standardError.write("cluster-check: \(error)\n".data(using: .utf8)!)
    exit(2)
}

var status: Int32 = 0
switch mode {
case "all":
    let run = CheckRunner(comm: comm)
    collectiveChecks(run)
    reducerChecks(run)
    compressionChecks(run)
    gatherChecks(run)
    consistencyChecks(run)
    errorChecks(run)
    if comm.rank == 0 { say(run.failures == 0 ? "ALL PASSED on \(comm.size) rank(s)" : "\(run.failures) check(s) FAILED") }
    status = run.failures == 0 ? 0 : 1
case "bandwidth" where arguments.contains("--sweep"):
    comm.abortOnError("bandwidth --sweep") { try sweepMode(comm) }
case "trace":
    comm.abortOnError("trace") { try traceMode(comm, out: stringOption("--out") ?? "trace.json", steps: Int(option("--steps", 2))) }
case "bandwidth":
    comm.abortOnError("bandwidth") {
        try bandwidthMode(comm, bytes: Int(option("--bytes", 46_000_000)), iterations: Int(option("--iterations", 10)))
    }
case "overlap":
    comm.abortOnError("overlap") {
        try overlapMode(comm, computeMs: option("--compute-ms", 300), steps: Int(option("--steps", 4)),
                        bucketBytes: Int(option("--bucket-mb", 25) * 1024 * 1024))
    }
case "config-mismatch":
    status = configMismatchMode(comm)
case "abort":
    comm.abortOnError("abort mode") { try abortMode(comm) }
default:
    comm.abort(message: "unknown mode '\(mode)'; modes: all, bandwidth, trace, overlap, config-mismatch, abort", code: 2)
}
try? Communicator.finalize()
exit(status)
