import Foundation
import Kernels
import Tracing

/// The per-channel sums of one BatchNorm pass over this process's values, and how many values each channel
/// summed: what synchronized BatchNorm adds up over the data-parallel processes (docs/distributed-step.md,
/// "BatchNorm"). Forward sums x and x^2; backward sums dy and dy * xhat. Doubles keep the sums of large batches
/// exact enough.
public struct BatchStatistics: Equatable {
    public let channels: Int
    /// `[first sums (channels) | second sums (channels) | count]`: one buffer, so a reducer sums it in one message.
    public var values: [Double]

    public init(channels: Int) {
        self.channels = channels
        values = [Double](repeating: 0, count: 2 * channels + 1)
    }

    /// Sum of x (forward) or of dy (backward) over channel `c`'s values.
    public func first(_ c: Int) -> Double { values[c] }
    /// Sum of x^2 (forward) or of dy * xhat (backward) over channel `c`'s values.
    public func second(_ c: Int) -> Double { values[channels + c] }
    /// Values per channel the sums cover.
    public var count: Double { values[2 * channels] }

    /// Takes the kernels' `[first | second]` sums over `count` values per channel.
    mutating func set(sums: [Double], count: Int) {
        for i in 0..<(2 * channels) { values[i] = sums[i] }
        values[2 * channels] = Double(count)
    }
}

/// Replaces this process's statistics with their sums over all data-parallel processes (SyncBN).
/// A layer without a reducer normalizes over its local batch.
public typealias BatchStatisticsReducer = (_ statistics: inout BatchStatistics) -> Void

/// What a BatchNorm backward returns: the gradient with respect to its input, and, when the forward
/// added a residual, the gradient with respect to that residual.
public struct BatchNormGradients {
    public let input: FeatureMap
    public let residual: FeatureMap?
}

/// BatchNorm over channels: 2-D on blocked feature maps, 1-D on [batch, features] matrices.
/// PyTorch semantics: eps 1e-5, momentum 0.1, training normalizes with the biased batch variance
/// and updates `running_var` with the unbiased one; evaluation uses the running statistics.
///
/// The 2-D forward can fuse what follows it in a residual network: `relu(bn(x) + residual)` in one pass,
/// optionally also writing the bf16 copy a bf16 convolution reads; its backward undoes the fusion.
public final class BatchNorm {
    public let channels: Int
    public let eps: Float = 1e-5
    public let momentum: Float = 0.1
    public let weight: Parameter, bias: Parameter
    public let runningMean: Buffer, runningVar: Buffer
    public let name: String
    public var numBatchesTracked: Int64 = 0
    public var isTraining = true
    public var reducer: BatchStatisticsReducer?
    /// The label of this layer's statistics reduction in a step trace ("syncbn layer1.0.bn1"; argument: channels).
    /// It is recorded without a reducer too (an instant's worth), so a one-process trace shows where SyncBN
    /// would reduce: what a step profile replays (`StepTimeline`).
    private let syncBatchNormLabel: String
    /// With `.bf16`, the 2-D backward writes only the bf16 input gradient (a bf16 convolution reads it).
    public var precision: ComputePrecision = .fp32

    /// Per-channel mean and 1/sqrt(var + eps) of the current pass.
    private var mean: [Float], invStd: [Float]
    /// The kernels' per-channel sums of the current pass, and the same with the count, summed over processes.
    private var sums: [Double], statistics: BatchStatistics

    // 2-D path: per-lane (channel blocks x 16) arrays, padded lanes zero.
    private var laneMean: [Float] = [], laneScale: [Float] = [], laneShift: [Float] = []
    private var laneK: [Float] = [], laneMeanDy: [Float] = [], laneC2: [Float] = []
    private var laneSum: [Double] = [], laneSum2: [Double] = []
    private var input2d: FeatureMap?, output2d: FeatureMap?
    private var fusedReLU = false, addedResidual = false
    private var output = ReusableTensor(), gradInput = ReusableTensor(), masked = ReusableTensor()
    private var outputBF16 = ReusableBF16Tensor(), gradInputBF16 = ReusableBF16Tensor()

