#!/usr/bin/env bash
# Times every convolution pass of ResNet-18's shapes under each algorithm (direct, F(4x4), F(2x2); fp32 and
# bf16) through the package's kernels: the speed side of --conv-algorithm auto (docs/precision.md).
# Usage: deploy/bench-conv-algorithms.sh [--batch 128] [--threads 2] [--reps 5] [--width 1.0] [--image-size 32]
#                                        [--precision all|fp32|bf16]
set -euo pipefail
cd "$(dirname "$0")/.."
mkdir -p .build
gcc -O3 -fopenmp -I Sources/CKernels/include deploy/conv-candidates/conv_algorithms.c Sources/CKernels/dnnl_conv.c \
    Sources/CKernels/bf16.c Sources/CKernels/cpu_features.c Sources/CKernels/winograd.c Sources/CKernels/winograd_weights.c Sources/CKernels/conv_taps.c \
    -ldnnl -o .build/conv-algorithms
exec .build/conv-algorithms "$@"
