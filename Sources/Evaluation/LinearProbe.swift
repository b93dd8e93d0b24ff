import Datasets
import Foundation
import Kernels
import Optimizers

/// Training settings of a linear probe.
public struct LinearProbeConfig: Sendable, Equatable {
    public enum OptimizerKind: String, Sendable, CaseIterable {
        case sgd, adamw
    }

    public var epochs: Int
    public var batchSize: Int
    /// Base learning rate; cosine decay to zero over all steps (no warmup).
    public var learningRate: Float
    /// SGD momentum (ignored by AdamW).
    public var momentum: Float
    public var weightDecay: Float
    public var optimizer: OptimizerKind
    /// Standardize every feature with the mean and std of the training features (also applied at evaluation).
    public var standardize: Bool
    /// Seeds the weight init and the per-epoch shuffles.
    public var seed: UInt64

    /// The base learning rate an optimizer gets when none is given.
    public static func defaultLearningRate(for optimizer: OptimizerKind) -> Double { optimizer == .sgd ? 0.1 : 0.001 }

    public init(epochs: Int = 100, batchSize: Int = 256, learningRate: Float = Float(defaultLearningRate(for: .sgd)),
                momentum: Float = 0.9, weightDecay: Float = 0, optimizer: OptimizerKind = .sgd, standardize: Bool = true,
                seed: UInt64 = 0) {
        self.epochs = epochs
        self.batchSize = batchSize
        self.learningRate = learningRate
        self.momentum = momentum
        self.weightDecay = weightDecay
        self.optimizer = optimizer
        self.standardize = standardize
        self.seed = seed
    }
}

/// Accuracy and loss of a classifier on a labelled set; accuracies are fractions in [0, 1].
public struct ClassificationResult: Sendable, Equatable {
    public var top1: Double
    public var top5: Double
    public var loss: Double
    public init(top1: Double, top5: Double, loss: Double) {
        self.top1 = top1; self.top5 = top5; self.loss = loss
    }
}

/// One training epoch of a probe: mean cross-entropy and top-1 over the epoch's mini-batches
/// (measured on the fly, before each step, as PyTorch training loops report them).
public struct ProbeEpochStats: Sendable, Equatable {
    public var epoch: Int
    public var trainLoss: Double
    public var trainTop1: Double
    public var learningRate: Float
    public init(epoch: Int, trainLoss: Double, trainTop1: Double, learningRate: Float) {
        self.epoch = epoch; self.trainLoss = trainLoss; self.trainTop1 = trainTop1; self.learningRate = learningRate
    }
}

/// Softmax regression on frozen features: one Linear layer `logits = x W^T + b` (W is [C, D], PyTorch's
/// layout and init `U(-1/sqrt(D), 1/sqrt(D))`) trained with cross-entropy. Parameters live in one flat buffer
/// `[W (C*D) | b (C)]` so the package's optimizers update them.
public final class LinearProbe {
    public let featureDim: Int
    public let classCount: Int
    /// `[W | b]`, flat.
    public let parameters: Tensor
    /// Gradients of the last `lossAndGradient` call, laid out as `parameters`.
    public let gradients: Tensor
    /// Per-feature mean and std applied to inputs before the Linear layer (nil: identity).
    public private(set) var standardization: (mean: [Float], std: [Float])?

    public init(featureDim: Int, classCount: Int, seed: UInt64 = 0) {
        precondition(featureDim >= 1 && classCount >= 1, "a probe needs at least one feature and one class")
        self.featureDim = featureDim
        self.classCount = classCount
        let count = classCount * featureDim + classCount
        parameters = Tensor(shape: [count])
        gradients = Tensor(shape: [count])
        var stream = RandomStream(.probeInit, seed: seed)
        let bound = 1 / Float(featureDim).squareRoot()
        parameters.withUnsafeMutableBufferPointer { p in
            for i in 0..<count { p[i] = stream.uniformFloat(-bound, bound) }
        }
    }