    // 1-D path: transposed copies [channels, batch] so the contiguous-channel kernels apply.
    private var input1d: Tensor?, perChannel1d = 0
    private var output1d = ReusableTensor(), gradInput1d = ReusableTensor()
    private var transposedIn = ReusableTensor(), transposedOut = ReusableTensor()
    private var transposedGrad = ReusableTensor(), transposedGradIn = ReusableTensor()

    public init(_ registry: ParameterRegistry, _ name: String, channels: Int) {
        self.channels = channels
        (weight, bias, runningMean, runningVar) = registry.scope(name) {
            (registry.parameter("weight", shape: [channels], kind: .normWeight),
             registry.parameter("bias", shape: [channels], kind: .normBias),
             registry.buffer("running_mean", shape: [channels]),
             registry.buffer("running_var", shape: [channels]))
        }
        let weightName = weight.name
        self.name = String(weightName.dropLast(".weight".count))
        syncBatchNormLabel = StepSpans.syncBatchNormPrefix + self.name
        mean = [Float](repeating: 0, count: channels)
        invStd = [Float](repeating: 0, count: channels)
        sums = [Double](repeating: 0, count: 2 * channels)
        statistics = BatchStatistics(channels: channels)
        registry.batchNorms.append(self)
    }

    // MARK: 2-D (blocked feature maps)

    /// y = relu?(bn(x) + residual?), float32, plus its bf16 copy when `bf16Copy`.
    public func forward(_ x: FeatureMap, residual: FeatureMap? = nil, relu: Bool = false, bf16Copy: Bool = false) -> FeatureMap {
        precondition(x.channels == channels, "\(name): expected \(channels) channels, got \(x.channels)")
        let lanes = x.channelBlocks * 16
        if laneMean.count != lanes { allocateLanes(lanes) }
        if isTraining {
            laneSum.withUnsafeMutableBufferPointer { s in
                laneSum2.withUnsafeMutableBufferPointer { s2 in
                    BlockedKernels.channelSums(x, sum: s.baseAddress!, sumOfSquares: s2.baseAddress!)
                }
            }
            for c in 0..<channels { sums[c] = laneSum[c]; sums[channels + c] = laneSum2[c] }
            updateBatchStatistics(localCount: x.batch * x.pixels)
        } else {
            useRunningStatistics()
        }
        let g = weight.value!, b = bias.value!
        for c in 0..<channels {
            laneMean[c] = mean[c]
            laneScale[c] = g[c] * invStd[c]
            laneShift[c] = b[c] - mean[c] * laneScale[c]
        }
        let y = output.get(count: x.storageCount)
        let y16 = bf16Copy ? outputBF16.get(count: x.storageCount) : nil
        laneScale.withUnsafeBufferPointer { sc in
            laneShift.withUnsafeBufferPointer { sh in
                BlockedKernels.scaleShift(x, scale: sc.baseAddress!, shift: sh.baseAddress!, residual: residual?.tensor,
                                          relu: relu, output: y, outputBF16: y16)
            }
        }
        input2d = x
        fusedReLU = relu
        addedResidual = residual != nil
        let out = x.with(tensor: y, bf16: y16)
        output2d = out
        return out
    }

