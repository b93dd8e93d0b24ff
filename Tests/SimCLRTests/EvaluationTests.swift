import Datasets
import Evaluation
import Foundation
import Kernels
import NeuralNet
import XCTest

/// Label fractions, the linear probe and the kNN classifier on small synthetic inputs.
final class EvaluationTests: XCTestCase {
    override func setUp() {
        Parallel.threadCount = 2
        BLAS.setThreads(1)
    }

    // MARK: label fractions

    /// 100 / 50 / 3 images of classes 0 / 1 / 2, interleaved.
    private func unbalancedLabels() -> [Int] {
        var labels = [Int](repeating: 0, count: 100) + [Int](repeating: 1, count: 50) + [2, 2, 2]
        var stream = RandomStream(seed: 99)
        labels = stream.permutation(labels.count).map { labels[$0] }
        return labels
    }

    func testBalancedSubsetCountsPerClass() {
        let labels = unbalancedLabels()
        let subset = LabelFraction.balancedSubset(labels: labels, fraction: 0.1, seed: 1)
        // round(0.1 * count) per class, at least one for a present class (0.3 rounds to 0 -> 1).
        XCTAssertEqual(LabelFraction.classCounts(labels: labels, indices: subset, classCount: 3), [10, 5, 1])
        XCTAssertEqual(subset, subset.sorted())
        XCTAssertEqual(Set(subset).count, subset.count)

        let balanced = (0..<1000).map { $0 % 10 }
        let onePercent = LabelFraction.balancedSubset(labels: balanced, fraction: 0.01, seed: 0)
        XCTAssertEqual(LabelFraction.classCounts(labels: balanced, indices: onePercent, classCount: 10),
                       [Int](repeating: 1, count: 10))
        let half = LabelFraction.balancedSubset(labels: balanced, fraction: 0.5, seed: 0)
        XCTAssertEqual(LabelFraction.classCounts(labels: balanced, indices: half, classCount: 10),
                       [Int](repeating: 50, count: 10))
    }

    func testBalancedSubsetIsDeterministicAndSeeded() {
        let labels = unbalancedLabels()
        let a = LabelFraction.balancedSubset(labels: labels, fraction: 0.2, seed: 7)
        let b = LabelFraction.balancedSubset(labels: labels, fraction: 0.2, seed: 7)
        let c = LabelFraction.balancedSubset(labels: labels, fraction: 0.2, seed: 8)
        XCTAssertEqual(a, b)
        XCTAssertNotEqual(a, c)
        XCTAssertEqual(a.count, c.count)
    }

    func testFractionOneIsEverything() {
        let labels = unbalancedLabels()
        XCTAssertEqual(LabelFraction.balancedSubset(labels: labels, fraction: 1.0, seed: 3), Array(labels.indices))
    }

    // MARK: toy features

    /// `perClass` points per class around `classes` centres 8 * e_c in `dim` dimensions, unit Gaussian noise.
    private func clusters(classes: Int, perClass: Int, dim: Int = 16, seed: UInt64) -> (Tensor, [Int]) {
        var stream = RandomStream(seed: seed)
        var values: [Float] = [], labels: [Int] = []
        for i in 0..<(classes * perClass) {
            let c = i % classes
            for k in 0..<dim {
                let u1 = max(stream.uniform(), 1e-12), u2 = stream.uniform()
                let noise = Float((-2 * log(u1)).squareRoot() * cos(2 * Double.pi * u2))
                values.append((k == c ? 8 : 0) + noise)
            }
            labels.append(c)
        }
        return (Tensor(shape: [labels.count, dim], values: values), labels)
    }

    // MARK: linear probe

