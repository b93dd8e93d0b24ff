import ArgumentParser
import Kernels

/// `--conv-algorithm auto|direct|winograd`, on every command that runs the network.
struct ConvAlgorithmOption: ParsableArguments {
    @Option(help: ArgumentHelp("How convolutions are computed: auto (per layer and pass, measured to round like PyTorch's fp32 step: Winograd F(2x2) forward (F(4x4) where a layer has 512 x 512 channels) and F(4x4) in the backward passes; bf16: F(2x2) in every pass; direct on maps smaller than 4x4), direct (every pass; the slowest), or winograd (the fastest: F(4x4) in every fp32 pass, whose forward rounding takes a training step about 2.4x further from float64 than PyTorch's fp32 step). Strided, 1x1 and first-layer convolutions are always direct.", valueName: "auto|direct|winograd"))
    var convAlgorithm: ConvAlgorithmChoice = .auto
}