    /// Gradients of the last 2-D forward given the gradient of its output (float32).
    ///
    /// Backward of y = gamma * xhat + beta, xhat = (x - mean) * invStd, with mean and variance over the M values
    /// of a channel (with SyncBN, the M values of the whole global batch), after undoing the fused ReLU
    /// (g = dy where the output was positive) and the residual (whose gradient is g itself):
    ///
    ///     dbeta  = sum g                     dgamma = sum g * xhat
    ///     dx     = gamma * invStd * (g - (sum g) / M - xhat * (sum g * xhat) / M)
    ///
    /// The same two per-channel sums serve both lines.
    public func backward(_ dy: FeatureMap) -> BatchNormGradients {
        guard let x = input2d, let y = output2d else { preconditionFailure("\(name): backward before forward") }
        // g: the gradient after the fused ReLU. It is materialized only when the residual needs it too.
        let g = fusedReLU && addedResidual ? masked.get(count: x.storageCount) : nil
        laneMean.withUnsafeBufferPointer { m in
            laneSum.withUnsafeMutableBufferPointer { s in
                laneSum2.withUnsafeMutableBufferPointer { s2 in
                    BlockedKernels.gradientSums(x: x, gradOutput: dy.tensor, reluOutput: fusedReLU ? y.tensor : nil, masked: g,
                                                mean: m.baseAddress!, sumDy: s.baseAddress!, sumDyCentered: s2.baseAddress!)
                }
            }
        }
        // sum(g) and sum(g * xhat) over this process's values (the kernel summed g * (x - mean)).
        for c in 0..<channels { sums[c] = laneSum[c]; sums[channels + c] = laneSum2[c] * Double(invStd[c]) }
        // dgamma and dbeta are parameter gradients: like every other one they stay this process's own sums,
        // and the gradient all-reduce adds them over the processes with the rest of their bucket. Reducing
        // them here as well would add every other process's share twice.
        let dgamma = weight.gradient!, dbeta = bias.gradient!
        for c in 0..<channels { dbeta[c] = Float(sums[c]); dgamma[c] = Float(sums[channels + c]) }
        weight.gradientIsReady(); bias.gradientIsReady()
        let gamma = weight.value!
        if isTraining {
            // dx needs the sums over the global batch: the forward's mean and variance were global, so the
            // means of g and g * xhat must be too. The same two sums (with the count M) are reduced here.
            reduceWithCount(localCount: x.batch * x.pixels)
            let total = statistics.count
            for c in 0..<channels {
                laneK[c] = gamma[c] * invStd[c]
                laneMeanDy[c] = Float(statistics.first(c) / total)
                // (x - mean) * c2 = xhat * (sum g * xhat) / M.
                laneC2[c] = Float(statistics.second(c) / total * Double(invStd[c]))
            }
        } else {
            // Eval mode: mean and variance are the running statistics, constants: dx = gamma * invStd * g.
            for c in 0..<channels { laneK[c] = gamma[c] * invStd[c]; laneMeanDy[c] = 0; laneC2[c] = 0 }
        }
        let bf16Only = precision == .bf16
        let dx = bf16Only ? nil : gradInput.get(count: x.storageCount)
        let dx16 = bf16Only ? gradInputBF16.get(count: x.storageCount) : nil
        let source = g ?? dy.tensor
        laneMean.withUnsafeBufferPointer { m in
            laneK.withUnsafeBufferPointer { k in
                laneMeanDy.withUnsafeBufferPointer { md in
                    laneC2.withUnsafeBufferPointer { c2 in
                        BlockedKernels.batchNormInputGradient(x: x, gradient: source, reluOutput: fusedReLU && g == nil ? y.tensor : nil,
                                                              mean: m.baseAddress!, k: k.baseAddress!, meanDy: md.baseAddress!,
                                                              c2: c2.baseAddress!, gradInput: dx, gradInputBF16: dx16)
                    }
                }
            }
        }
        let residual = addedResidual ? x.with(tensor: g ?? dy.tensor) : nil
        return BatchNormGradients(input: x.with(tensor: dx, bf16: dx16), residual: residual)
    }

    private func allocateLanes(_ lanes: Int) {
        for keyPath in [\BatchNorm.laneMean, \.laneScale, \.laneShift, \.laneK, \.laneMeanDy, \.laneC2] as [ReferenceWritableKeyPath<BatchNorm, [Float]>] {
            self[keyPath: keyPath] = [Float](repeating: 0, count: lanes)
        }
        laneSum = [Double](repeating: 0, count: lanes)
        laneSum2 = [Double](repeating: 0, count: lanes)
    }

    // MARK: statistics

