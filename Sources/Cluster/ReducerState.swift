import Foundation
import Kernels
import Tracing

/// What the compute thread and the communication thread of a `GradientBucketReducer` share.
/// Every mutable field is guarded by `condition`'s lock. Arrays are sized once and updated in place.
final class ReducerState: @unchecked Sendable {
    let communicator: any ProcessGroup
    private let gradients: Tensor          // kept alive: `base` points into it
    private let base: UnsafeMutablePointer<Float>
    private let spans: [Range<Int>]        // bucket k's elements, k = launch order
    private let divisor: Float?
    let codec: GradientCodec
    /// The overlap thread's chunked transport, or the synchronous one (nil: that one is `direct`).
    let pipelined: PipelinedTransport?
    private let direct: DirectTransport
    /// The communicator when it records a trace: each bucket's reduction becomes a span `bucket <k>` on its row.
    private let traced: TracedGroup?

    private let condition = NSCondition()
    private var readyCount: [Int]
    private var complete: [Bool]
    private var reduced = 0                // buckets 0..<reduced are done this step
    private var threadActive = false       // the thread is working through a step
    private var shutdown = false
    private var communicationSeconds = 0.0
    private var communicationCPUSeconds = 0.0
    private(set) var records: [BucketRecord]
    private var stepStart = 0.0
    private var failure: Error?
    private var thread: Thread?
    private let exited = DispatchSemaphore(value: 0)
    /// The communication thread's CPU clock, set when it starts (read from other threads).
    private var threadClock: clockid_t?
    /// The communication thread's kernel id (for reading its CPUs), set when it starts.
    private var threadID: Int32?
    /// Why the thread could not be bound to its CPU (set before `started` is signalled).
    private var bindingFailure: String?
    private let started = DispatchSemaphore(value: 0)

    init(communicator: any ProcessGroup, gradients: Tensor, spans: [Range<Int>], average: Bool,
         codec: GradientCodec, pipelined: PipelinedTransport?) {
        self.communicator = communicator
        self.gradients = gradients
        // The tensor owns stable memory for its lifetime, which `gradients` extends; the pointer stays valid.
        self.base = gradients.withUnsafeMutableBufferPointer { $0.baseAddress! }
        self.spans = spans
        self.divisor = average && communicator.size > 1 ? Float(communicator.size) : nil
        self.codec = codec
        self.pipelined = pipelined
        direct = DirectTransport(group: communicator)
        traced = communicator as? TracedGroup
        readyCount = [Int](repeating: 0, count: spans.count)
        complete = [Bool](repeating: false, count: spans.count)
        records = spans.indices.map { BucketRecord(index: $0, elements: spans[$0].count) }
    }

    // MARK: compute thread

