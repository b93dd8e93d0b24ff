/// The numbers every step adds up over the ranks, in one small all-reduce after the optimizer step. Each
/// rank fills in its own rows; the sums describe the global batch.
public struct StepTotals: Equatable, Sendable {
    /// This rank's share of the loss, already divided by the global count: the sum is the global loss.
    public var loss = 0.0
    /// Rows the loss covers: InfoNCE anchors, or classified images.
    public var rows = 0
    public var top1Hits = 0
    public var top5Hits = 0
    /// InfoNCE: the positive's rank summed over the anchors (1 = ranked first); 0 for classifiers.
    public var rankSum = 0
    /// Ranks that asked to stop after this step (Ctrl-C, SIGTERM, a test's halt): all ranks see the same
    /// count, so they stop together at the same step boundary.
    public var stopRequests = 0
    /// The norms of the summed gradient (before the update, measured by rank 0) and of the weights (after it,
    /// measured by the last rank): the other ranks add 0, so every rank receives the same figures (the replicas
    /// are equal) and judges divergence from the same numbers (`DivergenceCheck`).
    public var gradientNorm = 0.0, weightNorm = 0.0
    /// The norm of the BatchNorm running statistics after the step, added over the ranks (each rank's own: without
    /// SyncBN the ranks' statistics differ). The sum is not finite when any rank's statistics are not, so every
    /// rank reaches the same verdict (`DivergenceCheck`); its value means nothing else.
    public var runningStatisticsNorm = 0.0

    public init(loss: Double = 0, rows: Int = 0, top1Hits: Int = 0, top5Hits: Int = 0, rankSum: Int = 0,
                stopRequested: Bool = false) {
        self.loss = loss; self.rows = rows; self.top1Hits = top1Hits; self.top5Hits = top5Hits
        self.rankSum = rankSum; self.stopRequests = stopRequested ? 1 : 0
    }

    public var stopRequested: Bool { stopRequests > 0 }

    /// The wire format, declared once: one double per field, in this order (counts are exact in a double far
    /// beyond any batch).
    enum Field: Int, CaseIterable { case loss, rows, top1Hits, top5Hits, rankSum, stopRequests, gradientNorm, weightNorm, runningStatisticsNorm }

    subscript(field: Field) -> Double {
        get {
            switch field {
            case .loss: return loss
            case .rows: return Double(rows)
            case .top1Hits: return Double(top1Hits)
            case .top5Hits: return Double(top5Hits)
            case .rankSum: return Double(rankSum)
            case .stopRequests: return Double(stopRequests)
            case .gradientNorm: return gradientNorm
            case .weightNorm: return weightNorm
            case .runningStatisticsNorm: return runningStatisticsNorm
            }
        }
        set {
            switch field {
            case .loss: loss = newValue
            case .rows: rows = Int(newValue)
            case .top1Hits: top1Hits = Int(newValue)
            case .top5Hits: top5Hits = Int(newValue)
            case .rankSum: rankSum = Int(newValue)
            case .stopRequests: stopRequests = Int(newValue)
            case .gradientNorm: gradientNorm = newValue
            case .weightNorm: weightNorm = newValue
            case .runningStatisticsNorm: runningStatisticsNorm = newValue
            }
        }
    }

    /// Writes the fields into `values` (`Field.allCases.count` doubles) in wire order.
    func write(into values: inout [Double]) {
        for field in Field.allCases { values[field.rawValue] = self[field] }
    }

    /// Reads the fields from `values` in wire order.
    mutating func read(from values: [Double]) {
        for field in Field.allCases { self[field] = values[field.rawValue] }
    }
}
