import Cluster
import Foundation
import Kernels
import NeuralNet
import ScalingModel
import Tracing

/// `simclr bench --profile-out FILE`: the timed steps of one rank as a step profile (`StepTimeline`, JSON): the
/// compute between each point where a step meets communication (SyncBN reductions, the gather, each gradient
/// reported final, ...), medians over the steps. `--emulate FILE` replays it (`ReplayedStep`); `simclr
/// scaling-model --profile FILE` costs it.
extension StepBenchmark {
    /// What a profile of this bench describes; an emulation must match it.
    static func profileIdentity(_ settings: BenchSettings, imagesPerRank: Int) -> StepTimeline.Identity {
        StepTimeline.Identity(arch: settings.model.arch.rawValue, stem: settings.model.stem.rawValue, width: settings.model.width,
                              headDims: settings.model.headDims, precision: settings.precision.rawValue,
                              perRankBatch: imagesPerRank, imageSize: settings.imageSize, smallCrops: settings.multiCrop?.count ?? 0)
    }

    var profileIdentity: StepTimeline.Identity { StepBenchmark.profileIdentity(settings, imagesPerRank: imagesPerRank) }

    /// The profile of the steps `tracer` recorded (one process: no communication in the times).
    func stepProfile(from tracer: Tracer) throws -> StepTimeline {
        let events = tracer.compute.events, names = tracer.nameTable
        func name(_ e: TraceEvent) -> String { names.indices.contains(Int(e.name.id)) ? names[Int(e.name.id)] : "" }
        let losses = events.filter { !$0.isInstant && name($0) == StepSpans.loss }.map { Double($0.duration) * 1e-9 }.sorted()
        let parameters = model.parameters.map {
            StepTimeline.Parameter(name: $0.name, elements: $0.count,
                                   matrix: GradientMatrixShape(parameterShape: $0.shape).map { [$0.rows, $0.columns] })
        }
        let formatter = ISO8601DateFormatter()
        return try StepTimeline.build(events: events, names: names, identity: profileIdentity,
                                      machine: "\(ProcessInfo.processInfo.hostName): \(CPUFeatures.current.summary)",
                                      threads: threads, measuredAt: formatter.string(from: Date()),
                                      embeddingDim: settings.model.outputDim, parameters: parameters,
                                      lossTimes: losses.isEmpty ? [] : [.init(world: dataParallel.size, seconds: losses[losses.count / 2])])
    }
}
