import Cluster
import Foundation
import Kernels
import NeuralNet
import Training
import XCTest

/// Gradient readiness is reported by the layers themselves (each parameter when its gradient is final), and
/// the bucket reducer starts each bucket's all-reduce from those reports while backward goes on. Checked on
/// the real full-width ResNet-18 with the projection head, split into several buckets.
final class GradientReadinessTests: XCTestCase {
    /// A stand-in for two ranks that records every all-reduce the gradient reducer makes: which span of the
    /// gradient buffer, and a copy of its values at that moment. Sums over "both ranks" are the values
    /// themselves, so after the step the buffer holds exactly what backward wrote.
    final class RecordingGroup: ProcessGroup, @unchecked Sendable {
        let rank = 0, size = 2, worldRank = 0
        private let lock = NSLock()
        private var base: UnsafeMutableRawPointer?
        private(set) var reductions: [(span: Range<Int>, values: [Float])] = []

        func watch(_ gradients: Tensor) {
            base = UnsafeMutableRawPointer(gradients.address)
        }

        func allReduce(_ values: UnsafeMutableRawPointer, count: Int, kind: MPIElementKind, op: ReductionOp) throws {
            guard kind == .float, let base else { return }
            let start = (values - base) / MemoryLayout<Float>.stride
            let copy = Array(UnsafeBufferPointer(start: values.assumingMemoryBound(to: Float.self), count: count))
            lock.lock(); reductions.append((start..<(start + count), copy)); lock.unlock()
        }

        func reset() { lock.lock(); reductions = []; lock.unlock() }
        func broadcast(_ values: UnsafeMutableRawPointer, count: Int, kind: MPIElementKind, root: Int) throws {}
        func allGather(_ send: UnsafeRawPointer?, count: Int, kind: MPIElementKind, into receive: UnsafeMutableRawPointer?) throws {
            XCTFail("no gather in this test")
        }
        func allGatherV(_ send: UnsafeRawPointer?, counts: [Int], kind: MPIElementKind, into receive: UnsafeMutableRawPointer?) throws {
            XCTFail("no gather in this test")
        }
        func duplicateGroup() throws -> any ProcessGroup { self }
        func free() throws {}
        func abort(message: String, code: Int32) -> Never { fatalError(message) }
    }

    override func setUp() {
        Parallel.threadCount = 2
        BLAS.setThreads(1)
    }

    func testEveryBucketOfTheFullResNet18IsReducedOnceInOrderDuringBackward() throws {
        let model = ResNet(config: ResNetConfig(stem: .cifar, width: 1, headDims: [512, 256]), seed: 1)
        let group = RecordingGroup()
        group.watch(model.flatGradients)
        // 4 MiB buckets (1 MiB first) cut the 46 MB of gradients into a dozen buckets.
        var settings = DataParallelSettings()
        (settings.syncBatchNorm, settings.bucketBytes, settings.overlap) = (false, 4 << 20, true)
        let dp = try DataParallel(communicator: group, model: model, settings: settings)
        defer { try? dp.reducer.close() }
        let buckets = dp.reducer.buckets
        XCTAssertGreaterThanOrEqual(buckets.count, 8)
        XCTAssertEqual(buckets.map(\.elements.count).reduce(0, +), model.flatGradients.count, "buckets cover every gradient")

        var rng = SplitMix64(seed: 3)
        let images = Tensor(shape: [2, 3, 16, 16], values: (0..<(2 * 3 * 16 * 16)).map { _ in Float(rng.nextUnit()) })
        let gradOutput = Tensor(shape: [2, 256], values: (0..<512).map { _ in Float(rng.nextUnit() - 0.5) })
        for step in 0..<2 {
            group.reset()
            // A bucket all-reduced before backward wrote all of it would carry these NaNs.
            model.flatGradients.fill(.nan)
            dp.beginStep()
            model.forward(images)
            model.backward(gradOutput)
            let timing = try dp.finishGradients()

            XCTAssertEqual(timing.lateBuckets, 0, "step \(step): every bucket was reported ready during backward")
            XCTAssertEqual(timing.bucketCount, buckets.count)
            // The communication thread sends a bucket as consecutive chunks; together they are the bucket.
            var merged: [Range<Int>] = []
            for span in group.reductions.map(\.span) {
                if let last = merged.last, last.upperBound == span.lowerBound {
                    merged[merged.count - 1] = last.lowerBound..<span.upperBound
                } else {
                    merged.append(span)
                }
            }
            XCTAssertEqual(merged, buckets.map(\.elements), "step \(step): each bucket reduced exactly once, in bucket order")
            let final = model.flatGradients.array
            XCTAssertFalse(final.contains { $0.isNaN }, "backward wrote every gradient")
            for (k, reduction) in group.reductions.enumerated() {
                XCTAssert(reduction.values == Array(final[reduction.span]),
                          "step \(step): bucket \(k) was reduced before its gradients were final")
            }
        }
    }
}
