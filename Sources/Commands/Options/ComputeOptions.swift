import ArgumentParser
import Kernels

/// How a command that runs the network computes: `--threads`, `--precision`, `--conv-algorithm`.
struct ComputeOptions: ParsableArguments {
    @Option(help: "BLAS and kernel threads (default: the cores this process may run on).") var threads: Int?
    @Option(help: ArgumentHelp("Arithmetic of convolutions and Linear layers: fp32, or bf16 (PyTorch CPU autocast semantics; needs a CPU with bf16 instructions). bf16-reference computes bf16's rounding in fp32 (slow; for checking numerics)."))
    var precision: ComputePrecision = .fp32
    @Option(help: ArgumentHelp("How convolutions are computed: auto (per layer and pass, measured to round like PyTorch's fp32 step: Winograd F(2x2) forward (F(4x4) where a layer has 512 x 512 channels) and F(4x4) in the backward passes; bf16: F(2x2) in every pass; on maps smaller than 4x4 per-tap matrix products in fp32, direct in bf16 but for the weight gradient), direct (every pass; the slowest), or winograd (the fastest: F(4x4) in every fp32 pass, whose forward rounding takes a training step about 2.4x further from float64 than PyTorch's fp32 step). Strided, 1x1 and first-layer convolutions are always direct.", valueName: "auto|direct|winograd"))
    var convAlgorithm: ConvAlgorithmChoice = .auto

    func validate() throws {
        try SettingFlags.validate { try precision.checkSupported() }
        if let threads, threads < 1 { throw ValidationError("--threads must be at least 1") }
    }
}
