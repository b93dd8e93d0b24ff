import Datasets
import Kernels

/// Class-balanced label-fraction subsets (the 1% / 10% / 100% label regimes of the SimCLR paper).
public enum LabelFraction {
    /// Indices of a class-balanced subset of `labels`: per class, `round(fraction * classCount)` images
    /// (at least one for every class present), chosen by a shuffle seeded by (`seed`, class) so the choice
    /// of one class does not depend on the others. Returned sorted ascending. `fraction` 1.0 gives every index.
    /// Labels below zero (unlabeled images) are never selected.
    public static func balancedSubset(labels: [Int], fraction: Double, seed: UInt64) -> [Int] {
        precondition(fraction > 0 && fraction <= 1, "label fraction \(fraction) must lie in (0, 1]")
        if fraction == 1 { return labels.indices.filter { labels[$0] >= 0 } }
        var byClass: [Int: [Int]] = [:]
        for (i, label) in labels.enumerated() where label >= 0 { byClass[label, default: []].append(i) }
        var chosen: [Int] = []
        for label in byClass.keys.sorted() {
            let members = byClass[label]!
            let take = min(members.count, max(1, Int((fraction * Double(members.count)).rounded())))
            var stream = RandomStream(.labelFraction, seed: seed, key: label)
            let order = stream.permutation(members.count)
            chosen.append(contentsOf: order.prefix(take).map { members[$0] })
        }
        return chosen.sorted()
    }

    /// Per-class counts of `labels` at `indices` (classes 0..<classCount).
    public static func classCounts(labels: [Int], indices: [Int], classCount: Int) -> [Int] {
        var counts = [Int](repeating: 0, count: classCount)
        for i in indices where labels[i] >= 0 && labels[i] < classCount { counts[labels[i]] += 1 }
        return counts
    }

}
