import Foundation
import RunFiles

/// The one-line summary of a run shown in report tables, from its results.json (and, when given, config.json
/// and metrics.csv for what results.json lacks). Numbers are nil when unknown.
public struct RunSummary {
    public var name: String
    /// results.json `method` (linear-eval, knn, supervised, finetune, ...); "simclr" for a pretraining run.
    public var method: String
    /// The encoder file (last two path components) or "random init", with the architecture when known.
    public var encoder: String
    public var labelFraction: Double?
    /// Test accuracies as fractions. For a pretraining run, `testTop1` is its last kNN monitor value
    /// (`top1IsKNN`).
    public var testTop1: Double?
    public var testTop5: Double?
    public var top1IsKNN = false
    /// results.json `train_loss`, else the last epoch's training loss (a pretraining run: the mean loss
    /// of the steps of its last epoch).
    public var finalLoss: Double?
    /// Epochs trained (fractional for a pretraining run that stopped inside an epoch).
    public var epochs: Double?
    /// The median of metrics.csv's `img_per_s`, else results.json `img_per_s`.
    public var imagesPerSecond: Double?

    public init(name: String, results: RunResults, config: [String: Any]? = nil, metrics: MetricsTable? = nil) {
        self.name = name
        let kind = RunKind(metrics: metrics)
        let settings = config?["settings"] as? [String: Any]
        let isPretrain = kind == .pretrain || (results.method == nil && settings != nil)
        method = results.method ?? config?["method"] as? String ?? (isPretrain ? "simclr" : "-")

        let model = settings?["model"] as? [String: Any]
        let width = results.width ?? number(config?["width"]) ?? number(model?["width"])
        let stem = results.stem ?? config?["stem"] as? String ?? model?["stem"] as? String
        var architecture = "ResNet-18"
        if let width, width != 1 { architecture += " x\(RunSummary.trimmed(width))" }
        if let stem, stem != "cifar" { architecture += " \(stem) stem" }
        if width == nil && stem == nil { architecture = "" }
        var source = results.encoder ?? config?["encoder"] as? String
        if results.randomInit == true || source == "random-init" { source = "random init" }
        if let s = source, s.contains("/") {
            source = URL(fileURLWithPath: s).pathComponents.suffix(2).joined(separator: "/")
        }
        switch (source, architecture.isEmpty) {
        case let (s?, false): encoder = "\(s) (\(architecture))"
        case let (s?, true): encoder = s
        case (nil, false): encoder = architecture
        case (nil, true): encoder = "-"
        }

        labelFraction = results.labelFraction ?? number(config?["label_fraction"])
        testTop1 = results.testTop1 ?? metrics?.last("test_top1")
        testTop5 = results.testTop5 ?? metrics?.last("test_top5")
        if testTop1 == nil, let knn = results.knnTop1 ?? metrics?.last("knn_top1") {
            testTop1 = knn
            top1IsKNN = true
        }
        if results.testEvaluation == "knn" { top1IsKNN = true }  // a pretraining run's kNN monitor

        if let loss = results.trainLoss {
            finalLoss = loss
        } else if kind == .pretrain, let m = metrics {
            finalLoss = PretrainCurves(metrics: m, stepsPerEpoch: nil).epochMeans("loss").last?.value
        } else {
            finalLoss = metrics?.last("train_loss") ?? metrics?.last("loss")
        }

        if kind == .pretrain, let m = metrics, let step = m.last("step") {
            epochs = PretrainCurves.stepsPerEpoch(config: config, metrics: m).map { step / $0 }
        } else if let last = metrics?.last("epoch") {
            epochs = last
        } else {
            epochs = results.epochs.map(Double.init) ?? number(settings?["epochs"])
        }
        imagesPerSecond = metrics?.column("img_per_s").flatMap(median) ?? results.imagesPerSecond
    }

    /// `v` without trailing zeros (0.25, 1, 0.125).
    static func trimmed(_ v: Double) -> String {
        v == v.rounded() && abs(v) < 1e15 ? String(Int(v)) : String(format: "%g", v)
    }
}

