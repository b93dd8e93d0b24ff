import CBLAS

/// The OpenBLAS entry points we use, behind Swift names.
public enum BLAS {
    /// The kernel family OpenBLAS chose at load time (e.g. "Haswell", "SkylakeX", "Prescott").
    public static var coreName: String {
        guard let name = openblas_get_corename() else { return "unknown" }
        return String(cString: name)
    }

    public static func setThreads(_ n: Int) { openblas_set_num_threads(Int32(n)) }
    public static var threads: Int { Int(openblas_get_num_threads()) }
}

/// C = alpha * op(A) * op(B) + beta * C, row-major, on raw pointers (kernel-internal).
@inline(__always)
func sgemm(transA: Bool, transB: Bool, m: Int, n: Int, k: Int, alpha: Float = 1,
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