    /// From `sums` of this process: totals over all processes, batch mean/invStd, running statistics.
    private func updateBatchStatistics(localCount: Int) {
        // Batch statistics: the sums of x and x^2 over this process's values, summed over all processes
        // (SyncBN), give the mean and the biased variance of the global batch.
        reduceWithCount(localCount: localCount)
        let total = Int(statistics.count.rounded())
        precondition(total > 1, "\(name): batch statistics need more than one value per channel")
        let n = Double(total)
        let rm = runningMean.value!, rv = runningVar.value!
        let m = Double(momentum)
        for c in 0..<channels {
            let mu = statistics.first(c) / n
            let variance = max(statistics.second(c) / n - mu * mu, 0)
            // PyTorch keeps the unbiased variance (n / (n - 1)) in running_var.
            mean[c] = Float(mu)
            invStd[c] = Float(1 / (variance + Double(eps)).squareRoot())
            rm[c] = Float((1 - m) * Double(rm[c]) + m * mu)
            rv[c] = Float((1 - m) * Double(rv[c]) + m * variance * n / (n - 1))
        }
        numBatchesTracked += 1
    }

    private func useRunningStatistics() {
        let rm = runningMean.value!, rv = runningVar.value!
        for c in 0..<channels {
            mean[c] = rm[c]
            invStd[c] = 1 / (rv[c] + eps).squareRoot()
        }
    }

    /// Puts `sums` and this process's count into `statistics` and lets the reducer (if any) total them.
    private func reduceWithCount(localCount: Int) {
        statistics.set(sums: sums, count: localCount)
        StepTrace.measure(syncBatchNormLabel, argument: Int64(channels)) { reducer?(&statistics) }
    }

    // MARK: 1-D ([batch, features] matrices)

    /// BatchNorm1d forward on x [batch, channels].
    public func forward1d(_ x: Tensor) -> Tensor {
        let batch = x.count / channels
        let xt = transposedIn.get([channels, batch])
        Layout.transpose(x, into: xt, rows: batch, cols: channels)
        let yt = transposedOut.get([channels, batch])
        input1d = xt
        perChannel1d = batch
        if isTraining {
            BatchNormKernels.sums(input: xt, channels: channels, perChannel: batch, into: &sums)
            updateBatchStatistics(localCount: batch)
        } else {
            useRunningStatistics()
        }
        BatchNormKernels.normalize(input: xt, output: yt, channels: channels, perChannel: batch,
                                   mean: mean, invStd: invStd, gamma: weight.value, beta: bias.value)
        let y = output1d.get([batch, channels])
        Layout.transpose(yt, into: y, rows: channels, cols: batch)
        return y
    }

    public func backward1d(_ dy: Tensor) -> Tensor {
        guard let xt = input1d else { preconditionFailure("\(name): backward before forward") }
        let batch = perChannel1d
        let dyt = transposedGrad.get([channels, batch])
        Layout.transpose(dy, into: dyt, rows: batch, cols: channels)
        let dxt = transposedGradIn.get([channels, batch])
        BatchNormKernels.gradientSums(input: xt, gradOutput: dyt, channels: channels, perChannel: batch,
                                      mean: mean, invStd: invStd, into: &sums)
        let dgamma = weight.gradient!, dbeta = bias.gradient!
        for c in 0..<channels { dbeta[c] = Float(sums[c]); dgamma[c] = Float(sums[channels + c]) }
        weight.gradientIsReady(); bias.gradientIsReady()
        if isTraining {
            reduceWithCount(localCount: batch)
            BatchNormKernels.inputGradient(input: xt, gradOutput: dyt, gradInput: dxt, channels: channels,
                                           perChannel: batch, totalCount: Int(statistics.count.rounded()),
                                           mean: mean, invStd: invStd, gamma: weight.value, sums: statistics.values)
        } else {
            BatchNormKernels.scaleGradient(gradOutput: dyt, gradInput: dxt, channels: channels, perChannel: batch,
                                           invStd: invStd, gamma: weight.value)
        }
        let dx = gradInput1d.get([batch, channels])
        Layout.transpose(dxt, into: dx, rows: channels, cols: batch)
        return dx
    }
}
