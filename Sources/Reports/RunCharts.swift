import Foundation
import SVG

/// A chart and the file stem it is written under (`<stem>.svg`).
public struct NamedChart {
    public var stem: String
    public var chart: LineChart
    public init(stem: String, chart: LineChart) { self.stem = stem; self.chart = chart }
}

/// The reference's `plot_loss_and_acc` (docs/reference-semantics.md, note 'Metrics'), per run kind.
///
/// Pretraining (one metrics row per step): `loss` - the InfoNCE loss per step (thin, faint) and its mean over
/// each epoch (dots at the epoch's last step); `contrastive_accuracy` - contrastive top-1 and top-5 (the
/// positive's rank among the 2B - 1 candidates) the same way, in percent; `knn_top1` - the kNN monitor's
/// top-1 at the steps it ran (when metrics.csv has any). The x axis is in epochs (step / steps per epoch).
/// Runs of more than 2000 steps are plotted as means of consecutive buckets of steps.
///
/// Epoch runs (supervised, fine-tuning, linear probe; one row per epoch): `loss` - train_loss and
/// test_loss; `accuracy` - train_top1, test_top1 and test_top5 in percent. Missing columns are left out.
public enum RunCharts {
    public static func charts(for run: RunRecord) -> [NamedChart] {
        guard let metrics = run.metrics else { return [] }
        switch run.kind {
        case .pretrain: return pretrain(metrics, stepsPerEpoch: run.stepsPerEpoch, name: run.name)
        case .epochs: return epochs(metrics, name: run.name)
        case .resultsOnly, .unknown: return []
        }
    }

    static func pretrain(_ metrics: MetricsTable, stepsPerEpoch: Double?, name: String) -> [NamedChart] {
        let curves = PretrainCurves(metrics: metrics, stepsPerEpoch: stepsPerEpoch)
        /// Per-step (faint) and per-epoch-mean (dots) series of one column, scaled.
        func pair(_ column: String, _ label: String, color: String, scale: Double = 1) -> [LineChart.Series] {
            guard metrics.has(column) else { return [] }
            let steps = curves.perStep(column)
            let means = curves.epochMeans(column)
            return [LineChart.Series(name: "\(label) (per step)", x: steps.x, y: steps.y.map { $0 * scale },
                                     color: color, lineWidth: 1, opacity: 0.35),
                    LineChart.Series(name: "\(label) (epoch mean)", x: means.map(\.x), y: means.map { $0.value * scale },
                                     color: color, lineWidth: 2, markers: true)]
        }
        var result = [NamedChart(stem: "loss", chart: LineChart(
            title: "\(name): contrastive loss", xLabel: "epoch", yLabel: "InfoNCE loss",
            series: pair("loss", "loss", color: Palette.color(0))))]
        result.append(NamedChart(stem: "contrastive_accuracy", chart: LineChart(
            title: "\(name): contrastive accuracy", xLabel: "epoch", yLabel: "accuracy (%)",
            series: pair("acc_top1", "top-1", color: Palette.color(0), scale: 100)
                + pair("acc_top5", "top-5", color: Palette.color(1), scale: 100))))
        if let knn = metrics.column("knn_top1") {
            let present = knn.indices.filter { knn[$0].isFinite }
            if !present.isEmpty {
                result.append(NamedChart(stem: "knn_top1", chart: LineChart(
                    title: "\(name): kNN top-1 on frozen features", xLabel: "epoch", yLabel: "accuracy (%)",
                    series: [LineChart.Series(name: "kNN top-1", x: present.map { curves.x[$0] },
                                              y: present.map { knn[$0] * 100 }, color: Palette.color(2),
                                              markers: true)])))
            }
        }
        return result
    }

    static func epochs(_ metrics: MetricsTable, name: String) -> [NamedChart] {
        let epoch = metrics.column("epoch") ?? []
        func series(_ column: String, _ label: String, _ colorIndex: Int, scale: Double = 1, dash: String? = nil) -> [LineChart.Series] {
            guard let values = metrics.column(column), values.contains(where: \.isFinite) else { return [] }
            return [LineChart.Series(name: label, x: epoch, y: values.map { $0 * scale }, color: Palette.color(colorIndex),
                                     dash: dash, markers: epoch.count <= 30)]
        }
        return [
            NamedChart(stem: "loss", chart: LineChart(
                title: "\(name): loss", xLabel: "epoch", yLabel: "cross-entropy",
                series: series("train_loss", "train loss", 0) + series("test_loss", "test loss", 1))),
            NamedChart(stem: "accuracy", chart: LineChart(
                title: "\(name): accuracy", xLabel: "epoch", yLabel: "accuracy (%)",
                series: series("train_top1", "train top-1", 0, scale: 100) + series("test_top1", "test top-1", 1, scale: 100)
                    + series("test_top5", "test top-5", 2, scale: 100, dash: "6,4"))),
        ]
    }

    /// Charts comparing runs of the same kind: the per-epoch mean pretraining loss of every pretraining run,
    /// and the test top-1 of every epoch run. Empty unless at least two runs have the data.
    public static func comparison(_ runs: [RunRecord]) -> [NamedChart] {
        var result: [NamedChart] = []
        let pretrain = runs.filter { $0.kind == .pretrain }.enumerated().map { i, run in
            let means = PretrainCurves(metrics: run.metrics!, stepsPerEpoch: run.stepsPerEpoch).epochMeans("loss")
            return LineChart.Series(name: run.name, x: means.map(\.x), y: means.map(\.value), color: Palette.color(i),
                                    markers: means.count <= 30)
        }
        if pretrain.count >= 2 {
            result.append(NamedChart(stem: "compare_pretrain_loss", chart: LineChart(
                title: "Pretraining loss (epoch means)", xLabel: "epoch", yLabel: "InfoNCE loss", series: pretrain)))
        }
        let tested = runs.filter { $0.kind == .epochs && $0.metrics!.has("test_top1") }.enumerated().map { i, run in
            LineChart.Series(name: run.name, x: run.metrics!.column("epoch")!, y: run.metrics!.column("test_top1")!.map { $0 * 100 },
                             color: Palette.color(i), markers: run.metrics!.rows.count <= 30)
        }
        if tested.count >= 2 {
            result.append(NamedChart(stem: "compare_test_top1", chart: LineChart(
                title: "Test top-1 per epoch", xLabel: "epoch", yLabel: "accuracy (%)", series: tested)))
        }
        return result
    }
}
