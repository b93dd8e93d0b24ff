import Datasets
import Foundation
import Reports
import TestSupport
import XCTest

/// `simclr report` and `simclr tsne` end to end (the built binary as a subprocess).
final class ReportCLITests: XCTestCase {
    func simclr(_ args: [String], timeout: Int = 120) throws -> ProcessHarness.Result {
        try ProcessHarness.run([try ProcessHarness.executable("simclr").path] + args, timeout: timeout)
    }

    func testReportPerRunAndCombined() throws {
        let dir = try RunFixtures.temporaryDirectory(self)
        let pretrain = try RunFixtures.pretrain(in: dir), supervised = try RunFixtures.supervised(in: dir)

        let perRun = try simclr(["report", pretrain.path, supervised.path])
        XCTAssertEqual(perRun.status, 0, perRun.output)
        for file in ["report.md", "report.html", "plots/loss.svg", "plots/contrastive_accuracy.svg", "plots/knn_top1.svg"] {
            let url = pretrain.appendingPathComponent(file)
            XCTAssert(FileManager.default.fileExists(atPath: url.path), file)
            XCTAssert(perRun.output.contains("wrote \(url.path)"), "the path written is printed: \(perRun.output)")
        }
        XCTAssert(FileManager.default.fileExists(atPath: supervised.appendingPathComponent("plots/accuracy.svg").path))
        XCTAssert(perRun.output.contains("| supervised | supervised |"), "combined table printed:\n\(perRun.output)")

        // --out: one combined report; a directory that is not a run is skipped with a warning.
        let out = dir.appendingPathComponent("combined")
        let combined = try simclr(["report", pretrain.path, supervised.path, dir.appendingPathComponent("empty").path,
                                   "--out", out.path])
        XCTAssertEqual(combined.status, 0, combined.output)
        XCTAssert(combined.output.contains("warning: skipping \(dir.path)/empty: no such directory"), combined.output)
        let md = try String(contentsOf: out.appendingPathComponent("report.md"), encoding: .utf8)
        XCTAssert(md.contains("| pretrain ") && md.contains("| supervised "), md)
        XCTAssert(FileManager.default.fileExists(atPath: out.appendingPathComponent("plots/supervised/loss.svg").path))

        // Nothing usable: an error naming the directory.
        let bad = try simclr(["report", dir.appendingPathComponent("combined/plots").path])
        XCTAssertNotEqual(bad.status, 0)
        XCTAssert(bad.output.contains("combined/plots: neither metrics.csv nor results.json found"), bad.output)
    }

    /// Embeddings and labels as `simclr embed` writes them: an SVG with one circle per point, the coordinates
    /// as CSV and .npy, the clusters kept apart.
    func testTSNEFromEmbeddings() throws {
        let dir = try RunFixtures.temporaryDirectory(self)
        let (x, labels) = gaussianClusters(clusters: 3, perCluster: 40, dims: 16)
        let xURL = dir.appendingPathComponent("x.npy"), yURL = dir.appendingPathComponent("y.npy")
        try NumpyFile.write(floats: x, shape: [120, 16], to: xURL)
        try NumpyFile.write(int64s: labels.map { Int64($0) }, shape: [120], to: yURL)
        let svg = dir.appendingPathComponent("map.svg"), csv = dir.appendingPathComponent("map.csv")
        let run = try simclr(["tsne", "--embeddings", xURL.path, "--labels", yURL.path, "--out", svg.path,
                              "--coords-out", csv.path, "--max-points", "100", "--perplexity", "20", "--iterations", "400",
                              "--class-names", "a & b,c,d", "--threads", "1"])
        XCTAssertEqual(run.status, 0, run.output)
        XCTAssert(run.output.contains("kept 100 of 120 points"), run.output)
        XCTAssert(run.output.contains("iteration 400/400: KL"), run.output)
        XCTAssert(run.output.contains("wrote \(svg.path)") && run.output.contains("wrote \(csv.path)"), run.output)
        let counter = parseXML(try String(contentsOf: svg, encoding: .utf8))
        XCTAssertEqual(counter.counts["circle"], 100)
        XCTAssert(counter.texts.contains("a & b"))
        let rows = try String(contentsOf: csv, encoding: .utf8).split(separator: "\n")
        XCTAssertEqual(rows.first, "x,y,label,index")
        XCTAssertEqual(rows.count, 101)
        let points = rows.dropFirst().map { $0.split(separator: ",").map { Double($0)! } }
        XCTAssert(points.allSatisfy { Int($0[2]) == labels[Int($0[3])] }, "labels follow the input rows")
        let agreement = TSNE.nearestNeighbourAgreement(points.flatMap { [$0[0], $0[1]] }, dims: 2, labels: points.map { Int($0[2]) })
        XCTAssertGreaterThan(agreement, 0.95)
        // The map's summary beside it, for reports: the agreement of the map drawn.
        let summary = try JSONDecoder().decode(FeatureMapSummary.self,
                                               from: Data(contentsOf: dir.appendingPathComponent("map.json")))
        XCTAssertEqual(summary.points, 100)
        XCTAssertGreaterThan(try XCTUnwrap(summary.mapAgreement), 0.95)

        let npy = dir.appendingPathComponent("map.npy")
        XCTAssertEqual(try simclr(["tsne", "--embeddings", xURL.path, "--out", svg.path, "--coords-out", npy.path,
                                   "--iterations", "20", "--perplexity", "5", "--pca", "0"]).status, 0)
        XCTAssertEqual(try NumpyFile.read(from: npy).shape, [120, 2])

        let tooMany = try simclr(["tsne", "--embeddings", xURL.path, "--out", svg.path, "--perplexity", "200"])
        XCTAssertNotEqual(tooMany.status, 0)
        XCTAssert(tooMany.output.contains("--perplexity 200.0 must be below N - 1 = 119"), tooMany.output)
        let neither = try simclr(["tsne", "--out", svg.path])
        XCTAssertNotEqual(neither.status, 0)
        XCTAssert(neither.output.contains("give --embeddings"), neither.output)
    }

    /// Features computed from an encoder (random init, tiny width) on generated data, with the dataset's class names.
    func testTSNEFromEncoder() throws {
        let dir = try RunFixtures.temporaryDirectory(self)
        let data = dir.appendingPathComponent("data").path
        let synth = try simclr(["synth", "--out", data, "--train-count", "10", "--test-count", "60"])
        XCTAssertEqual(synth.status, 0, synth.output)
        let svg = dir.appendingPathComponent("enc.svg")
        let run = try simclr(["tsne", "--random-init", "--width", "0.125", "--data", data, "--limit", "50",
                              "--perplexity", "10", "--iterations", "100", "--out", svg.path, "--threads", "1"])
        XCTAssertEqual(run.status, 0, run.output)
        XCTAssert(run.output.contains("computed 50 x 64 backbone features of the test split"), run.output)
        XCTAssert(run.output.contains("PCA: 64 -> 50 dimensions"), run.output)
        let counter = parseXML(try String(contentsOf: svg, encoding: .utf8))
        XCTAssertEqual(counter.counts["circle"], 50)
        XCTAssertFalse(counter.texts.contains { $0.hasPrefix("class ") }, "the dataset's class names label the legend")
    }
}
