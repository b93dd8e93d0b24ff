import Cluster
import Foundation
import Kernels

/// `simclr --version`: what this binary is and what it runs on, for bug reports and run records.
public enum VersionReport {
    public static let version = "0.1.0"

    /// The precisions this CPU runs, and how.
    public static func precisions(_ cpu: CPUFeatures) -> String {
        ComputePrecision.allCases.map { p -> String in
            switch p {
            case .fp32: return "fp32"
            case .bf16: return cpu.hasFastBF16 ? "bf16 (native)" : "no bf16 (needs AVX512_BF16 or usable AMX)"
            case .bf16Reference: return "bf16-reference (bf16 rounding in fp32)"
            }
        }.joined(separator: ", ")
    }

    public static var text: String {
        let cpu = CPUFeatures.current
        return """
            simclr \(version)
            git commit: \(RunInfo.gitCommit())
            BLAS: \(BLAS.configuration); \(BLASSetup.describe())
            MPI: \(MPILibrary.version) (MPI \(MPILibrary.standard))
            convolutions: \(ConvolutionLibrary.description)
            CPU: \(cpu.summary)
            precisions on this CPU: \(precisions(cpu))
            """
    }
}