    func testLinearProbeSeparatesClusters() {
        let (trainX, trainY) = clusters(classes: 4, perClass: 50, seed: 1)
        let (testX, testY) = clusters(classes: 4, perClass: 25, seed: 2)
        let probe = LinearProbe(featureDim: 16, classCount: 4, seed: 0)
        let before = probe.evaluate(features: testX, labels: testY)
        let history = probe.train(features: trainX, labels: trainY,
                                  config: LinearProbeConfig(epochs: 20, batchSize: 32, learningRate: 0.1, seed: 0))
        XCTAssertEqual(history.count, 20)
        XCTAssertLessThan(history.last!.trainLoss, history.first!.trainLoss)
        let after = probe.evaluate(features: testX, labels: testY)
        XCTAssertEqual(after.top1, 1.0)
        XCTAssertEqual(after.top5, 1.0)   // 4 classes: top-5 always holds the label
        XCTAssertLessThan(after.loss, 0.1)
        XCTAssertLessThan(after.loss, before.loss)
        XCTAssertEqual(probe.predict(features: testX), testY)

        // Same seed, same result; AdamW also separates them.
        let again = LinearProbe(featureDim: 16, classCount: 4, seed: 0)
        again.train(features: trainX, labels: trainY,
                    config: LinearProbeConfig(epochs: 20, batchSize: 32, learningRate: 0.1, seed: 0))
        XCTAssertEqual(again.parameters.array, probe.parameters.array)
        let adam = LinearProbe(featureDim: 16, classCount: 4, seed: 0)
        adam.train(features: trainX, labels: trainY,
                   config: LinearProbeConfig(epochs: 20, batchSize: 32, learningRate: 0.01, optimizer: .adamw,
                                             standardize: false, seed: 0))
        XCTAssertEqual(adam.evaluate(features: testX, labels: testY).top1, 1.0)
    }

    /// Central differences of the mean cross-entropy w.r.t. every weight and bias against the analytic
    /// gradient (softmax - onehot) / N, back through the Linear layer.
    /// Tolerance: the loss is accumulated in Double from float32 logits of size ~1, so each loss value
    /// carries a rounding error of ~1e-7; divided by 2h = 2e-2 that is ~1e-5 in the difference quotient.
    /// The truncation error of central differences is h^2/6 * |f'''| ~ 2e-5 (softmax derivatives are O(1)).
    /// 2e-4 absolute (+1e-3 relative) is well above both and far below a wrong gradient (entries ~0.05-0.3).
    func testCrossEntropyGradientMatchesFiniteDifferences() {
        let n = 7, d = 5, c = 4
        var stream = RandomStream(seed: 11)
        let x = Tensor(shape: [n, d], values: (0..<(n * d)).map { _ in stream.uniformFloat(-1, 1) })
        let labels = (0..<n).map { $0 % c }
        let probe = LinearProbe(featureDim: d, classCount: c, seed: 5)
        probe.lossAndGradient(features: x, labels: labels)
        let analytic = probe.gradients.array
        let h: Float = 1e-2
        var maxError: Float = 0
        for i in 0..<probe.parameters.count {
            let original = probe.parameters[i]
            probe.parameters.withUnsafeMutableBufferPointer { $0[i] = original + h }
            let plus = SoftmaxCrossEntropy.loss(logits: probe.logits(x), labels: labels)
            probe.parameters.withUnsafeMutableBufferPointer { $0[i] = original - h }
            let minus = SoftmaxCrossEntropy.loss(logits: probe.logits(x), labels: labels)
            probe.parameters.withUnsafeMutableBufferPointer { $0[i] = original }
            let numeric = Float((plus - minus) / Double(2 * h))
            let error = abs(numeric - analytic[i])
            maxError = max(maxError, error)
            XCTAssertLessThan(error, 2e-4 + 1e-3 * abs(numeric), "parameter \(i): numeric \(numeric), analytic \(analytic[i])")
        }
        XCTAssertGreaterThan(analytic.map(abs).max()!, 0.01, "gradient unexpectedly tiny")
        // The bias gradient is the column sum of (softmax - onehot)/N, so the bias entries sum to 0.
        XCTAssertEqual(analytic[(c * d)...].reduce(0, +), 0, accuracy: 1e-6)
    }

    func testCrossEntropyOfUniformLogitsIsLogC() {
        let z = Tensor(shape: [3, 5])
        XCTAssertEqual(SoftmaxCrossEntropy.loss(logits: z, labels: [0, 2, 4]), log(5.0), accuracy: 1e-9)
    }

    // MARK: kNN

