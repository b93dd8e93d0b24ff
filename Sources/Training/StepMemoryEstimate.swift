import Foundation
import NeuralNet

/// What one rank of a training run will hold in memory, estimated from its settings before anything is
/// allocated, so that a run that cannot fit is refused with figures instead of aborting in an allocation (or
/// swapping) steps later.
///
/// The model is counted exactly (`ResNetConfig.parameterCount`, `convolutionOutputs`); the bytes each count
/// costs were measured: peak resident memory of `simclr pretrain` (ResNet-18, cifar stem, SGD, one process, 2
/// steps) at widths 0.125/0.25/0.5/1, batches 8-128, 32-256 px views, SGD and AdamW was between 1.4% above and
/// 13% below this estimate in the 10 cases measured (2026-12-06). Bottleneck networks (ResNet-50) and the imagenet stem use the same costs per element unmeasured.
public struct StepMemoryEstimate: Equatable {
    /// Bytes per parameter: weights, gradient, the optimizer's state, the gradient buckets and the
    /// convolutions' transformed weights (measured: about 10 floats).
    public static let bytesPerParameter = 40
    /// Bytes per element of a convolution's output per view in the batch: the saved output of each convolution,
    /// BatchNorm and ReLU, their gradients and the convolution workspaces (measured: about 5.5 floats).
    public static let bytesPerActivation = 22
    /// Eval-mode forward passes (feature extraction): bytes per element of a convolution's output per image
    /// (about 2 floats: each layer's output and what it keeps of it), and per parameter (the weights and the
    /// convolutions' transformed copies). Measured (2026-12-07, `knn --random-init`, ResNet-18 cifar stem, one
    /// process): against the peak resident memory of 12 passes (widths 0.5 and 1, 32 and 96 px, feature batches
    /// 1-512) this estimate was 5.1% under to 3.1% over from batch 64 up; for one-image passes of width 0.5 it is
    /// up to 36% over (the process's base is smaller than `baseBytes` there).
    public static let bytesPerInferenceActivation = 8
    public static let bytesPerInferenceParameter = 12
    /// The process itself: code, libraries, threads' stacks, the allocator's slack.
    public static let baseBytes = 100 << 20

    public var parameters: Int
    public var activations: Int
    /// Batches the loader prepares ahead (float32 views).
    public var loader: Int
    /// What a method keeps besides (MoCo's queue), by name.
    public var extras: [String: Int]
    /// The settings that make the largest parts smaller, for the refusal's message.
    public var smallerWith = "`batchSize`, `imageSize`, `model.width`, `multiCrop.count`, `moco.queueSize`"

    public var total: Int { ([parameters, activations, loader] + extras.values).reduce(Self.baseBytes, sum) }

    /// `views`: the views of each image a step runs through the network (count, side in pixels);
    /// `perRankBatch` images per rank; AdamW keeps one more float per parameter than SGD and LARS.
    public init(model: ResNetConfig, optimizer: OptimizerKind, views: [(count: Int, size: Int)], perRankBatch: Int,
                prefetch: Int, extras: [String: Int] = [:]) {
        let slots = optimizer == .adamw ? 1 : 0
        parameters = product(model.parameterCount, Self.bytesPerParameter + 4 * slots)
        var activations = 0, loader = 0
        for view in views {
            let images = product(view.count, perRankBatch)
            activations = sum(activations, product(product(model.convolutionOutputs(imageSize: view.size), Self.bytesPerActivation), images))
            loader = sum(loader, product(product(prefetch, images), 3 * 4 * view.size * view.size))
        }
        self.activations = activations
        self.loader = loader
        self.extras = extras
    }

    /// A forward pass in eval mode, as feature extraction runs it (`embed`, `linear-eval`, `knn`, `tsne`): the
    /// weights, `batch` images of side `imageSize` through the network (no gradients, no optimizer) and the
    /// batch's float32 input. The activations cost `bytesPerInferenceActivation` per element.
    public init(inferenceOf model: ResNetConfig, imageSize: Int, batch: Int, smallerWith: String) {
        parameters = 0
        activations = product(product(model.convolutionOutputs(imageSize: imageSize), Self.bytesPerInferenceActivation), batch)
        loader = product(batch, 3 * 4 * imageSize * imageSize)
        extras = ["weights": product(model.parameterCount, Self.bytesPerInferenceParameter)]
        self.smallerWith = smallerWith
    }

    /// "19.1 GB activations, 0.5 GB parameters and optimizer, ..." for a message (parts of 0 bytes left out).
    public var breakdown: String {
        var parts = [("activations", activations), ("parameters, gradients and optimizer state", parameters),
                     ("loader", loader)]
        parts += extras.sorted { $0.key < $1.key }.map { ($0.key, $0.value) }
        return parts.filter { $0.1 != 0 }.map { "\(Self.gigabytes($0.1)) \($0.0)" }.joined(separator: ", ")
    }