    func begin(runThread: Bool, step: Int) {
        condition.lock()
        for k in spans.indices { readyCount[k] = 0; complete[k] = false; records[k].reset() }
        reduced = 0
        communicationSeconds = 0
        communicationCPUSeconds = 0
        failure = nil
        stepStart = monotonicSeconds()
        codec.beginStep(step)
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
            if readyCount[k] == spans[k].count {
                complete[k] = true; newlyComplete = true
                records[k].readySeconds = monotonicSeconds() - stepStart
            }
        }
        if newlyComplete { condition.broadcast() }
        condition.unlock()
    }

    func finishOverlapped() throws -> GradientReductionTiming {
        condition.lock()
        var late = 0
        let now = monotonicSeconds() - stepStart
        for k in spans.indices where !complete[k] { complete[k] = true; records[k].readySeconds = now; late += 1 }
        condition.broadcast()
        let start = monotonicSeconds()
        while reduced < spans.count { condition.wait() }
        let blocked = monotonicSeconds() - start
        var timing = GradientReductionTiming(blockedSeconds: blocked, communicationSeconds: communicationSeconds,
                                             bucketCount: spans.count, lateBuckets: late)
        timing.communicationCPUSeconds = communicationCPUSeconds
        timing.payloadBytes = records.reduce(0) { $0 + $1.payloadBytes }
        let error = failure
        condition.unlock()
        if let error { throw error }
        return timing
    }

    /// Without overlap: every bucket now, on the calling thread, one blocking collective per transfer.
    func reduceAllNow() throws -> GradientReductionTiming {
        let start = monotonicSeconds()
        for k in spans.indices {
            records[k].readySeconds = start - stepStart
            records[k].record(try reduce(bucket: k, transport: direct))
        }
        let elapsed = monotonicSeconds() - start
        var timing = GradientReductionTiming(blockedSeconds: elapsed, communicationSeconds: elapsed,
                                             bucketCount: spans.count, lateBuckets: spans.count)
        timing.payloadBytes = records.reduce(0) { $0 + $1.payloadBytes }
        return timing
    }

    // MARK: communication thread

    /// Starts the communication thread, bound to `cpu` when given; returns why it could not be bound (the thread
    /// then runs where it was started, and the caller decides).
    func startThread(cpu: Int?) -> String? {
        let thread = Thread { [self] in
            var clock = clockid_t()
            if pthread_getcpuclockid(pthread_self(), &clock) == 0 { threadClock = clock }
            threadID = ThreadPlacement.currentThreadID
            ThreadPlacement.nameCurrentThread("grad-allreduce")   // Foundation does not name it for the OS
            if let cpu { bindingFailure = ThreadPlacement.bindCurrentThread(toCPU: cpu) }
            started.signal()
            run()
        }
        thread.name = "gradient-allreduce"
        self.thread = thread
        thread.start()
        started.wait()
        return bindingFailure
    }

    /// The CPUs the communication thread may run on (nil without the thread).
    func communicationThreadCPUs() -> [Int]? { threadID.flatMap { ThreadPlacement.cpus(ofThread: $0) } }

    /// CPU seconds the communication thread has used since it started (nil without the thread).
    func communicationThreadCPUSeconds() -> Double? {
        guard let threadClock else { return nil }
        var ts = timespec()
        guard clock_gettime(threadClock, &ts) == 0 else { return nil }
        return Double(ts.tv_sec) + Double(ts.tv_nsec) * 1e-9
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
        let transport = pipelined!
        condition.lock()
        while true {
            while !threadActive && !shutdown { condition.wait() }
            if shutdown { break }
            for k in spans.indices {
                while !complete[k] && !shutdown { condition.wait() }
                if shutdown { break }
                condition.unlock()
                let start = monotonicSeconds(), cpu = threadCPUSeconds()
                var error: Error?, record: BucketRecord.Transfer?
                do {
                    record = try reduce(bucket: k, transport: transport)
                    // The chunk size of the next step, agreed by all ranks after their last bucket.
                    if k == spans.count - 1 { try transport.agreeOnChunkSize() }
                } catch let e { error = e }
                let elapsed = monotonicSeconds() - start, cpuElapsed = threadCPUSeconds() - cpu
                condition.lock()
                communicationSeconds += elapsed
                communicationCPUSeconds += cpuElapsed
                if let record { records[k].record(record) }
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

    /// Sums bucket k over all ranks in place (through the codec), then divides by the world size when
    /// averaging; returns when it started and ended and the bytes it gave to collectives.
    private func reduce(bucket k: Int, transport: GradientTransport) throws -> BucketRecord.Transfer {
        let span = spans[k]
        let before = transport.payloadBytes
        let start = monotonicSeconds(), traceStart = traced != nil ? traceClock() : 0
        try codec.reduce(bucket: k, span: span, gradients: base, transport: transport)
        if let divisor {
            let p = base + span.lowerBound
            for i in 0..<span.count { p[i] /= divisor }
        }
        traced?.recordSpan(StepSpans.bucketPrefix + String(k), from: traceStart, to: traceClock(),
                           argument: Int64(transport.payloadBytes - before))
        return BucketRecord.Transfer(startSeconds: start - stepStart, endSeconds: monotonicSeconds() - stepStart,
                                     payloadBytes: transport.payloadBytes - before)
    }
}