    func testKNNOnClustersIsExact() {
        let (trainX, trainY) = clusters(classes: 6, perClass: 30, seed: 3)
        let (testX, testY) = clusters(classes: 6, perClass: 10, seed: 4)
        let knn = KNNClassifier(trainFeatures: trainX, trainLabels: trainY, k: 200, temperature: 0.1)
        XCTAssertEqual(knn.k, 180, "k is capped at the number of training features")
        let result = knn.evaluate(features: testX, labels: testY)
        XCTAssertEqual(result.top1, 1.0)
        XCTAssertEqual(result.top5, 1.0)
        XCTAssertEqual(knn.predict(features: testX), testY)
        var small = KNNClassifier(trainFeatures: trainX, trainLabels: trainY, k: 10)
        small.blockSize = 7
        // Blocking the queries changes only float rounding (another matrix-product shape).
        let blocked = small.votes(for: testX).array
        let whole = KNNClassifier(trainFeatures: trainX, trainLabels: trainY, k: 10).votes(for: testX).array
        for (a, b) in zip(blocked, whole) { XCTAssertEqual(a, b, accuracy: 1e-4 * max(abs(b), 1)) }
    }

    /// Four 2-d training points; the query (1, 0) has cosine similarities a: 1, b: 0.6, c: 0, d: -1.
    /// With k = 3 the neighbours are a (class 0), b and c (class 1):
    ///   T = 0.1: class 0 gets e^10 = 22026.5, class 1 gets e^6 + e^0 = 404.4 -> class 0 (a majority vote says 1);
    ///   T = 10:  class 0 gets e^0.1 = 1.105, class 1 gets e^0.06 + 1 = 2.062 -> class 1.
    func testWeightedVotesMatchHandComputation() {
        // Norms differ on purpose: the classifier normalizes.
        let train = Tensor(shape: [4, 2], values: [3, 0, 0.6, 0.8, 0, 2, -1, 0])
        let labels = [0, 1, 1, 2]
        let query = Tensor(shape: [1, 2], values: [5, 0])

        let sharp = KNNClassifier(trainFeatures: train, trainLabels: labels, k: 3, temperature: 0.1).votes(for: query).array
        XCTAssertEqual(Double(sharp[0]), exp(10.0), accuracy: exp(10.0) * 1e-5)
        XCTAssertEqual(Double(sharp[1]), exp(6.0) + 1, accuracy: 1e-2)
        XCTAssertEqual(sharp[2], 0)

        let flat = KNNClassifier(trainFeatures: train, trainLabels: labels, k: 3, temperature: 10)
        let v = flat.votes(for: query).array
        XCTAssertEqual(Double(v[0]), exp(0.1), accuracy: 1e-5)
        XCTAssertEqual(Double(v[1]), exp(0.06) + 1, accuracy: 1e-5)
        XCTAssertEqual(flat.predict(features: query), [1])
        XCTAssertEqual(KNNClassifier(trainFeatures: train, trainLabels: labels, k: 3, temperature: 0.1)
            .predict(features: query), [0])

        // Top-5 with 3 classes always holds; top-1 follows the ranking of votes.
        let r = flat.evaluate(features: query, labels: [0])
        XCTAssertEqual(r.top1, 0)
        XCTAssertEqual(r.top5, 1)
    }

    func testL2NormalizedRows() {
        let x = Tensor(shape: [2, 2], values: [3, 4, 0, 0])
        XCTAssertEqual(FeatureExtractor.l2Normalized(x).array, [0.6, 0.8, 0, 0])
    }

    // MARK: feature extraction

    func testFeatureExtractorIsBatchInvariantAndInDatasetOrder() {
        var stream = RandomStream(seed: 4)
        let pixels = (0..<(5 * 8 * 8 * 3)).map { _ in UInt8(stream.int(below: 256)) }
        let data = LabeledImages(height: 8, width: 8, channels: 3, pixels: pixels, labels: [0, 1, 2, 3, 4],
                                 classNames: (0..<5).map(String.init))
        let model = ResNet(config: ResNetConfig(stem: .cifar, width: 0.125, headDims: []), seed: 1)
        let all = FeatureExtractor(model: model, batchSize: 5).features(of: data)
        let byTwo = FeatureExtractor(model: model, batchSize: 2).features(of: data)
        XCTAssertEqual(all.shape, [5, model.config.featureDim])
        for (a, b) in zip(all.array, byTwo.array) { XCTAssertEqual(a, b, accuracy: 1e-5) }
        let third = FeatureExtractor(model: model, batchSize: 1).features(of: data.subset([2]))
        for k in 0..<third.count { XCTAssertEqual(third[k], all[2 * third.count + k], accuracy: 1e-5) }
    }
}
