import Foundation
import Kernels

/// Combines per-channel sums across data-parallel processes (synchronized BatchNorm).
/// `values` holds sums followed by the local element count; the reducer replaces them with the
/// totals over all processes. A model without a reducer normalizes over its local batch.
public typealias BatchStatisticsReducer = (_ values: inout [Double]) -> Void

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
    /// Per-channel sums of the current pass; `reduced` adds the element count for the reducer.
    private var sums: [Double], reduced: [Double]
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
        reduced = [Double](repeating: 0, count: 2 * channels + 1)
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
            BatchNormKernels.sums(input: x, channels: channels, perChannel: perChannel, into: &sums)
            reduceWithCount()
            totalCount = Int(reduced[2 * channels].rounded())
            precondition(totalCount > 1, "\(name): batch statistics need more than one value per channel")
            let n = Double(totalCount)
            let rm = runningMean.value!, rv = runningVar.value!
            let m = Double(momentum)
            for c in 0..<channels {
                let mu = reduced[c] / n
                let variance = max(reduced[channels + c] / n - mu * mu, 0)
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

    /// Copies `sums` and the local count into `reduced` and lets the reducer (if any) total them.
    private func reduceWithCount() {
        for i in 0..<(2 * channels) { reduced[i] = sums[i] }
        reduced[2 * channels] = Double(perChannel)
        reducer?(&reduced)
    }

    private func inputGradient(_ dy: Tensor, into dx: Tensor) {
        guard let x = input else { preconditionFailure("\(name): backward before forward") }
        BatchNormKernels.gradientSums(input: x, gradOutput: dy, channels: channels, perChannel: perChannel,
                                      mean: mean, invStd: invStd, into: &sums)
        // The affine gradients are this process's own sums; the gradient all-reduce combines them.
        let dgamma = weight.gradient!, dbeta = bias.gradient!
        for c in 0..<channels { dbeta[c] = Float(sums[c]); dgamma[c] = Float(sums[channels + c]) }
        weight.gradientIsReady(); bias.gradientIsReady()
        if isTraining {
            reduceWithCount()
            BatchNormKernels.inputGradient(input: x, gradOutput: dy, gradInput: dx, channels: channels,
                                           perChannel: perChannel, totalCount: Int(reduced[2 * channels].rounded()),
                                           mean: mean, invStd: invStd, gamma: weight.value, sums: reduced)
        } else {
            BatchNormKernels.scaleGradient(gradOutput: dy, gradInput: dx, channels: channels, perChannel: perChannel,
                                           invStd: invStd, gamma: weight.value)
        }
    }
}