    public var weight: Tensor { parameters.view(offset: 0, shape: [classCount, featureDim]) }
    public var bias: Tensor { parameters.view(offset: classCount * featureDim, shape: [classCount]) }

    /// Sets the standardization from training features [N, D]: per-feature mean and (biased) std, std floored at 1e-6.
    public func fitStandardization(_ features: Tensor) {
        let (n, d) = dims(features)
        precondition(n >= 1, "standardization needs at least one row")
        var mean = [Double](repeating: 0, count: d), sq = [Double](repeating: 0, count: d)
        features.withUnsafeBufferPointer { x in
            for i in 0..<n { for k in 0..<d { let v = Double(x[i * d + k]); mean[k] += v; sq[k] += v * v } }
        }
        let m = mean.map { $0 / Double(n) }
        let s = zip(sq, m).map { Float(max(($0 / Double(n) - $1 * $1), 0).squareRoot()) }.map { max($0, 1e-6) }
        standardization = (m.map { Float($0) }, s)
    }

    public func clearStandardization() { standardization = nil }

    /// `features` with the standardization applied (a copy; the input itself when there is none).
    public func prepared(_ features: Tensor) -> Tensor {
        let (n, d) = dims(features)
        guard let (mean, std) = standardization else { return features }
        let out = Tensor(shape: [n, d])
        features.withUnsafeBufferPointer { x in
            out.withUnsafeMutableBufferPointer { y in
                for i in 0..<n { for k in 0..<d { y[i * d + k] = (x[i * d + k] - mean[k]) / std[k] } }
            }
        }
        return out
    }

    /// Logits [N, C] of already prepared features [N, D].
    public func logits(_ x: Tensor) -> Tensor {
        let (n, _) = dims(x)
        let z = Tensor(shape: [n, classCount])
        z.withUnsafeMutableBufferPointer { zp in
            bias.withUnsafeBufferPointer { b in
                for i in 0..<n { for c in 0..<classCount { zp[i * classCount + c] = b[c] } }
            }
        }
        matmul(x, transposed: false, rows: n, inner: featureDim, weight, transposed: true, columns: classCount, into: z, beta: 1)
        return z
    }

    /// Mean cross-entropy on prepared features [N, D]; writes the gradient w.r.t. `[W | b]` into `gradients`.
    /// dW = dZ^T X, db = column sums of dZ.
    @discardableResult
    public func lossAndGradient(features x: Tensor, labels: [Int]) -> Double {
        let (n, _) = dims(x)
        precondition(labels.count == n, "\(n) feature rows but \(labels.count) labels")
        let z = logits(x)
        let dz = Tensor(shape: [n, classCount])
        let loss = SoftmaxCrossEntropy.loss(logits: z, labels: labels, gradient: dz)
        let gw = gradients.view(offset: 0, shape: [classCount, featureDim])
        matmul(dz, transposed: true, rows: classCount, inner: n, x, columns: featureDim, into: gw)
        gradients.withUnsafeMutableBufferPointer { g in
            dz.withUnsafeBufferPointer { d in
                let off = classCount * featureDim
                for c in 0..<classCount { g[off + c] = 0 }
                for i in 0..<n { for c in 0..<classCount { g[off + c] += d[i * classCount + c] } }
            }
        }
        return loss
    }

