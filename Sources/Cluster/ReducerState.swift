import Foundation
import Kernels

/// What the compute thread and the communication thread of a `GradientBucketReducer` share.
/// Every mutable field is guarded by `condition`'s lock. Arrays are sized once and updated in place.
final class ReducerState: @unchecked Sendable {
    let communicator: any ProcessGroup
    private let gradients: Tensor          // kept alive: `base` points into it
    private let base: UnsafeMutablePointer<Float>
    private let spans: [Range<Int>]        // bucket k's elements, k = launch order
    private let divisor: Float?

    private let condition = NSCondition()
    private var readyCount: [Int]
    private var complete: [Bool]
    private var reduced = 0                // buckets 0..<reduced are done this step
    private var threadActive = false       // the thread is working through a step
    private var shutdown = false
    private var communicationSeconds = 0.0
    private var failure: Error?
    private var thread: Thread?
    private let exited = DispatchSemaphore(value: 0)

    init(communicator: any ProcessGroup, gradients: Tensor, spans: [Range<Int>], average: Bool) {
        self.communicator = communicator
        self.gradients = gradients
        // The tensor owns stable memory for its lifetime, which `gradients` extends; the pointer stays valid.
        self.base = gradients.withUnsafeMutableBufferPointer { $0.baseAddress! }
        self.spans = spans
        self.divisor = average && communicator.size > 1 ? Float(communicator.size) : nil
        readyCount = [Int](repeating: 0, count: spans.count)
        complete = [Bool](repeating: false, count: spans.count)
    }

    // MARK: compute thread

    func begin(runThread: Bool) {
        condition.lock()
        for k in spans.indices { readyCount[k] = 0; complete[k] = false }
        reduced = 0
        communicationSeconds = 0
        failure = nil
        if runThread && !spans.isEmpty { threadActive = true; condition.broadcast() }
        condition.unlock()
    }

    func markReady(_ range: Range<Int>) {
        condition.lock()
        var newlyComplete = false
        for k in spans.indices {
            let lo = max(spans[k].lowerBound, range.lowerBound), hi = min(spans[k].upperBound, range.upperBound)
            guard lo < hi else { continue }
            readyCount[k] += hi - lo
            precondition(readyCount[k] <= spans[k].count, "gradients of \(range) reported ready twice in one step")
            if readyCount[k] == spans[k].count { complete[k] = true; newlyComplete = true }
        }
        if newlyComplete { condition.broadcast() }
        condition.unlock()
    }

    func finishOverlapped() throws -> GradientReductionTiming {
        condition.lock()
        var late = 0
        for k in spans.indices where !complete[k] { complete[k] = true; late += 1 }
        condition.broadcast()
        let start = monotonicSeconds()
        while reduced < spans.count { condition.wait() }
        let blocked = monotonicSeconds() - start
        let timing = GradientReductionTiming(blockedSeconds: blocked, communicationSeconds: communicationSeconds,
                                             bucketCount: spans.count, lateBuckets: late)
        let error = failure
        condition.unlock()
        if let error { throw error }
        return timing
    }

    func reduceAllNow() throws -> GradientReductionTiming {
        let start = monotonicSeconds()
        for k in spans.indices { try reduce(bucket: k) }
        let elapsed = monotonicSeconds() - start
        return GradientReductionTiming(blockedSeconds: elapsed, communicationSeconds: elapsed,
                                       bucketCount: spans.count, lateBuckets: spans.count)
    }

    // MARK: communication thread

    func startThread() {
        let thread = Thread { [self] in run() }
        thread.name = "gradient-allreduce"
        self.thread = thread
        thread.start()
    }

    func stopThread() {
        guard thread != nil else { return }
        condition.lock()
        shutdown = true
        condition.broadcast()
        condition.unlock()
        exited.wait()
        thread = nil
    }

    private func run() {
        condition.lock()
        while true {
            while !threadActive && !shutdown { condition.wait() }
            if shutdown { break }
            for k in spans.indices {
                while !complete[k] && !shutdown { condition.wait() }
                if shutdown { break }
                condition.unlock()
                let start = monotonicSeconds()
                var error: Error?
                do { try reduce(bucket: k) } catch let e { error = e }
                let elapsed = monotonicSeconds() - start
                condition.lock()
                communicationSeconds += elapsed
                // After an error the remaining buckets are not issued: their collectives would pair with
                // other calls on the ranks that saw no error (or hang); finishStep reports the first error.
                if let error { failure = error }
                reduced = error == nil ? k + 1 : spans.count
                if reduced == spans.count { threadActive = false }
                condition.broadcast()
                if error != nil { break }
            }
        }
        condition.unlock()
        exited.signal()
    }

    /// Sums bucket k over all ranks in place, then divides by the world size when averaging.
    private func reduce(bucket k: Int) throws {
        let span = spans[k]
        try communicator.allReduce(base + span.lowerBound, count: span.count, kind: .float, op: .sum)
        if let divisor {
            let p = base + span.lowerBound
            for i in 0..<span.count { p[i] /= divisor }
        }
    }
}
