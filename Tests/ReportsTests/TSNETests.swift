import Foundation
import Kernels
import Reports
import XCTest

/// Gaussian clusters: `perCluster` points around each of `clusters` centres in `dims` dimensions.
func gaussianClusters(clusters: Int, perCluster: Int, dims: Int, spread: Double = 1, separation: Double = 10,
                      seed: UInt64 = 1) -> (x: [Float], labels: [Int]) {
    var rng = SplitMix64(seed: seed)
    let centres = (0..<clusters).map { _ in (0..<dims).map { _ in rng.nextNormal() * separation } }
    var x: [Float] = [], labels: [Int] = []
    for i in 0..<(clusters * perCluster) {
        let c = i % clusters   // interleaved, so no structure follows from the row order
        labels.append(c)
        x += centres[c].map { Float($0 + rng.nextNormal() * spread) }
    }
    return (x, labels)
}

final class TSNETests: XCTestCase {
    override func setUp() { Parallel.threadCount = 2 }

    /// Every row's conditional distribution has perplexity e^H equal to the target: the bisection's entropy
    /// and the entropy recomputed from the returned row both match log(perplexity).
    func testPerplexityCalibration() {
        let (x, _) = gaussianClusters(clusters: 3, perCluster: 40, dims: 10, spread: 2, separation: 3)
        let n = 120
        let dist = TSNE.squaredDistances(x, rows: n, columns: 10)
        for perplexity in [5.0, 30.0] {
            let (p, beta, entropy) = TSNE.conditionalAffinities(squaredDistances: dist, count: n, perplexity: perplexity)
            for i in 0..<n {
                let row = p[(i * n)..<((i + 1) * n)]
                XCTAssertEqual(row.reduce(0, +), 1, accuracy: 1e-9)
                XCTAssertEqual(p[i * n + i], 0)
                let h = -row.filter { $0 > 0 }.map { $0 * log($0) }.reduce(0, +)
                XCTAssertEqual(h, log(perplexity), accuracy: 1e-4, "row \(i), perplexity \(perplexity)")
                XCTAssertEqual(entropy[i], log(perplexity), accuracy: 1e-5)
                XCTAssert(beta[i] > 0 && beta[i].isFinite)
            }
        }
        let joint = TSNE.jointAffinities(conditional: TSNE.conditionalAffinities(squaredDistances: dist, count: n, perplexity: 30).p,
                                         count: n)
        XCTAssertEqual(joint.reduce(0, +), 1, accuracy: 1e-9)
        for i in 0..<n { for j in 0..<n { XCTAssertEqual(joint[i * n + j], joint[j * n + i]) } }
    }

    /// Far-apart points (squared distances in the thousands) do not underflow to an all-zero row.
    func testCalibrationOfWidelySpreadPoints() {
        let x: [Float] = (0..<40).flatMap { i in [Float(i * i) * 10, Float(i) * 100] }
        let dist = TSNE.squaredDistances(x, rows: 40, columns: 2)
        let (p, _, entropy) = TSNE.conditionalAffinities(squaredDistances: dist, count: 40, perplexity: 5)
        XCTAssert(p.allSatisfy(\.isFinite))
        for h in entropy { XCTAssertEqual(h, log(5), accuracy: 1e-4) }
    }

    /// Four well-separated clusters in 20-D stay apart in 2-D: the nearest neighbour of almost every point in the
    /// map has its label. The same layout scored against shuffled labels is near chance (1/4), so the check
    /// can fail. The KL divergence falls once early exaggeration ends.
    func testSeparatesClustersAndKLDecreases() {
        let (x, labels) = gaussianClusters(clusters: 4, perCluster: 50, dims: 20)
        var config = TSNEConfig()
        config.seed = 3
        var reported: [Int] = []
        let result = TSNE.embed(x, rows: 200, columns: 20, config: config) { iteration, _ in reported.append(iteration) }
        XCTAssertEqual(reported, Array(stride(from: 100, through: 1000, by: 100)))
        let y = result.coordinates
        XCTAssert(y.allSatisfy(\.isFinite))
        let agreement = TSNE.nearestNeighbourAgreement(y, dims: 2, labels: labels)
        XCTAssertGreaterThan(agreement, 0.95)
        var rng = SplitMix64(seed: 9)
        let shuffled = labels.shuffled(using: &rng)
        let chance = TSNE.nearestNeighbourAgreement(y, dims: 2, labels: shuffled)
        XCTAssertLessThan(chance, 0.45, "random labels agree only by chance (~0.25)")
        print(String(format: "t-SNE of 4 clusters: 1-NN agreement %.3f, with shuffled labels %.3f", agreement, chance))

        let kl = result.klHistory.map(\.kl)
        let afterExaggeration = result.klHistory.filter { $0.iteration > config.exaggerationIterations }.map(\.kl)
        for (a, b) in zip(afterExaggeration, afterExaggeration.dropFirst()) { XCTAssertLessThanOrEqual(b, a + 1e-3, "\(kl)") }
        XCTAssertLessThan(kl.last!, afterExaggeration.first!)
        // The final layout beats a random one by far.
        let p = TSNE.affinities(x, rows: 200, columns: 20, perplexity: 30)
        let random = (0..<400).map { _ in rng.nextNormal() * 10 }
        XCTAssertLessThan(kl.last!, TSNE.klDivergence(p: p, y: random, count: 200) / 2)

        // Same seed, same layout (rows are split over threads, but each row's sums run in one order).
        let again = TSNE.embed(x, rows: 200, columns: 20, config: config)
        XCTAssertEqual(again.coordinates, y)
    }

    func testSubsampleIsSeededSortedAndDistinct() {
        let a = TSNE.subsample(count: 1000, keep: 100, seed: 1)
        XCTAssertEqual(a.count, 100)
        XCTAssertEqual(a, a.sorted())
        XCTAssertEqual(Set(a).count, 100)
        XCTAssertEqual(a, TSNE.subsample(count: 1000, keep: 100, seed: 1))
        XCTAssertNotEqual(a, TSNE.subsample(count: 1000, keep: 100, seed: 2))
        XCTAssertEqual(TSNE.subsample(count: 5, keep: 10, seed: 0), [0, 1, 2, 3, 4])
    }

    /// Points in a 3-D subspace of 30-D (plus tiny noise): three components keep almost all variance and the
    /// pairwise distances.
    func testPCAKeepsTheSubspace() {
        var rng = SplitMix64(seed: 4)
        let n = 200, d = 30
        let basis = (0..<3).map { _ in (0..<d).map { _ in rng.nextNormal() } }
        var x: [Float] = []
        for _ in 0..<n {
            let c = (0..<3).map { k in rng.nextNormal() * Double(3 - k) }
            x += (0..<d).map { j in Float(c[0] * basis[0][j] + c[1] * basis[1][j] + c[2] * basis[2][j] + 5 + rng.nextNormal() * 1e-3) }
        }
        let projection = PCA.project(x, rows: n, columns: d, components: 3)
        XCTAssertGreaterThan(projection.keptVariance, 0.9999)
        let before = TSNE.squaredDistances(x, rows: n, columns: d), after = TSNE.squaredDistances(projection.values, rows: n, columns: 3)
        for k in stride(from: 1, to: n * n, by: 97) { XCTAssertEqual(after[k], before[k], accuracy: 1e-3 * max(1, before[k])) }
    }
}
