/// One fused all-reduce: a contiguous span of the flat gradient buffer covering whole parameters.
public struct GradientBucket: Equatable, Sendable {
    /// Launch order: bucket 0 holds the last parameters (their gradients are final first in backward).
    public let index: Int
    /// Elements of the flat gradient buffer.
    public let elements: Range<Int>
    /// Indices into the parameter list (forward order) whose gradients the bucket holds.
    public let parameters: Range<Int>
    public var bytes: Int { elements.count * MemoryLayout<Float>.stride }
}

/// Bucket assignment as PyTorch DDP does it: walk the parameters from last to first, adding each to the
/// current bucket and closing the bucket once it holds at least its byte limit (so a bucket may exceed the
/// limit by its last parameter, and a parameter larger than the limit gets a bucket of its own). The first
/// bucket uses the smaller `firstBucketBytes` so the first all-reduce starts early in backward.
/// A gap between parameter ranges also closes a bucket: every bucket is one contiguous span
/// (docs/bucket-plan.md, note 'Bucket plan').
public enum GradientBucketPlan {
    public static let defaultBucketBytes = 25 << 20      // DDP's bucket_cap_mb = 25 (MiB)
    public static let defaultFirstBucketBytes = 1 << 20  // DDP's first bucket, 1 MiB

    /// `parameterRanges`: each parameter's elements in the flat buffer, in forward order, increasing and
    /// non-overlapping (empty ranges are skipped).
    public static func buckets(parameterRanges: [Range<Int>], bucketBytes: Int = defaultBucketBytes,
                               firstBucketBytes: Int = defaultFirstBucketBytes) throws -> [GradientBucket] {
        try validate(parameterRanges)
        guard bucketBytes > 0, firstBucketBytes > 0 else {
            throw ClusterError.invalidArgument(call: "GradientBucketPlan", message: "bucket sizes must be positive",
                                               rank: Communicator.launcherRank)
        }
        var buckets: [GradientBucket] = []
        var limit = firstBucketBytes
        var open: (elements: Range<Int>, parameters: Range<Int>)?

        func close() {
            guard let current = open else { return }
            buckets.append(GradientBucket(index: buckets.count, elements: current.elements, parameters: current.parameters))
            open = nil
            limit = bucketBytes
        }

        for p in parameterRanges.indices.reversed() {
            let range = parameterRanges[p]
            if range.isEmpty { continue }
            if let current = open, current.elements.lowerBound != range.upperBound { close() }
            if let current = open {
                open = (range.lowerBound..<current.elements.upperBound, p..<current.parameters.upperBound)
            } else {
                open = (range, p..<(p + 1))
            }
            if open!.elements.count * MemoryLayout<Float>.stride >= limit { close() }
        }
        close()
        return buckets
    }

    static func validate(_ ranges: [Range<Int>]) throws {
        var end = 0
        for (i, r) in ranges.enumerated() where !r.isEmpty {
            guard r.lowerBound >= end else {
                throw ClusterError.invalidArgument(call: "GradientBucketPlan",
                    message: "parameter \(i) range \(r) starts before the previous one ends (\(end)); ranges must be increasing and disjoint",
                    rank: Communicator.launcherRank)
            }
            end = r.upperBound
        }
    }
}
