import CKernels

/// How many threads our own kernels (batch norm, element-wise loops) and oneDNN's convolutions split work
/// across. Both run on one OpenMP team (see `sk_parallel_chunks`), and so do matrix products (OpenBLAS
/// single-threaded, products split over the team: Note [One team of threads] at `sgemm`).
public enum Parallel {
    nonisolated(unsafe) public static var threadCount: Int = 1 {
        didSet { sk_set_threads(Int32(max(1, threadCount))) }
    }

    /// The cores this process may run on (its CPU affinity mask, sched_getaffinity), which is what the
    /// default thread count follows: a rank that mpirun, Slurm or taskset bound to one core gets 1, not the
    /// machine's count (two threads on one bound core run slower than one).
    public static var availableCores: Int { Int(sk_affinity_cpu_count()) }

    /// Runs `body(chunk)` for every chunk in `0..<chunks` on up to `threadCount` threads.
    private static func run(chunks: Int, _ body: (Int) -> Void) {
        if chunks <= 1 || threadCount <= 1 {
            for c in 0..<chunks { body(c) }
            return
        }
        withoutActuallyEscaping(body) { body in
            var task = body
            withUnsafeMutablePointer(to: &task) { pointer in
                sk_parallel_chunks(Int32(chunks), Int32(threadCount), { context, chunk in
                    context!.assumingMemoryBound(to: ((Int) -> Void).self).pointee(Int(chunk))
                }, pointer)
            }
        }
    }

    /// Runs `body(i)` for every i in `0..<count`, spread over `threadCount` threads.
    /// Small loops (below `minimumPerThread` items per thread) run inline to avoid dispatch overhead.
    public static func forEach(_ count: Int, minimumPerThread: Int = 1, _ body: (Int) -> Void) {
        let threads = min(threadCount, count / max(minimumPerThread, 1))
        if threads <= 1 {
            for i in 0..<count { body(i) }
            return
        }
        run(chunks: threads) { t in
            for i in (count * t / threads)..<(count * (t + 1) / threads) { body(i) }
        }
    }

    /// Splits `0..<count` into one contiguous range per thread; for element-wise loops.
    public static func forRanges(_ count: Int, grain: Int = 1 << 15, _ body: (Range<Int>) -> Void) {
        forThreads(count, grain: grain) { _, range in body(range) }
    }

    /// Like `forRanges`, also passing the range's index in `0..<threads(count, grain)` (for per-thread partials).
    public static func forThreads(_ count: Int, grain: Int = 1 << 15, _ body: (_ thread: Int, Range<Int>) -> Void) {
        let threads = self.threads(count, grain: grain)
        run(chunks: threads) { t in body(t, (count * t / threads)..<(count * (t + 1) / threads)) }
    }

    /// Whether work started here may spread over the team: on the main thread, outside a parallel region
    /// (another thread would start a second team beside the first, oversubscribing the cores).
    public static var mayStartTeam: Bool { sk_parallel_may_start_team() != 0 }

    /// Threads `forThreads` uses for `count` items of at least `grain` each.
    public static func threads(_ count: Int, grain: Int) -> Int { max(1, min(threadCount, count / max(grain, 1))) }
}
