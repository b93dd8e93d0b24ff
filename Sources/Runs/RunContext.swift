import Cluster
import Kernels

/// What every training command does first: set the threads and the progress style, log the BLAS kernels and
/// the CPU, collect the facts config.json records. Only rank 0 prints.
public struct RunContext {
    public let communicator: Communicator?
    public let threadCount: Int
    public var info: [String: String]
    public var isLeader: Bool { (communicator?.rank ?? 0) == 0 }

    /// `threads` nil: the cores this process may run on; `progress` nil: lines under MPI or when stdout is not a
    /// terminal, else a bar; `data`: the data's description for config.json.
    public init(communicator: Communicator?, threads: Int?, progress: ProgressStyle?, precision: ComputePrecision,
                convAlgorithm: ConvAlgorithmChoice, data: String, command: String) {
        self.communicator = communicator
        threadCount = BLASSetup.applyThreads(threads)
        ProgressReporter.style = progress ?? .automatic(underMPI: communicator != nil)
        info = RunInfo.collect(command: command)
        info["data"] = data
        info["threads"] = String(threadCount)
        say(BLASSetup.describe())
        say("cpu: \(CPUFeatures.current.summary); convolutions: \(ConvolutionLibrary.description); precision "
            + "\(precision.rawValue), conv algorithm \(convAlgorithm.rawValue)")
    }

    public func say(_ line: String) { Console(leader: isLeader).say(line) }
}
