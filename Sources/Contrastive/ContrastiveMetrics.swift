/// Retrieval metrics of the positive among the 2B-1 candidates of each anchor, as the reference notebook
/// logs them. Fields are plain sums so that ranks with disjoint anchor sets can add (all-reduce) them.
///
/// The rank of the positive is 1 + the number of other candidates whose similarity is >= the positive's.
/// The notebook's argsort leaves the order of exact ties unspecified; we count ties against the positive,
/// so a collapsed encoder (all similarities equal) shows the worst rank instead of perfect accuracy.
public struct ContrastiveMetrics: Sendable, Equatable {
    /// Number of anchor rows the sums are over.
    public var anchors: Int
    /// Anchors whose positive ranks first.
    public var top1Hits: Int
    /// Anchors whose positive ranks within the first five.
    public var top5Hits: Int
    /// Sum over anchors of the positive's rank (1 = best).
    public var rankSum: Int

    public init(anchors: Int = 0, top1Hits: Int = 0, top5Hits: Int = 0, rankSum: Int = 0) {
        self.anchors = anchors
        self.top1Hits = top1Hits
        self.top5Hits = top5Hits
        self.rankSum = rankSum
    }

    public var top1Accuracy: Double { anchors == 0 ? 0 : Double(top1Hits) / Double(anchors) }
    public var top5Accuracy: Double { anchors == 0 ? 0 : Double(top5Hits) / Double(anchors) }
    public var meanRank: Double { anchors == 0 ? 0 : Double(rankSum) / Double(anchors) }

    /// Combines metrics of disjoint anchor sets.
    public static func + (a: ContrastiveMetrics, b: ContrastiveMetrics) -> ContrastiveMetrics {
        ContrastiveMetrics(anchors: a.anchors + b.anchors, top1Hits: a.top1Hits + b.top1Hits,
                           top5Hits: a.top5Hits + b.top5Hits, rankSum: a.rankSum + b.rankSum)
    }

    public static func += (a: inout ContrastiveMetrics, b: ContrastiveMetrics) { a = a + b }
}

/// What one InfoNCE evaluation returns.
public struct InfoNCEResult: Sendable, Equatable {
    /// Sum of the anchors' loss terms divided by the normalization count: summed over processes whose
    /// anchor sets partition all rows, this is the single-process mean loss.
    public var loss: Double
    public var metrics: ContrastiveMetrics

    public init(loss: Double, metrics: ContrastiveMetrics) {
        self.loss = loss
        self.metrics = metrics
    }
}
