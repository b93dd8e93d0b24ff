import CBLAS

/// The OpenBLAS entry points we use, behind Swift names.
public enum BLAS {
    /// The kernel family OpenBLAS chose at load time (e.g. "Haswell", "SkylakeX", "Prescott").
    public static var coreName: String {
        guard let name = openblas_get_corename() else { return "unknown" }
        return String(cString: name)
    }

    /// OpenBLAS's own threads. Keep this at 1 and set `Parallel.threadCount` instead: products are split over
    /// our threads (see Note [One team of threads] at `sgemm`).
    public static func setThreads(_ n: Int) { openblas_set_num_threads(Int32(n)) }
    /// m * n * k below which a product runs on one thread (OpenBLAS's own threshold, 64^3).
    static let smallestSharedProduct = 64 * 64 * 64
    public static var threads: Int { Int(openblas_get_num_threads()) }
}

/// C = alpha * op(A) * op(B) + beta * C, row-major, on raw pointers (kernel-internal).
///
/// Note [One team of threads]: OpenBLAS runs single-threaded (`BLAS.setThreads(1)`, what the CLI sets); a
/// product large enough to share is split here into one block of rows (or columns) of C per thread of our
/// OpenMP team, each a single-threaded OpenBLAS call. OpenBLAS's own worker threads, once woken, spin
/// (sched_yield) for 2^28 cycles (~80 ms here) after every call, which on two cores took a core from the
/// convolutions' team for most of a step: a width-0.0625 step ran 124 ms with them, 77 ms with them asleep.
/// Products started from another thread or from inside a parallel region run on the calling thread alone.
@inline(__always)
func sgemm(transA: Bool, transB: Bool, m: Int, n: Int, k: Int, alpha: Float = 1,
           a: UnsafePointer<Float>, lda: Int, b: UnsafePointer<Float>, ldb: Int,
           beta: Float, c: UnsafeMutablePointer<Float>, ldc: Int) {
    let parts = Parallel.threadCount
    guard parts > 1, m * n * k >= BLAS.smallestSharedProduct, max(m, n) >= 2 * parts, Parallel.mayStartTeam else {
        sgemmOnThisThread(transA: transA, transB: transB, m: m, n: n, k: k, alpha: alpha,
                          a: a, lda: lda, b: b, ldb: ldb, beta: beta, c: c, ldc: ldc)
        return
    }
    if m >= n {
        // Rows r of C are rows r of op(A): row r of A, or column r of a transposed A.
        Parallel.forEach(parts) { t in
            let r0 = m * t / parts, r1 = m * (t + 1) / parts
            sgemmOnThisThread(transA: transA, transB: transB, m: r1 - r0, n: n, k: k, alpha: alpha,
                              a: a + (transA ? r0 : r0 * lda), lda: lda, b: b, ldb: ldb,
                              beta: beta, c: c + r0 * ldc, ldc: ldc)
        }
    } else {
        // Columns j of C are columns j of op(B): column j of B, or row j of a transposed B.
        Parallel.forEach(parts) { t in
            let j0 = n * t / parts, j1 = n * (t + 1) / parts
            sgemmOnThisThread(transA: transA, transB: transB, m: m, n: j1 - j0, k: k, alpha: alpha,
                              a: a, lda: lda, b: b + (transB ? j0 * ldb : j0), ldb: ldb,
                              beta: beta, c: c + j0, ldc: ldc)
        }
    }
}

@inline(__always)
private func sgemmOnThisThread(transA: Bool, transB: Bool, m: Int, n: Int, k: Int, alpha: Float,
                               a: UnsafePointer<Float>, lda: Int, b: UnsafePointer<Float>, ldb: Int,
                               beta: Float, c: UnsafeMutablePointer<Float>, ldc: Int) {
    cblas_sgemm(CblasRowMajor, transA ? CblasTrans : CblasNoTrans, transB ? CblasTrans : CblasNoTrans,
                Int32(m), Int32(n), Int32(k), alpha, a, Int32(lda), b, Int32(ldb), beta, c, Int32(ldc))
}

/// Matrix product on tensors viewed as row-major matrices: C = alpha * op(A) op(B) + beta * C.
/// `A` is m x k (k x m when transposed), `B` is k x n (n x k when transposed), `C` is m x n.
public func matmul(_ a: Tensor, transposed transA: Bool = false, rows m: Int, inner k: Int,
                   _ b: Tensor, transposed transB: Bool = false, columns n: Int,
                   into c: Tensor, alpha: Float = 1, beta: Float = 0) {
    precondition(a.count >= m * k && b.count >= k * n && c.count >= m * n, "matmul: operand too small")
    sgemm(transA: transA, transB: transB, m: m, n: n, k: k, alpha: alpha,
          a: a.base, lda: transA ? m : k, b: b.base, ldb: transB ? k : n, beta: beta, c: c.base, ldc: n)
}

extension BLAS {
    /// Runs `body` with OpenBLAS limited to one thread (when our own threads split the work),
    /// restoring the previous setting afterwards.
    public static func withSingleThread<R>(_ body: () -> R) -> R {
        let previous = threads
        if previous == 1 { return body() }
        setThreads(1)
        defer { setThreads(previous) }
        return body()
    }
}

extension BLAS {
    /// OpenBLAS's build description (version, target, threading), for run records.
    public static var configuration: String {
        guard let c = openblas_get_config() else { return "unknown" }
        return String(cString: c).trimmingCharacters(in: .whitespaces)
    }
}
