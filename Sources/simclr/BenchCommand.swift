import ArgumentParser
import Foundation
import Kernels
import NeuralNet
import Contrastive
import Optimizers
import SimCLR
import Cluster

/// `simclr bench`: times full training steps of ResNet-18 and says where the time goes.
struct BenchCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "bench",
        abstract: "Time training steps (forward, loss, backward, optimizer) and print img/s with a per-layer-type breakdown.")

    @Option(help: "Images per step.") var batchSize = 128
    @Option(help: "Image side in pixels.") var imageSize = 32
    @Option(help: "Stem: cifar (3x3 conv) or imagenet (7x7 conv + max pool).") var stem: Stem = .cifar
    @Option(help: "Channel width multiplier (1.0 = ResNet-18).") var width = 1.0
    @Option(help: "Head layer sizes after the 512-d features.") var projDims = "512,256"
    @Option(help: "BLAS and kernel threads (default: all cores).") var threads: Int?
    @Option(help: "Arithmetic of convolutions and Linear layers: fp32, bf16, or bf16-reference (bf16 rounding computed in fp32).")
    var precision: ComputePrecision = .fp32
    @Option(help: "Timed steps (the median is reported).") var steps = 10
    @Option(help: "Untimed warm-up steps.") var warmup = 2
    @Flag(help: "Print one JSON object instead of a table.") var json = false
    @Flag(help: "Data-parallel step over the MPI ranks (run under mpirun); --batch-size is then the global batch.")
    var distributed = false
    @Option(help: "Gradient bucket size in MB (--distributed).") var bucketMb = 25.0
    @Flag(help: "Reduce gradients after backward instead of overlapping (--distributed).") var noOverlap = false
    @Flag(inversion: .prefixedNo, help: "Global BatchNorm statistics (--distributed).") var syncBn = true
    @Flag(help: "Keep OpenBLAS's own kernel choice (no OPENBLAS_CORETYPE fix).") var noBlasFix = false

    func validate() throws {
        guard batchSize >= 2, batchSize % 2 == 0 else { throw ValidationError("--batch-size must be even and >= 2 (two views per image)") }
        guard steps >= 1, warmup >= 0 else { throw ValidationError("--steps must be >= 1 and --warmup >= 0") }
        guard imageSize >= 8 else { throw ValidationError("--image-size must be at least 8") }
        _ = try parseDims(projDims)
    }

    func run() throws {
        let threadCount = applyThreads(threads)
        let config = ResNetConfig(stem: stem, width: width, headDims: try parseDims(projDims))
        let model = ResNet18(config: config, seed: 1)
        model.precision = precision
        var dataParallel: DataParallel?
        if distributed {
            let world = try Communicator.initialize()
            guard batchSize % (2 * world.size) == 0 else {
                throw ValidationError("--batch-size \(batchSize) must split into an even number of images per rank (\(world.size) ranks)")
            }
            dataParallel = try DataParallel(communicator: world, model: model, syncBatchNorm: syncBn,
                                            bucketBytes: Int(bucketMb * 1024 * 1024), overlap: !noOverlap)
            try dataParallel!.broadcastState(of: model)
        }
        let worldSize = dataParallel?.size ?? 1
        let isLeader = (dataParallel?.rank ?? 0) == 0
        let perRank = batchSize / worldSize
        let images = Tensor(shape: [perRank, 3, imageSize, imageSize])
        var rng = SplitMix64(seed: 7 &+ UInt64(dataParallel?.rank ?? 0))
        for i in 0..<images.count { images[i] = Float(rng.nextUnit()) }
        // The seed's setup: InfoNCE at temperature 0.07 over the batch's two halves as the two views,
        // SGD with momentum 0.9.
        let step = ContrastiveStep(model: model, loss: InfoNCELoss(config: InfoNCEConfig(temperature: 0.07)),
                                   optimizer: SGD(momentum: 0.9, weightDecay: 1e-6, segments: parameterSegments(of: model)),
                                   dataParallel: dataParallel)
        defer { if distributed { try? dataParallel?.reducer.close(); try? Communicator.finalize() } }

        if !json && isLeader {
            if distributed {
                print("distributed: \(worldSize) ranks, \(perRank) images per rank, sync BN \(syncBn), buckets \(bucketMb) MB, overlap \(!noOverlap)")
            }
            print(BLASSetup.describe())
            print("model: ResNet-18 stem=\(stem.rawValue) width=\(width) head=\(projDims) params=\(model.registry.parameterCount)")
            print("batch \(batchSize) x \(imageSize)px, threads \(threadCount), precision \(precision.rawValue), warm-up \(warmup), timed steps \(steps)")
        }
        for _ in 0..<warmup { try step.run(views: images, learningRate: 0.01) }
        let profile = StepProfile()
        StepProfile.active = profile
        var times: [Double] = [], timings: [StepTiming] = []
        for _ in 0..<steps {
            let t0 = DispatchTime.now().uptimeNanoseconds
            try step.run(views: images, learningRate: 0.01)
            times.append(Double(DispatchTime.now().uptimeNanoseconds - t0) * 1e-9)
            timings.append(step.lastTiming)
        }
        guard isLeader else { return }
        func mean(_ f: (StepTiming) -> Double) -> Double { timings.map(f).reduce(0, +) / Double(timings.count) }
        let compute = mean(\.computeSeconds), wait = mean(\.communicationWaitSeconds), comm = mean(\.gradientCommunicationSeconds)
        StepProfile.active = nil
        let median = times.sorted()[times.count / 2]
        let flops = 3 * model.lastForwardFLOPs
        let total = times.reduce(0, +)
        let parts = WorkKind.allCases.map { ($0.rawValue, (profile.seconds[$0] ?? 0) / Double(steps)) }
        if json {
            var fields = ["\"img_per_s\": \(fmt(Double(batchSize) / median))", "\"ms_per_step\": \(fmt(median * 1000))",
                          "\"batch\": \(batchSize)", "\"image_size\": \(imageSize)", "\"threads\": \(threadCount)",
                          "\"gflops_per_s\": \(fmt(flops * Double(worldSize) / median / 1e9))", "\"blas_core\": \"\(BLAS.coreName)\"",
                          "\"world_size\": \(worldSize)", "\"per_rank_batch\": \(perRank)", "\"ms_compute\": \(fmt(compute * 1000))",
                          "\"ms_comm_wait\": \(fmt(wait * 1000))", "\"ms_grad_comm\": \(fmt(comm * 1000))", "\"ms_data\": 0"]
            fields += parts.filter { $0.0 != "communication" }.map { "\"ms_\($0.0)\": \(fmt($0.1 * 1000))" }
            print("{" + fields.joined(separator: ", ") + "}")
        } else {
            print(String(format: "median: %.1f img/s, %.1f ms/step (min %.1f, max %.1f ms)", Double(batchSize) / median,
                         median * 1000, times.min()! * 1000, times.max()! * 1000))
            print(String(format: "model FLOPs per step: %.1f GFLOP (3x forward); achieved %.1f GFLOP/s",
                         flops * Double(worldSize) / 1e9, flops * Double(worldSize) / median / 1e9))
            if distributed {
                print(String(format: "per step: compute %.1f ms, waiting for communication %.1f ms, gradient all-reduce %.1f ms on its thread (%.0f%% hidden by overlap), data 0 ms",
                             compute * 1000, wait * 1000, comm * 1000, comm > 0 ? 100 * max(0, 1 - wait / comm) : 0))
            }
            print("per-step time by kind (mean over timed steps):")
            for (name, s) in parts where s > 0 {
                print("  " + name.padding(toLength: 14, withPad: " ", startingAt: 0) +
                      String(format: "%9.1f ms  %5.1f%%", s * 1000, 100 * s * Double(steps) / total))
            }
        }
    }

    private func fmt(_ x: Double) -> String { String(format: "%.3f", x) }
}

func parseDims(_ text: String) throws -> [Int] {
    if text.isEmpty || text == "none" { return [] }
    let dims = text.split(separator: ",").map { Int($0.trimmingCharacters(in: .whitespaces)) }
    guard dims.allSatisfy({ ($0 ?? 0) > 0 }) else { throw ValidationError("expected comma-separated positive sizes like 512,256, got '\(text)'") }
    return dims.map { $0! }
}
