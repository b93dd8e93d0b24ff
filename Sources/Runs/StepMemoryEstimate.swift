import Foundation
import Kernels
import NeuralNet
import Optimizers

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
    /// The convolutions' own scratch: in bf16 our Winograd weight gradient's (it grows with the channels, not
    /// the batch; per thread the largest layer's), in float32 the per-tap kernels' (every layer that runs them
    /// holds its own: layer4 of 16 px crops).
    public var convolutionScratch: Int
    /// What a method keeps besides (MoCo's queue), by name.
    public var extras: [String: Int]
    /// The settings that make the largest parts smaller, for the refusal's message.
    public var smallerWith = "`batchSize`, `imageSize`, `model.width`, `multiCrop.count`, `moco.queueSize`"

    public var total: Int { ([parameters, activations, loader, convolutionScratch] + extras.values).reduce(Self.baseBytes, sum) }

    /// `views`: the views of each image a step runs through the network (count, side in pixels);
    /// `perRankBatch` images per rank; AdamW keeps one more float per parameter than SGD and LARS. `precision`,
    /// `convAlgorithm` and `threads` (the kernels' threads) decide the convolutions' scratch.
    public init(model: ResNetConfig, optimizer: OptimizerKind, views: [(count: Int, size: Int)], perRankBatch: Int,
                prefetch: Int, precision: ComputePrecision = .fp32, convAlgorithm: ConvAlgorithmChoice = .auto,
                threads: Int = 1, extras: [String: Int] = [:]) {
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
        convolutionScratch = sum(precision == .bf16
            ? Self.weightGradientScratch(model: model, sizes: views.map(\.size), convAlgorithm: convAlgorithm, threads: threads)
            : Self.perTapScratch(model: model, views: views, perRankBatch: perRankBatch, convAlgorithm: convAlgorithm),
            Self.winogradGroupScratch(model: model, views: views, perRankBatch: perRankBatch, precision: precision,
                                      convAlgorithm: convAlgorithm))
        self.extras = extras
    }

    /// The bf16 Winograd weight gradient's scratch: per thread, the largest of the layers that run it.
    static func weightGradientScratch(model: ResNetConfig, sizes: [Int], convAlgorithm: ConvAlgorithmChoice, threads: Int) -> Int {
        var largest = [Int](repeating: 0, count: max(1, threads))
        for size in sizes {
            // The first convolution reads the images, not blocked maps: it runs direct whatever the choice.
            for g in model.convolutions(imageSize: size).dropFirst()
            where convAlgorithm.algorithms(for: g, bf16: true).backwardWeights == .winograd2x2 {
                for (part, bytes) in ConvolutionKernel.winogradWeightGradientScratch(g, threads: threads).enumerated() {
                    largest[part] = max(largest[part], bytes)
                }
            }
        }
        return largest.reduce(0, sum)
    }

    /// The Winograd F(2x2) group schedule's scratch (`ConvolutionKernel.winogradGroupScratch`): one for the
    /// process, the largest of the layers that need it.
    static func winogradGroupScratch(model: ResNetConfig, views: [(count: Int, size: Int)], perRankBatch: Int,
                                     precision: ComputePrecision, convAlgorithm: ConvAlgorithmChoice) -> Int {
        let bf16 = precision == .bf16
        var largest = 0
        for view in views {
            for layer in model.convolutions(imageSize: view.size, batch: product(view.count, perRankBatch)).dropFirst() {
                let algorithms = convAlgorithm.algorithms(for: layer, bf16: bf16)
                largest = max(largest, ConvolutionKernel.winogradGroupScratch(layer, algorithms: algorithms, bf16: bf16))
            }
        }
        return largest
    }

    /// The float32 per-tap kernels' buffers (`ConvolutionKernel.perTapScratch`): each view size runs its own
    /// network (the owner, or the multi-crop twin), whose layers hold their kernels' buffers for the whole run.
    static func perTapScratch(model: ResNetConfig, views: [(count: Int, size: Int)], perRankBatch: Int,
                              convAlgorithm: ConvAlgorithmChoice) -> Int {
        var total = 0
        for view in views {
            for layer in model.convolutions(imageSize: view.size, batch: product(view.count, perRankBatch)).dropFirst() {
                total = sum(total, ConvolutionKernel.perTapScratch(layer, algorithms: convAlgorithm.algorithms(for: layer, bf16: false)))
            }
        }
        return total
    }

    /// A forward pass in eval mode, as feature extraction runs it (`embed`, `linear-eval`, `knn`, `tsne`): the
    /// weights, `batch` images of side `imageSize` through the network (no gradients, no optimizer) and the
    /// batch's float32 input. The activations cost `bytesPerInferenceActivation` per element.
    public init(inferenceOf model: ResNetConfig, imageSize: Int, batch: Int, smallerWith: String) {
        parameters = 0
        activations = product(product(model.convolutionOutputs(imageSize: imageSize), Self.bytesPerInferenceActivation), batch)
        loader = product(batch, 3 * 4 * imageSize * imageSize)
        convolutionScratch = 0
        extras = ["weights": product(model.parameterCount, Self.bytesPerInferenceParameter)]
        self.smallerWith = smallerWith
    }

    /// "19.1 GB activations, 0.5 GB parameters and optimizer, ..." for a message (parts of 0 bytes left out).
    public var breakdown: String {
        var parts = [("activations", activations), ("parameters, gradients and optimizer state", parameters),
                     ("loader", loader)]
        parts.append(("convolution scratch", convolutionScratch))
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
    /// Every convolution of the network for `batch` images of side `imageSize`, in the order they run: the
    /// stem's, then each block's, its shortcut's last. Each is followed by a BatchNorm. The network's shape
    /// alone (what `ResNet(config:)` builds, without building it).
    public func convolutions(imageSize: Int, batch: Int = 1) -> [ConvGeometry] {
        func conv(_ inC: Int, _ outC: Int, kernel: Int, stride: Int = 1, side: Int) -> ConvGeometry {
            ConvGeometry(inChannels: inC, outChannels: outC, kernel: kernel, stride: stride, padding: kernel / 2,
                         batch: batch, inHeight: side, inWidth: side)
        }
        let ch = stageChannels
        var list = [conv(3, ch[0], kernel: stem == .cifar ? 3 : 7, stride: stem == .cifar ? 1 : 2, side: imageSize)]
        var side = list[0].outHeight
        if stem == .imagenet { side = Self.maxPoolSide(side) }
        var inC = ch[0]
        for stage in 0..<4 {
            for block in 0..<arch.blocksPerStage[stage] {
                let stride = stage > 0 && block == 0 ? 2 : 1, w = ch[stage], outC = w * arch.expansion
                let strided: ConvGeometry
                if arch.usesBottleneck {
                    // v1.5: the stride sits on the 3x3 convolution.
                    strided = conv(w, w, kernel: 3, stride: stride, side: side)
                    list += [conv(inC, w, kernel: 1, side: side), strided, conv(w, outC, kernel: 1, side: strided.outHeight)]
                } else {
                    strided = conv(inC, w, kernel: 3, stride: stride, side: side)
                    list += [strided, conv(w, w, kernel: 3, side: strided.outHeight)]
                }
                if stride != 1 || inC != outC { list.append(conv(inC, outC, kernel: 1, stride: stride, side: side)) }
                side = strided.outHeight
                inC = outC
            }
        }
        return list
    }

    /// The imagenet stem's max pool (3x3, stride 2, padding 1).
    static func maxPoolSide(_ side: Int) -> Int { (side - 1) / 2 + 1 }

    /// The network's parameters, counted from its shape (what `ResNet(config:).registry.parameterCount` holds,
    /// without building it): convolutions without bias, each BatchNorm's weight and bias, the head's Linear layers.
    public var parameterCount: Int {
        // The count does not depend on the image side.
        var count = convolutions(imageSize: 64).reduce(0) { $0 + $1.weightCount + 2 * $1.outChannels }
        var inC = stageChannels[3] * arch.expansion
        for d in headDims { count += inC * d + d; inC = d }
        return count
    }

    /// Elements of every convolution's output (and the imagenet stem's max pool) for one image of side
    /// `imageSize`, channels rounded up to the feature maps' blocks of 16: the unit the activations of a step
    /// are made of.
    public func convolutionOutputs(imageSize: Int) -> Int {
        // Feature maps hold channels in blocks of 16 (Kernels' FeatureMap): 8 channels take the room of 16.
        func blocked(_ channels: Int) -> Int { (channels + 15) / 16 * 16 }
        let convolutions = convolutions(imageSize: imageSize)
        var count = convolutions.reduce(0) { $0 + blocked($1.outChannels) * $1.outHeight * $1.outWidth }
        if stem == .imagenet {
            let pooled = Self.maxPoolSide(convolutions[0].outHeight)
            count += blocked(stageChannels[0]) * pooled * pooled
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
