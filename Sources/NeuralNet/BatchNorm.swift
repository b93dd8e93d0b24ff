import Foundation
import Kernels

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

/// BatchNorm over channels: 2-D on CNHW feature maps, 1-D on [batch, features] matrices.
/// PyTorch semantics: eps 1e-5, momentum 0.1, training normalizes with the biased batch variance
/// and updates `running_var` with the unbiased one; evaluation uses the running statistics.
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

    private var input: Tensor?
    private var inputMap: FeatureMap?
    private var perChannel = 0, totalCount = 0
    private var mean: [Float], invStd: [Float]
    /// The kernels' per-channel sums of the current pass, and the same with the count, summed over processes.
    private var sums: [Double], statistics: BatchStatistics
    private var output = ReusableTensor(), gradInput = ReusableTensor()
    // BatchNorm1d works on transposed copies [channels, batch] so the same kernels apply.
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
        mean = [Float](repeating: 0, count: channels)
        invStd = [Float](repeating: 0, count: channels)
        sums = [Double](repeating: 0, count: 2 * channels)
        statistics = BatchStatistics(channels: channels)
        registry.batchNorms.append(self)
    }

    public func forward(_ x: FeatureMap) -> FeatureMap {
        precondition(x.channels == channels, "\(name): expected \(channels) channels, got \(x.channels)")
        let y = output.get(x.shapeCNHW)
        inputMap = x
        normalize(x.tensor, perChannel: x.planeCount, into: y)
        return FeatureMap(tensor: y, channels: channels, batch: x.batch, height: x.height, width: x.width)
    }

    public func backward(_ dy: Tensor) -> FeatureMap {
        guard let x = inputMap else { preconditionFailure("\(name): backward before forward") }
        let dx = gradInput.get(x.shapeCNHW)
        inputGradient(dy, into: dx)
        return FeatureMap(tensor: dx, channels: x.channels, batch: x.batch, height: x.height, width: x.width)
    }

    /// BatchNorm1d forward on x [batch, channels].
    public func forward1d(_ x: Tensor) -> Tensor {
        let batch = x.count / channels
        let xt = transposedIn.get([channels, batch])
        Layout.transpose(x, into: xt, rows: batch, cols: channels)
        let yt = transposedOut.get([channels, batch])
        normalize(xt, perChannel: batch, into: yt)
        let y = output.get([batch, channels])
        Layout.transpose(yt, into: y, rows: channels, cols: batch)
        return y
    }

    public func backward1d(_ dy: Tensor) -> Tensor {
        let batch = dy.count / channels
        let dyt = transposedGrad.get([channels, batch])
        Layout.transpose(dy, into: dyt, rows: batch, cols: channels)
        let dxt = transposedGradIn.get([channels, batch])
        inputGradient(dyt, into: dxt)
        let dx = gradInput.get([batch, channels])
        Layout.transpose(dxt, into: dx, rows: channels, cols: batch)
        return dx
    }

    private func normalize(_ x: Tensor, perChannel: Int, into y: Tensor) {
        input = x
        self.perChannel = perChannel
        if isTraining {
            // Batch statistics: the sums of x and x^2 over this process's values, summed over all processes
            // (SyncBN), give the mean and the biased variance of the global batch.
            BatchNormKernels.sums(input: x, channels: channels, perChannel: perChannel, into: &sums)
            reduceWithCount()
            totalCount = Int(statistics.count.rounded())
            precondition(totalCount > 1, "\(name): batch statistics need more than one value per channel")
            let n = Double(totalCount)
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
        } else {
            let rm = runningMean.value!, rv = runningVar.value!
            for c in 0..<channels {
                mean[c] = rm[c]
                invStd[c] = 1 / (rv[c] + eps).squareRoot()
            }
        }
        BatchNormKernels.normalize(input: x, output: y, channels: channels, perChannel: perChannel,
                                   mean: mean, invStd: invStd, gamma: weight.value, beta: bias.value)
    }

    /// Puts `sums` and this process's count into `statistics` and lets the reducer (if any) total them.
    private func reduceWithCount() {
        statistics.set(sums: sums, count: perChannel)
        reducer?(&statistics)
    }

    /// Backward of y = gamma * xhat + beta, xhat = (x - mean) * invStd, with mean and variance over the M values
    /// of a channel (with SyncBN, the M values of the whole global batch):
    ///
    ///     dbeta  = sum dy                    dgamma = sum dy * xhat
    ///     dx     = gamma * invStd * (dy - (sum dy) / M - xhat * (sum dy * xhat) / M)
    ///
    /// The same two per-channel sums serve both lines.
    private func inputGradient(_ dy: Tensor, into dx: Tensor) {
        guard let x = input else { preconditionFailure("\(name): backward before forward") }
        // The two sums over this process's values.
        BatchNormKernels.gradientSums(input: x, gradOutput: dy, channels: channels, perChannel: perChannel,
                                      mean: mean, invStd: invStd, into: &sums)
        // dgamma and dbeta are parameter gradients: like every other one they stay this process's own sums,
        // and the gradient all-reduce adds them over the processes with the rest of their bucket. Reducing
        // them here as well would add every other process's share twice.
        let dgamma = weight.gradient!, dbeta = bias.gradient!
        for c in 0..<channels { dbeta[c] = Float(sums[c]); dgamma[c] = Float(sums[channels + c]) }
        weight.gradientIsReady(); bias.gradientIsReady()
        if isTraining {
            // dx needs the sums over the global batch: the forward's mean and variance were global, so the
            // means of dy and dy * xhat must be too. The same two sums (with the count M) are reduced here.
            reduceWithCount()
            BatchNormKernels.inputGradient(input: x, gradOutput: dy, gradInput: dx, channels: channels,
                                           perChannel: perChannel, totalCount: Int(statistics.count.rounded()),
                                           mean: mean, invStd: invStd, gamma: weight.value, sums: statistics.values)
        } else {
            // Eval mode: mean and variance are the running statistics, constants: dx = gamma * invStd * dy.
            BatchNormKernels.scaleGradient(gradOutput: dy, gradInput: dx, channels: channels, perChannel: perChannel,
                                           invStd: invStd, gamma: weight.value)
        }
    }
}
