import Cluster
import Kernels
import XCTest

/// The parts of Cluster that need no MPI: bucket planning, hashes, checksums, bandwidth formulas.
final class PureFunctionTests: XCTestCase {
    func testBucketsFollowDDPReverseOrderWithSmallFirstBucket() throws {
        // Ten parameters of 1 MiB (262144 floats) each, contiguous.
        let n = 1 << 18
        let ranges = (0..<10).map { ($0 * n)..<(($0 + 1) * n) }
        let buckets = try GradientBucketPlan.buckets(parameterRanges: ranges, bucketBytes: 3 << 20, firstBucketBytes: 1 << 20)
        XCTAssertEqual(buckets.map(\.parameters), [9..<10, 6..<9, 3..<6, 0..<3])
        XCTAssertEqual(buckets.map(\.index), [0, 1, 2, 3])
        XCTAssertEqual(buckets[0].elements, (9 * n)..<(10 * n))
        XCTAssertEqual(buckets.map(\.bytes), [1 << 20, 3 << 20, 3 << 20, 3 << 20])
    }

    func testOversizedParameterGetsItsOwnBucketAndGapsSplit() throws {
        let buckets = try GradientBucketPlan.buckets(parameterRanges: [0..<10, 10..<1000, 1000..<1010, 2000..<2010],
                                                     bucketBytes: 400, firstBucketBytes: 400)
        XCTAssertEqual(buckets.map(\.elements), [2000..<2010, 10..<1010, 0..<10])
        XCTAssertThrowsError(try GradientBucketPlan.buckets(parameterRanges: [0..<10, 5..<20]))
    }

    func testFNV1aKnownValues() {
        XCTAssertEqual(ConfigurationCheck.hash(""), 0xcbf2_9ce4_8422_2325)
        XCTAssertEqual(ConfigurationCheck.hash("a"), 0xaf63_dc4c_8601_ec8c)
        XCTAssertEqual(ConfigurationCheck.canonical(["b": "2", "a": "1"]), "a=1\nb=2")
    }

    func testChecksumSeesEveryBit() {
        let a = Tensor(shape: [1000], repeating: 0.5)
        let b = Tensor(shape: [1000], repeating: 0.5)
        XCTAssertEqual(ReplicaCheck.checksum(a), ReplicaCheck.checksum(b))
        b[999] = b[999].nextUp
        XCTAssertNotEqual(ReplicaCheck.checksum(a), ReplicaCheck.checksum(b))
        b[999] = 0.5; b[0] = -0.0; a[0] = 0.0
        XCTAssertNotEqual(ReplicaCheck.checksum(a), ReplicaCheck.checksum(b), "+0 and -0 are different bits")
    }

    func testTimingHiddenFraction() {
        let t = GradientReductionTiming(blockedSeconds: 0.01, communicationSeconds: 0.04, bucketCount: 3, lateBuckets: 0)
        XCTAssertEqual(t.hiddenFraction, 0.75, accuracy: 1e-12)
    }
}
