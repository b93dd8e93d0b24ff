import Cluster

extension StepTimeline {
    /// The gradient buckets training builds for these parameters (Cluster's `GradientBucketPlan`, the same
    /// plan the reducer uses), as parameter indices in launch order.
    public func buckets(bucketBytes: Int = GradientBucketPlan.defaultBucketBytes,
                        firstBucketBytes: Int = GradientBucketPlan.defaultFirstBucketBytes) throws -> [[Int]] {
        var offset = 0
        let ranges = parameters.map { p -> Range<Int> in defer { offset += p.elements }; return offset..<(offset + p.elements) }
        return try GradientBucketPlan.buckets(parameterRanges: ranges, bucketBytes: bucketBytes, firstBucketBytes: firstBucketBytes)
            .map { Array($0.parameters) }
    }
}
