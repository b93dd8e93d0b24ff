import Foundation
import Kernels

/// Weighted k-nearest-neighbour classifier on cosine similarity (the InstDisc / SimCLR kNN monitor):
/// the k training features most similar to a query vote for their class with weight `exp(sim / T)`;
/// classes are ranked by their summed votes. Features are L2-normalized, so similarity is a dot product,
/// computed a block of queries at a time with one matrix product (10k x 50k stays a few hundred MB at most).
public struct KNNClassifier {
    /// L2-normalized training features [N, D].
    public let trainFeatures: Tensor
    public let trainLabels: [Int]
    public let classCount: Int
    /// Neighbours that vote, capped at the number of training features.
    public let k: Int
    public let temperature: Float
    /// Queries per matrix product.
    public var blockSize = 256

    /// `trainFeatures` [N, D] are normalized here (a copy). `classCount` defaults to max label + 1.
    public init(trainFeatures: Tensor, trainLabels: [Int], classCount: Int? = nil, k: Int = 200,
                temperature: Float = 0.1) {
        precondition(trainFeatures.shape.count == 2, "expected [N, D] features, got \(trainFeatures.shape)")
        let n = trainFeatures.shape[0]
        precondition(n >= 1 && trainLabels.count == n, "\(n) training rows but \(trainLabels.count) labels")
        precondition(k >= 1, "k must be at least 1")
        precondition(temperature > 0, "temperature must be positive")
        precondition(trainLabels.allSatisfy { $0 >= 0 }, "kNN training labels must be >= 0")
        self.trainFeatures = FeatureExtractor.l2Normalized(trainFeatures)
        self.trainLabels = trainLabels
        let classes = classCount ?? (trainLabels.max()! + 1)
        precondition(trainLabels.allSatisfy { $0 < classes }, "a training label is >= classCount \(classes)")
        self.classCount = classes
        self.k = min(k, n)
        self.temperature = temperature
    }

    /// Summed votes [Q, C] of the queries [Q, D] (normalized here).
    public func votes(for queries: Tensor) -> Tensor {
        precondition(queries.shape.count == 2 && queries.shape[1] == trainFeatures.shape[1],
                     "queries \(queries.shape) do not match training features \(trainFeatures.shape)")
        let q = FeatureExtractor.l2Normalized(queries)
        let nq = q.shape[0], d = q.shape[1], nt = trainFeatures.shape[0], c = classCount, k = k
        let out = Tensor(shape: [nq, c])
        let invT = 1 / temperature
        let labels = trainLabels
        for start in stride(from: 0, to: nq, by: blockSize) {
            let rows = min(blockSize, nq - start)
            let block = q.view(offset: start * d, shape: [rows, d])
            let sims = Tensor(shape: [rows, nt])
            matmul(block, transposed: false, rows: rows, inner: d, trainFeatures, transposed: true, columns: nt, into: sims)
            sims.withUnsafeBufferPointer { s in
                out.withUnsafeMutableBufferPointer { o in
                    let sp = s.baseAddress!, op = o.baseAddress!
                    Parallel.forEach(rows, minimumPerThread: 8) { r in
                        let top = KNNClassifier.topK(sp + r * nt, count: nt, k: k)
                        let dst = op + (start + r) * c
                        for (sim, index) in top { dst[labels[index]] += exp(sim * invT) }
                    }
                }
            }
        }
        return out
    }

    /// Top-1 and top-5 (min(5, C) classes) accuracy on queries [Q, D] with labels; `loss` is 0 (not defined).
    public func evaluate(features: Tensor, labels: [Int]) -> ClassificationResult {
        precondition(labels.count == features.shape[0] && !labels.isEmpty, "\(features.shape[0]) rows but \(labels.count) labels")
        precondition(labels.allSatisfy { $0 >= 0 && $0 < classCount }, "a test label lies outside 0..<\(classCount)")
        let r = SoftmaxCrossEntropy.ranks(logits: votes(for: features), labels: labels)
        let n = Double(labels.count), top = min(5, classCount)
        return ClassificationResult(top1: Double(r.filter { $0 == 0 }.count) / n,
                                    top5: Double(r.filter { $0 < top }.count) / n, loss: 0)
    }

    /// Predicted class per query (most votes, lowest class index on ties).
    public func predict(features: Tensor) -> [Int] {
        let v = votes(for: features), c = classCount
        return v.withUnsafeBufferPointer { p in
            (0..<features.shape[0]).map { i in
                var best = 0
                for j in 1..<c where p[i * c + j] > p[i * c + best] { best = j }
                return best
            }
        }
    }

    /// The `k` largest of `count` values as (value, index), by value descending then index ascending;
    /// a bounded min-heap, O(count log k).
    static func topK(_ values: UnsafePointer<Float>, count: Int, k: Int) -> [(Float, Int)] {
        // "Worse" = smaller value, or equal value with a larger index. The heap root is the worst kept.
        @inline(__always) func worse(_ a: (Float, Int), _ b: (Float, Int)) -> Bool {
            a.0 < b.0 || (a.0 == b.0 && a.1 > b.1)
        }
        var heap: [(Float, Int)] = []
        heap.reserveCapacity(k)
        func siftDown(_ start: Int) {
            var i = start
            while true {
                let l = 2 * i + 1, r = l + 1
                var m = i
                if l < heap.count && worse(heap[l], heap[m]) { m = l }
                if r < heap.count && worse(heap[r], heap[m]) { m = r }
                if m == i { return }
                heap.swapAt(i, m); i = m
            }
        }
        for j in 0..<count {
            let item = (values[j], j)
            if heap.count < k {
                heap.append(item)
                var i = heap.count - 1
                while i > 0 {
                    let p = (i - 1) / 2
                    if worse(heap[i], heap[p]) { heap.swapAt(i, p); i = p } else { break }
                }
            } else if worse(heap[0], item) {
                heap[0] = item
                siftDown(0)
            }
        }
        return heap.sorted { worse($1, $0) }
    }
}
