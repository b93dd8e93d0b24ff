#!/usr/bin/env bash
# Times the bf16 convolution candidates on ResNet-18's shapes: oneDNN as the package drives it against a
# GEMM of our own on vdpbf16ps (deploy/conv-candidates/conv_candidates.c says what is compared).
# Usage: deploy/bench-conv-candidates.sh [--batch 128] [--threads 2] [--reps 5]
set -euo pipefail
cd "$(dirname "$0")/.."
mkdir -p .build
gcc -O3 -fopenmp -I Sources/CKernels/include deploy/conv-candidates/conv_candidates.c Sources/CKernels/dnnl_conv.c \
    Sources/CKernels/bf16.c Sources/CKernels/cpu_features.c Sources/CKernels/winograd.c Sources/CKernels/winograd_weights.c Sources/CKernels/conv_taps.c \
    -ldnnl -o .build/conv-candidates
exec .build/conv-candidates "$@"
