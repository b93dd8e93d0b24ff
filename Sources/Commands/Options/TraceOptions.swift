import ArgumentParser
import Datasets
import Training

/// `--trace FILE --trace-steps N`: a step timeline of a training run (README, "A step timeline").
struct TraceOptions: ParsableArguments {
    @Option(help: ArgumentHelp("Record --trace-steps steps of every rank and write them as one Chrome trace (open in https://ui.perfetto.dev or chrome://tracing): the step's parts, each layer group forward and backward, the collectives, the gradient buckets on the communication thread's rows.",
                               valueName: "file"))
    var trace: String?
    @Option(help: "Steps --trace records, after the run's first step when the run is long enough (default 3).")
    var traceSteps: Int?

    func validate() throws {
        if let traceSteps, traceSteps < 1 { throw ValidationError("--trace-steps must be at least 1") }
        if trace == nil, traceSteps != nil { throw ValidationError("--trace-steps needs --trace FILE") }
    }

    var request: StepTraceRequest? {
        trace.map { StepTraceRequest(path: DataSelection.expand($0), steps: traceSteps ?? 3) }
    }
}