    /// Trains on raw (unstandardized) features [N, D]; fits the standardization first when the config asks
    /// for it. Mini-batches of a per-epoch seeded shuffle (the last, smaller batch is kept); cosine-decayed LR.
    @discardableResult
    public func train(features: Tensor, labels: [Int], config: LinearProbeConfig,
                      onEpoch: ((ProbeEpochStats) -> Void)? = nil) -> [ProbeEpochStats] {
        let (n, d) = dims(features)
        precondition(labels.count == n && n >= 1, "\(n) feature rows but \(labels.count) labels")
        precondition(config.epochs >= 0 && config.batchSize >= 1, "bad probe config \(config)")
        if config.standardize { fitStandardization(features) } else { clearStandardization() }
        let x = prepared(features)
        let batchesPerEpoch = (n + config.batchSize - 1) / config.batchSize
        let schedule = LearningRateSchedule(baseLR: config.learningRate, totalSteps: max(1, config.epochs * batchesPerEpoch))
        let segments = [ParameterSegment(name: "weight", offset: 0, count: classCount * d),
                        ParameterSegment(name: "bias", offset: classCount * d, count: classCount,
                                         excludedFromDecayAndAdaptation: true)]
        let optimizer: Optimizer = config.optimizer == .sgd
            ? SGD(momentum: config.momentum, weightDecay: config.weightDecay, decayExcluded: false, segments: segments)
            : AdamW(weightDecay: config.weightDecay, decayExcluded: false, segments: segments)
        var history: [ProbeEpochStats] = []
        var step = 0
        for epoch in 0..<config.epochs {
            var stream = RandomStream(.probeShuffle, seed: config.seed, key: epoch)
            let order = stream.permutation(n)
            var lossSum = 0.0, correct = 0
            var lr: Float = 0
            for start in stride(from: 0, to: n, by: config.batchSize) {
                let rows = Array(order[start..<min(n, start + config.batchSize)])
                let xb = LinearProbe.gather(x, rows: rows)
                let yb = rows.map { labels[$0] }
                let z = logits(xb)
                correct += SoftmaxCrossEntropy.ranks(logits: z, labels: yb).filter { $0 == 0 }.count
                lossSum += lossAndGradient(features: xb, labels: yb) * Double(rows.count)
                lr = schedule.learningRate(atStep: step)
                optimizer.step(parameters: parameters, gradients: gradients, learningRate: lr)
                step += 1
            }
            let stats = ProbeEpochStats(epoch: epoch + 1, trainLoss: lossSum / Double(n),
                                        trainTop1: Double(correct) / Double(n), learningRate: lr)
            history.append(stats)
            onEpoch?(stats)
        }
        return history
    }

    /// Top-1, top-5 (min(5, C) classes; 1 when there are at most 5 classes) and mean cross-entropy on raw
    /// features [N, D] (the standardization is applied).
    public func evaluate(features: Tensor, labels: [Int]) -> ClassificationResult {
        let (n, _) = dims(features)
        precondition(labels.count == n && n >= 1, "\(n) feature rows but \(labels.count) labels")
        let z = logits(prepared(features))
        let loss = SoftmaxCrossEntropy.loss(logits: z, labels: labels)
        let r = SoftmaxCrossEntropy.ranks(logits: z, labels: labels)
        let k = min(5, classCount)
        return ClassificationResult(top1: Double(r.filter { $0 == 0 }.count) / Double(n),
                                    top5: Double(r.filter { $0 < k }.count) / Double(n), loss: loss)
    }

    /// Predicted class (arg-max, lowest index on ties) for raw features [N, D].
    public func predict(features: Tensor) -> [Int] {
        let (n, _) = dims(features)
        let z = logits(prepared(features))
        return z.withUnsafeBufferPointer { p in
            (0..<n).map { i in
                var best = 0
                for c in 1..<classCount where p[i * classCount + c] > p[i * classCount + best] { best = c }
                return best
            }
        }
    }

    static func gather(_ x: Tensor, rows: [Int]) -> Tensor {
        let d = x.shape[1]
        let out = Tensor(shape: [rows.count, d])
        x.withUnsafeBufferPointer { src in
            out.withUnsafeMutableBufferPointer { dst in
                for (r, i) in rows.enumerated() { for k in 0..<d { dst[r * d + k] = src[i * d + k] } }
            }
        }
        return out
    }

    private func dims(_ x: Tensor) -> (Int, Int) {
        precondition(x.shape.count == 2 && x.shape[1] == featureDim,
                     "expected [N, \(featureDim)] features, got \(x.shape)")
        return (x.shape[0], x.shape[1])
    }
}