/// A JSON `true` / `false` as a Bool; nil for anything else, numbers included (JSONSerialization returns both
/// as NSNumber; booleans are its Boolean subclass on Linux and macOS alike).
func jsonBool(_ value: Any?) -> Bool? {
    guard let n = value as? NSNumber, String(describing: type(of: n)).contains("Boolean") else { return nil }
    return n.boolValue
}

/// A JSON number (or numeric string) as a Double; nil for booleans.
func number(_ value: Any?) -> Double? {
    if jsonBool(value) != nil { return nil }
    switch value {
    case let n as NSNumber: return n.doubleValue
    case let d as Double: return d
    case let i as Int: return Double(i)
    case let s as String: return Double(s)
    default: return nil
    }
}

/// Per-step pretraining metrics arranged for plotting: the x coordinate of each step in (fractional) epochs
/// (step / steps per epoch), and per-epoch means of any column placed at the epoch's last step.
public struct PretrainCurves {
    public let metrics: MetricsTable
    public let stepsPerEpoch: Double
    /// Each row's x coordinate: step / stepsPerEpoch (the row number when there is no step column).
    public let x: [Double]

    public init(metrics: MetricsTable, stepsPerEpoch: Double?) {
        self.metrics = metrics
        let spe = stepsPerEpoch ?? PretrainCurves.inferredStepsPerEpoch(metrics) ?? 1
        self.stepsPerEpoch = spe
        let steps = metrics.column("step") ?? metrics.rows.indices.map { Double($0 + 1) }
        x = steps.map { $0 / spe }
    }

    /// config.json's `steps_per_epoch`, else the most rows any epoch of metrics.csv has.
    public static func stepsPerEpoch(config: [String: Any]?, metrics: MetricsTable?) -> Double? {
        if let s = number(config?["steps_per_epoch"]), s > 0 { return s }
        return metrics.flatMap(inferredStepsPerEpoch)
    }

    /// The most rows any value of the epoch column has (a complete epoch's step count).
    public static func inferredStepsPerEpoch(_ metrics: MetricsTable) -> Double? {
        guard let epochs = metrics.column("epoch") else { return nil }
        var counts: [Double: Int] = [:]
        for e in epochs where e.isFinite { counts[e, default: 0] += 1 }
        return counts.values.max().map(Double.init)
    }

    /// The mean of `column`'s finite values over each epoch (rows grouped by the epoch column, in order of
    /// appearance), at x = the epoch's last step / steps per epoch.
    public func epochMeans(_ column: String) -> [(x: Double, value: Double)] {
        guard let values = metrics.column(column) else { return [] }
        let epochs = metrics.column("epoch") ?? x.map { ($0 - 1e-9).rounded(.down) }
        var result: [(x: Double, value: Double)] = []
        var current = Double.nan, sum = 0.0, count = 0, lastX = 0.0
        func flush() {
            if count > 0 { result.append((lastX, sum / Double(count))) }
            sum = 0; count = 0
        }
        for i in values.indices {
            if epochs[i] != current { flush(); current = epochs[i] }
            if values[i].isFinite { sum += values[i]; count += 1 }
            lastX = x[i]
        }
        flush()
        return result
    }

    /// `column` per step; with more than `maxPoints` rows, means of consecutive buckets of rows (at the
    /// bucket's mean x) so the plot stays small.
    public func perStep(_ column: String, maxPoints: Int = 2000) -> (x: [Double], y: [Double]) {
        guard let values = metrics.column(column) else { return ([], []) }
        let bucket = max(1, (values.count + maxPoints - 1) / maxPoints)
        if bucket == 1 { return (x, values) }
        var xs: [Double] = [], ys: [Double] = []
        for start in stride(from: 0, to: values.count, by: bucket) {
            let range = start..<min(start + bucket, values.count)
            let finite = range.filter { values[$0].isFinite }
            xs.append(range.map { x[$0] }.reduce(0, +) / Double(range.count))
            ys.append(finite.isEmpty ? .nan : finite.map { values[$0] }.reduce(0, +) / Double(finite.count))
        }
        return (xs, ys)
    }
}
