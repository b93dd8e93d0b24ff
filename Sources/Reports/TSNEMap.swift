import Datasets
import Foundation
import Kernels
import SVG

/// `simclr tsne`'s pipeline on a feature matrix: a seeded random subset of at most `maxPoints` rows, a PCA
/// projection to `pca` dimensions (0: none), exact t-SNE (`TSNE`, with `config`), and with labels the share of
/// points whose nearest neighbour has the same label, in the input and in the map.
public struct TSNEMap {
    public var maxPoints = 3000
    /// Principal components kept before t-SNE (0, or at least the feature width: the features as they are).
    public var pca = 50
    public var config = TSNEConfig()

    public init() {}

    /// A map of `count` points: row i of `coordinates` (x, y) is input row `indices[i]`, labelled `labels[i]`.
    public struct Result {
        public var coordinates: [Double]
        public var labels: [Int]
        public var indices: [Int]
        public var finalKL: Double
        /// 1-NN label agreement (map, input); nil with a single label.
        public var agreement: (map: Double, input: Double)?
        public var count: Int { labels.count }
    }

    /// A value the map cannot be made with (the message names the setting in backquotes).
    public struct Invalid: Error, CustomStringConvertible {
        public let description: String
    }

    /// Why no map can be made with these values, whatever the data.
    public func validate() throws {
        func invalid(_ why: String) -> Invalid { Invalid(description: why) }
        guard maxPoints >= 2 else { throw invalid("`maxPoints` must be at least 2") }
        guard config.perplexity > 0, config.perplexity.isFinite else { throw invalid("`perplexity` must be positive") }
        guard config.iterations >= 1 else { throw invalid("`iterations` must be at least 1") }
        guard config.learningRate > 0, config.learningRate.isFinite else { throw invalid("`learningRate` must be positive") }
        guard pca >= 0 else { throw invalid("`pca` must be >= 0") }
    }

    /// Maps `features` (N x `dim`, row-major) with their `labels` (-1 where unknown). `log` gets the steps.
    public func run(features: [Float], dim: Int, labels: [Int], log: @escaping (String) -> Void) throws -> Result {
        var (x, d, labels) = (features, dim, labels)
        let total = labels.count
        let keep = TSNE.subsample(count: total, keep: maxPoints, seed: config.seed)
        if keep.count < total {
            x = keep.flatMap { i in x[(i * d)..<((i + 1) * d)] }
            labels = keep.map { labels[$0] }
            log("kept \(keep.count) of \(total) points (a seeded random subset of at most \(maxPoints))")
        }
        let n = labels.count
        guard n >= 3 else { throw Invalid(description: "t-SNE needs at least 3 points, the input has \(n)") }
        guard config.perplexity < Double(n - 1) else {
            throw Invalid(description: "`perplexity` \(config.perplexity) must be below N - 1 = \(n - 1) points; try \(max(1, (n - 1) / 3))")
        }
        if n > 5000 { log("warning: exact t-SNE of \(n) points needs \(8 * n * n / 1_000_000) MB and O(N^2) time per iteration") }
        let start = Date()
        if pca > 0 && pca < d {
            let projection = PCA.project(x, rows: n, columns: d, components: pca, seed: config.seed)
            log(String(format: "PCA: %d -> %d dimensions, keeping %.1f%% of the variance", d, pca, projection.keptVariance * 100))
            (x, d) = (projection.values, pca)
        }
        log("t-SNE of \(n) points x \(d) dims, perplexity \(config.perplexity), \(config.iterations) iterations, "
            + "\(Parallel.threadCount) threads")
        let p = TSNE.affinities(x, rows: n, columns: d, perplexity: config.perplexity)
        let embedded = TSNE.embed(affinities: p, count: n, config: config) { iteration, kl in
            let phase = iteration <= config.exaggerationIterations ? " (early exaggeration)" : ""
            log(String(format: "iteration %d/%d: KL %.4f%@, %.1f s", iteration, config.iterations, kl, phase,
                       Date().timeIntervalSince(start)))
        }
        var agreement: (map: Double, input: Double)?
        if Set(labels).count > 1 {
            agreement = (TSNE.nearestNeighbourAgreement(embedded.coordinates, dims: 2, labels: labels),
                         TSNE.nearestNeighbourAgreement(x.map(Double.init), dims: d, labels: labels))
        }
        return Result(coordinates: embedded.coordinates, labels: labels, indices: keep,
                      finalKL: embedded.klHistory.last?.kl ?? .nan, agreement: agreement)
    }
}

extension TSNEMap.Result {
    /// The scatter plot, points coloured by label.
    public func svg(title: String, classNames: [String]) -> String {
        ScatterPlot(title: title, x: (0..<count).map { coordinates[2 * $0] }, y: (0..<count).map { coordinates[2 * $0 + 1] },
                    labels: labels, classNames: classNames).svg()
    }

    /// What the map says, after `seconds` of work: the label agreement (with labels) and the final KL divergence.
    public func summary(seconds: Double) -> [String] {
        (agreement.map { [String(format: "1-NN label agreement: %.4f in the map, %.4f in the input", $0.map, $0.input)] } ?? [])
            + [String(format: "t-SNE: %d points, final KL %.4f, %.1f s", count, finalKL, seconds)]
    }

    /// Writes the scatter plot to `svg` with its summary file beside it, and with `coordinates` the 2-D
    /// coordinates (`writeCoordinates`), saying each file as it is written.
    public func write(svg url: URL, title: String, classNames: [String], coordinates: URL?, say: (String) -> Void) throws {
        try Data(svg(title: title, classNames: classNames).utf8).write(to: url, options: .atomic)
        try FeatureMapSummary(title: title, points: count, mapAgreement: agreement?.map,
                              inputAgreement: agreement?.input).write(besides: url)
        say("wrote \(url.path) and \(FeatureMapSummary.file(besides: url).lastPathComponent)")
        if let coordinates {
            try writeCoordinates(to: coordinates)
            say("wrote \(coordinates.path)")
        }
    }

    /// The coordinates as .npy (float32 N x 2) or .csv (x,y,label,index, index being the input row).
    public func writeCoordinates(to url: URL) throws {
        if url.pathExtension == "npy" {
            try NumpyFile.write(floats: coordinates.map { Float($0) }, shape: [count, 2], to: url)
        } else {
            let rows = (0..<count).map {
                String(format: "%.6g,%.6g,%d,%d", coordinates[2 * $0], coordinates[2 * $0 + 1], labels[$0], indices[$0])
            }
            try Data((["x,y,label,index"] + rows).joined(separator: "\n").appending("\n").utf8).write(to: url, options: .atomic)
        }
    }
}
