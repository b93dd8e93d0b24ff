import Foundation

/// Makes sure OpenBLAS runs kernels that match the CPU.
///
/// Some OpenBLAS builds (Debian's 0.3.21 on certain Xeons) fall back to the SSE3 "Prescott"
/// kernels, five times slower than the AVX-512 ones. OpenBLAS reads `OPENBLAS_CORETYPE` only when
/// it loads, so when the kernels it picked are weaker than what the CPU offers, the tool re-executes
/// itself with the variable set. `--no-blas-fix` or `SIMCLR_NO_BLAS_FIX=1` turns this off.
public enum BLASSetup {
    /// Kernel families without AVX2 that OpenBLAS may choose on a capable CPU.
    static let weakCores: Set<String> = ["Prescott", "Core2", "Penryn", "Dunnington", "Nehalem",
                                         "Atom", "Sandybridge", "Katmai", "Coppermine", "Northwood", "Banias"]

    static func cpuFlags() -> Set<String> {
        guard let text = try? String(contentsOfFile: "/proc/cpuinfo", encoding: .utf8),
              let line = text.split(separator: "\n").first(where: { $0.hasPrefix("flags") }) else { return [] }
        return Set(line.split(separator: ":").last!.split(separator: " ").map(String.init))
    }

    /// The OPENBLAS_CORETYPE this CPU deserves, if OpenBLAS picked something weaker.
    static func betterCoreType(current: String, flags: Set<String>) -> String? {
        guard weakCores.contains(current) else { return nil }
        if flags.contains("avx512f") && flags.contains("avx512bw") { return "SkylakeX" }
        if flags.contains("avx2") && flags.contains("fma") { return "Haswell" }
        return nil
    }

    /// Call first thing in main, before MPI starts: may replace the process image (same pid). Returns the
    /// arguments without `--no-blas-fix`, which is read here alone (every command accepts it) and is
    /// no option of any command.
    public static func ensureGoodKernels(arguments: [String]) -> [String] {
        let env = ProcessInfo.processInfo.environment
        let remaining = arguments.filter { $0 != "--no-blas-fix" }
        if remaining.count != arguments.count || env["SIMCLR_NO_BLAS_FIX"] == "1" { return remaining }
        if env["OPENBLAS_CORETYPE"] != nil || env["SIMCLR_BLAS_REEXEC"] != nil { return remaining }
        guard let coreType = betterCoreType(current: BLAS.coreName, flags: cpuFlags()) else { return remaining }
        setenv("OPENBLAS_CORETYPE", coreType, 1)
        setenv("SIMCLR_BLAS_REEXEC", "1", 1)
        let cArgs = arguments.map { strdup($0) } + [nil]
        execv("/proc/self/exe", cArgs)
        // execv returns only on failure; carry on with the slow kernels and say so.
        FileHandle.standardError.write(Data("warning: could not re-execute with OPENBLAS_CORETYPE=\(coreType); BLAS may be slow\n".utf8))
        return remaining
    }

    /// One line for logs: which kernels, and why.
    public static func describe() -> String {
        let env = ProcessInfo.processInfo.environment
        var s = "OpenBLAS kernels: \(BLAS.coreName)"
        if let forced = env["OPENBLAS_CORETYPE"] {
            s += env["SIMCLR_BLAS_REEXEC"] != nil ? " (OPENBLAS_CORETYPE=\(forced) set by simclr: the detected kernels were weaker than the CPU)" : " (OPENBLAS_CORETYPE=\(forced) from the environment)"
        } else {
            s += " (detected by OpenBLAS)"
        }
        return s
    }
}

extension BLASSetup {
    /// `threads` (nil: the cores this process may run on) as our kernels' threads, which also split matrix
    /// products; OpenBLAS itself runs on one thread (its idle workers would spin beside our team: Note [One team
    /// of threads] in Kernels' BLAS.swift). Returns the number of threads.
    public static func applyThreads(_ threads: Int?) -> Int {
        let n = max(1, threads ?? Parallel.availableCores)
        BLAS.setThreads(1)
        Parallel.threadCount = n
        return n
    }
}