    /// Bytes in GB (10^9) with one decimal, or two below 1 GB.
    public static func gigabytes(_ bytes: Int) -> String {
        let gb = Double(bytes) / 1e9
        return String(format: gb < 1 ? "%.2f GB" : "%.1f GB", gb)
    }
}

extension ResNetConfig {
    /// The network's parameters, counted from its shape (what `ResNet(config:).registry.parameterCount` holds,
    /// without building it): convolutions without bias, BatchNorm's weight and bias, the head's Linear layers.
    public var parameterCount: Int {
        let ch = stageChannels
        var count = 3 * ch[0] * (stem == .cifar ? 9 : 49) + 2 * ch[0]
        var inC = ch[0]
        for stage in 0..<4 {
            for block in 0..<arch.blocksPerStage[stage] {
                let stride = stage > 0 && block == 0 ? 2 : 1, w = ch[stage], outC = w * arch.expansion
                if arch.usesBottleneck {
                    count += inC * w + 2 * w + w * w * 9 + 2 * w + w * outC + 2 * outC
                } else {
                    count += inC * w * 9 + 2 * w + w * w * 9 + 2 * w
                }
                if stride != 1 || inC != outC { count += inC * outC + 2 * outC }
                inC = outC
            }
        }
        for d in headDims { count += inC * d + d; inC = d }
        return count
    }

    /// Elements of every convolution's output (and the imagenet stem's max pool) for one image of side
    /// `imageSize`, channels rounded up to the feature maps' blocks of 16: the unit the activations of a step
    /// are made of.
    public func convolutionOutputs(imageSize: Int) -> Int {
        func halved(_ side: Int) -> Int { (side - 1) / 2 + 1 }  // a stride-2 convolution or pool with padding
        // Feature maps hold channels in blocks of 16 (Kernels' FeatureMap): 8 channels take the room of 16.
        let ch = stageChannels.map { ($0 + 15) / 16 * 16 }
        var side = imageSize, count = 0
        if stem == .cifar {
            count += ch[0] * side * side
        } else {
            side = halved(side)
            count += ch[0] * side * side
            side = halved(side)
            count += ch[0] * side * side
        }
        var inC = ch[0]
        for stage in 0..<4 {
            for block in 0..<arch.blocksPerStage[stage] {
                let stride = stage > 0 && block == 0 ? 2 : 1, w = ch[stage], outC = w * arch.expansion
                let inSide = side
                if stride == 2 { side = halved(side) }
                let area = side * side
                if arch.usesBottleneck {
                    count += w * inSide * inSide + w * area + outC * area
                } else {
                    count += 2 * w * area
                }
                if stride != 1 || inC != outC { count += outC * area }
                inC = outC
            }
        }
        return count + headDims.reduce(0, +)
    }
}

extension StepMemoryEstimate {
    /// A step that cannot fit the machine's memory (the message names the settings that shrink it).
    public struct TooLarge: Error, CustomStringConvertible {
        public let description: String
    }

    /// Refuses a run whose step, on each of `ranks` ranks of this host, cannot fit `machine` bytes; otherwise
    /// the log line of the estimate (nil when the machine's memory is unknown).
    public func check(ranksOnThisHost ranks: Int, machine: Int? = MachineMemory.bytes) throws -> String? {
        guard let machine else { return nil }
        let (needed, overflow) = total.multipliedReportingOverflow(by: ranks)
        let each = ranks == 1 ? "" : "\(ranks) ranks on this host, each "
        guard !overflow, needed <= machine else {
            throw TooLarge(description: "this run needs about \(overflow ? "more than 9e9 GB" : Self.gigabytes(needed)) "
                           + "(\(each)\(breakdown)), this machine has \(Self.gigabytes(machine)): make its largest part smaller "
                           + "(\(smallerWith)) or spread the batch over more hosts")
        }
        return "memory: about \(Self.gigabytes(total)) per rank (\(breakdown)); this machine has \(Self.gigabytes(machine))"
    }
}

/// The memory this process may use: the smaller of the machine's (MemTotal) and a cgroup limit.
public enum MachineMemory {
    public static var bytes: Int? {
        var result: Int?
        if let text = try? String(contentsOfFile: "/proc/meminfo", encoding: .utf8),
           let line = text.split(separator: "\n").first(where: { $0.hasPrefix("MemTotal:") }),
           let kb = Int(line.split(separator: " ").dropFirst().first ?? "") {
            result = kb * 1024
        }
        if let text = try? String(contentsOfFile: "/sys/fs/cgroup/memory.max", encoding: .utf8),
           let limit = Int(text.trimmingCharacters(in: .whitespacesAndNewlines)) {
            result = min(result ?? limit, limit)
        }
        return result
    }
}

/// a * b, or Int.max past it: an absurd setting gives an absurd estimate, not a trap.
private func product(_ a: Int, _ b: Int) -> Int {
    let (result, overflow) = a.multipliedReportingOverflow(by: b)
    return overflow ? .max : result
}

/// a + b, or Int.max past it.
private func sum(_ a: Int, _ b: Int) -> Int {
    let (result, overflow) = a.addingReportingOverflow(b)
    return overflow ? .max : result
}
