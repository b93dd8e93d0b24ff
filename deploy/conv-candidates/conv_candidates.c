// Candidates for the bf16 convolutions, timed on ResNet-18's convolution shapes (batch 128, 32 px, CIFAR
// stem): oneDNN's primitives exactly as the package drives them (Sources/CKernels/dnnl_conv.c, blocked
// nChw16c maps, bf16 inputs, float32 outputs and gradients), against a GEMM of our own on vdpbf16ps.
//
// Each convolution pass is a matrix product (channel-major maps, K = in_channels x kh x kw):
//   forward          out[Cout, N*H*W]   = W[Cout, K]       x col[K, N*H*W]
//   backward-data    dcol[K, N*H*W]     = W^T[K, Cout]     x dout[Cout, N*H*W]   (then col2im)
//   backward-weights dW[Cout, K]        = dout[Cout, NHW]  x col^T[NHW, K]
// The own candidate is timed on the product alone, packing included but im2col/col2im not: an optimistic
// bound for a convolution built on it. If oneDNN's whole convolution is faster than that bound, it wins.
//
// Build and run: deploy/bench-conv-candidates.sh (needs AVX512_BF16).
#include "CKernels.h"
#include <immintrin.h>
#include <omp.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

static double now(void) {
    struct timespec t;
    clock_gettime(CLOCK_MONOTONIC, &t);
    return t.tv_sec + 1e-9 * t.tv_nsec;
}

// ---- own bf16 GEMM: C[M, N] (fp32, row-major) = A[M, K] x B[K, N] (bf16, row-major) -----------------
// BLIS-style blocking: B is packed per (KC x NC) block into NR-column panels of k-pairs (vdpbf16ps takes
// pairs of consecutive k), A per (MC x KC) block into MR-row panels of k-pairs. The micro-kernel keeps an
// MR x NR tile of C in 24 zmm accumulators.
enum { MR = 8, NR = 48, KC = 256, MC = 128, NC = 3072 };

static void pack_b(const uint16_t *b, int ldb, int k0, int kc, int n0, int nc, int k_total, int n_total,
                   uint16_t *out) {
    // out[panel][kpair][NR][2]
    for (int jp = 0; jp < nc; jp += NR) {
        for (int kp = 0; kp < kc; kp += 2) {
            for (int j = 0; j < NR; j++) {
                int col = n0 + jp + j, r0 = k0 + kp, r1 = r0 + 1;
                int inside = col < n_total && jp + j < nc;
                *out++ = inside && r0 < k_total && kp < kc ? b[(size_t)r0 * ldb + col] : 0;
                *out++ = inside && r1 < k_total && kp + 1 < kc ? b[(size_t)r1 * ldb + col] : 0;
            }
        }
    }
}

static void pack_a(const uint16_t *a, int lda, int m0, int mc, int k0, int kc, int m_total, int k_total,
                   uint16_t *out) {
    // out[panel][kpair][MR][2]
    for (int ip = 0; ip < mc; ip += MR) {
        for (int kp = 0; kp < kc; kp += 2) {
            for (int i = 0; i < MR; i++) {
                int row = m0 + ip + i, c0 = k0 + kp, c1 = c0 + 1;
                int inside = row < m_total && ip + i < mc;
                *out++ = inside && c0 < k_total && kp < kc ? a[(size_t)row * lda + c0] : 0;
                *out++ = inside && c1 < k_total && kp + 1 < kc ? a[(size_t)row * lda + c1] : 0;
            }
        }
    }
}

__attribute__((target("avx512f,avx512bf16")))
static void micro_kernel(int kpairs, const uint16_t *ap, const uint16_t *bp, float *c, int ldc, int rows,
                         int cols, int accumulate) {
    __m512 acc[MR][3];
    for (int i = 0; i < MR; i++)
        for (int j = 0; j < 3; j++) acc[i][j] = _mm512_setzero_ps();
    for (int p = 0; p < kpairs; p++) {
        __m512bh b0 = (__m512bh)_mm512_loadu_si512(bp), b1 = (__m512bh)_mm512_loadu_si512(bp + 32),
                 b2 = (__m512bh)_mm512_loadu_si512(bp + 64);
        const uint32_t *pairs = (const uint32_t *)ap;
        for (int i = 0; i < MR; i++) {
            __m512bh a = (__m512bh)_mm512_set1_epi32((int)pairs[i]);
            acc[i][0] = _mm512_dpbf16_ps(acc[i][0], a, b0);
            acc[i][1] = _mm512_dpbf16_ps(acc[i][1], a, b1);
            acc[i][2] = _mm512_dpbf16_ps(acc[i][2], a, b2);
        }
        ap += 2 * MR;
        bp += 2 * NR;
    }
    for (int i = 0; i < rows; i++) {
        float tile[NR];
        for (int j = 0; j < 3; j++) _mm512_storeu_ps(tile + 16 * j, acc[i][j]);
        float *row = c + (size_t)i * ldc;
        for (int j = 0; j < cols; j++) row[j] = accumulate ? row[j] + tile[j] : tile[j];
    }
}

static void *filled(size_t bytes) {
    unsigned char *p = aligned_alloc(64, (bytes + 63) / 64 * 64);
    // Every byte in 0x30..0x3f: bf16 and float32 values between about 0.17 and 0.75, no denormals.
    for (size_t i = 0; i < bytes; i++) p[i] = (unsigned char)(0x30 | ((i * 2654435761u) >> 28));
    return p;
}

static void own_gemm(int m, int n, int k, const uint16_t *a, const uint16_t *b, float *c, int threads) {
    #pragma omp parallel num_threads(threads)
    {
        uint16_t *bpack = filled((size_t)(KC + 2) * (NC + NR) * sizeof(uint16_t));
        uint16_t *apack = filled((size_t)(KC + 2) * (MC + MR) * sizeof(uint16_t));
        // Threads split the columns (N is large in forward and backward-data) or, when N is small
        // (backward-weights), the rows.
        int split_rows = n < NC * threads;
        #pragma omp for schedule(static)
        for (int block = 0; block < (split_rows ? (m + MC - 1) / MC : (n + NC - 1) / NC); block++) {
            int row_begin = split_rows ? block * MC : 0, row_end = split_rows ? row_begin + MC : m;
            int col_begin = split_rows ? 0 : block * NC, col_end = split_rows ? n : col_begin + NC;
            if (row_end > m) row_end = m;
            if (col_end > n) col_end = n;
            for (int jc = col_begin; jc < col_end; jc += NC) {
                int nc = col_end - jc < NC ? col_end - jc : NC;
                for (int pc = 0; pc < k; pc += KC) {
                    int kc = k - pc < KC ? k - pc : KC, kpairs = (kc + 1) / 2;
                    pack_b(b, n, pc, kc, jc, nc, k, n, bpack);
                    for (int ic = row_begin; ic < row_end; ic += MC) {
                        int mc = row_end - ic < MC ? row_end - ic : MC;
                        pack_a(a, k, ic, mc, pc, kc, m, k, apack);
                        for (int jr = 0; jr < nc; jr += NR)
                            for (int ir = 0; ir < mc; ir += MR)
                                micro_kernel(kpairs, apack + (size_t)(ir / MR) * kpairs * 2 * MR,
                                             bpack + (size_t)(jr / NR) * kpairs * 2 * NR,
                                             c + (size_t)(ic + ir) * n + jc + jr, n,
                                             mc - ir < MR ? mc - ir : MR, nc - jr < NR ? nc - jr : NR, pc > 0);
                    }
                }
            }
        }
        free(bpack);
        free(apack);
    }
}

// Checks the own GEMM against a float64 product of the same bf16 inputs on a small odd shape.
static int check_own_gemm(void) {
    int m = 37, n = 101, k = 67;
    uint16_t *a = malloc((size_t)m * k * 2), *b = malloc((size_t)k * n * 2);
    float *af = malloc((size_t)m * k * 4), *bf = malloc((size_t)k * n * 4), *c = malloc((size_t)m * n * 4);
    srand(1);
    for (int i = 0; i < m * k; i++) af[i] = (float)rand() / RAND_MAX - 0.5f;
    for (int i = 0; i < k * n; i++) bf[i] = (float)rand() / RAND_MAX - 0.5f;
    // The package's own rounding, and back, so the reference multiplies exactly the bf16 values.
    sk_f32_to_bf16(af, a, (size_t)m * k);
    sk_f32_to_bf16(bf, b, (size_t)k * n);
    sk_bf16_to_f32(a, af, (size_t)m * k);
    sk_bf16_to_f32(b, bf, (size_t)k * n);
    own_gemm(m, n, k, a, b, c, 2);
    double worst = 0;
    for (int i = 0; i < m; i++)
        for (int j = 0; j < n; j++) {
            double ref = 0;
            for (int p = 0; p < k; p++) ref += (double)af[i * k + p] * bf[p * n + j];
            double d = ref - c[i * n + j];
            if (d < 0) d = -d;
            if (d > worst) worst = d;
        }
    free(a); free(b); free(af); free(bf); free(c);
    printf("own GEMM check (37x101x67 vs float64): max abs error %.2e %s\n", worst, worst < 1e-4 ? "ok" : "FAILED");
    return worst < 1e-4;
}

// The micro-kernel alone on operands already packed and in cache, one thread: this design's ceiling.
static double micro_kernel_ceiling(void) {
    int kpairs = KC / 2, calls = 20000;
    uint16_t *ap = filled((size_t)kpairs * 2 * MR * 2), *bp = filled((size_t)kpairs * 2 * NR * 2);
    float *c = filled(MR * NR * 4);
    micro_kernel(kpairs, ap, bp, c, NR, MR, NR, 0);
    double t0 = now();
    for (int i = 0; i < calls; i++) micro_kernel(kpairs, ap, bp, c, NR, MR, NR, 1);
    double seconds = now() - t0;
    free(ap); free(bp); free(c);
    return 2.0 * MR * NR * 2 * kpairs * calls / seconds * 1e-9;
}

// ---- shapes -------------------------------------------------------------------------------------------
typedef struct { const char *name; int cin, cout, size, kernel, stride, count; } conv_case;

static const conv_case cases[] = {
    {"layer1 3x3 64->64 32px", 64, 64, 32, 3, 1, 4},
    {"layer2.0 3x3/2 64->128", 64, 128, 32, 3, 2, 1},
    {"layer2 3x3 128->128 16px", 128, 128, 16, 3, 1, 3},
    {"layer3.0 3x3/2 128->256", 128, 256, 16, 3, 2, 1},
    {"layer3 3x3 256->256 8px", 256, 256, 8, 3, 1, 3},
    {"layer4.0 3x3/2 256->512", 256, 512, 8, 3, 2, 1},
    {"layer4 3x3 512->512 4px", 512, 512, 4, 3, 1, 3},
};

static double median(double *v, int n) {
    for (int i = 1; i < n; i++)
        for (int j = i; j > 0 && v[j] < v[j - 1]; j--) { double t = v[j]; v[j] = v[j - 1]; v[j - 1] = t; }
    return n % 2 ? v[n / 2] : 0.5 * (v[n / 2 - 1] + v[n / 2]);
}


int main(int argc, char **argv) {
    int batch = 128, threads = 2, reps = 5;
    for (int i = 1; i + 1 < argc; i++) {
        if (!strcmp(argv[i], "--batch")) batch = atoi(argv[++i]);
        else if (!strcmp(argv[i], "--threads")) threads = atoi(argv[++i]);
        else if (!strcmp(argv[i], "--reps")) reps = atoi(argv[++i]);
    }
    if (!__builtin_cpu_supports("avx512bf16")) { fprintf(stderr, "this CPU has no AVX512_BF16\n"); return 2; }
    if (!check_own_gemm()) return 1;
    sk_set_threads(threads);
    printf("own micro-kernel alone (%dx%d tile, packed operands in cache, 1 thread): %.1f GFLOP/s\n", MR, NR,
           micro_kernel_ceiling());
    printf("batch %d, %d threads, median of %d; GFLOP/s of 2*M*N*K per pass (oneDNN: %s, %s)\n\n", batch, threads,
           reps, sk_dnnl_version(), sk_dnnl_isa());
    printf("%-26s %-9s %10s %10s %10s %10s %8s\n", "shape (x count)", "pass", "oneDNN ms", "GFLOP/s", "own ms",
           "GFLOP/s", "own/dnnl");
    double total_dnnl[3] = {0}, total_own[3] = {0};
    const char *pass_names[3] = {"forward", "bwd-data", "bwd-wts"};
    for (size_t ci = 0; ci < sizeof cases / sizeof *cases; ci++) {
        const conv_case *cc = &cases[ci];
        int out = (cc->size + 2 - cc->kernel) / cc->stride + 1;
        long m_out = (long)batch * out * out, kdim = (long)cc->cin * cc->kernel * cc->kernel;
        double flops = 2.0 * cc->cout * kdim * m_out;
        sk_conv_shape shape = {batch, cc->cin, cc->cout, cc->size, cc->size, cc->kernel, cc->stride, 1, 0, 1, 1, 0};
        char error[256];
        sk_conv *conv = sk_conv_create(&shape, error, sizeof error);
        if (!conv) { fprintf(stderr, "%s\n", error); return 1; }
        size_t in_elems = (size_t)batch * cc->cin * cc->size * cc->size, out_elems = (size_t)m_out * cc->cout;
        uint16_t *src = filled(in_elems * 2), *dout = filled(out_elems * 2);
        float *dst = filled(out_elems * 4), *dsrc = filled(in_elems * 4), *dw = filled((size_t)cc->cout * kdim * 4);
        float *w = filled((size_t)cc->cout * kdim * 4);
        sk_conv_set_weights(conv, w);
        // Own GEMM operands of the same sizes.
        uint16_t *wa = filled((size_t)cc->cout * kdim * 2), *col = filled((size_t)kdim * m_out * 2);
        uint16_t *wt = filled((size_t)cc->cout * kdim * 2), *dcol_in = filled((size_t)cc->cout * m_out * 2);
        uint16_t *colt = filled((size_t)kdim * m_out * 2);
        size_t c_elems = (size_t)kdim * m_out;  // the largest product: backward-data's
        if ((size_t)cc->cout * m_out > c_elems) c_elems = (size_t)cc->cout * m_out;
        if ((size_t)cc->cout * kdim > c_elems) c_elems = (size_t)cc->cout * kdim;
        float *c_out = filled(c_elems * 4);
        for (int pass = 0; pass < 3; pass++) {
            double t_dnnl[16], t_own[16];
            for (int r = 0; r < reps + 1; r++) {
                double t0 = now();
                if (pass == 0) sk_conv_forward(conv, src, NULL, dst);
                else if (pass == 1) sk_conv_backward_data(conv, dout, dsrc);
                else sk_conv_backward_weights(conv, src, NULL, dout, dw);
                double t1 = now();
                if (pass == 0) own_gemm(cc->cout, (int)m_out, (int)kdim, wa, col, c_out, threads);
                else if (pass == 1) own_gemm((int)kdim, (int)m_out, cc->cout, wt, dcol_in, c_out, threads);
                else own_gemm(cc->cout, (int)kdim, (int)m_out, dcol_in, colt, c_out, threads);
                double t2 = now();
                if (r > 0) { t_dnnl[r - 1] = t1 - t0; t_own[r - 1] = t2 - t1; }  // first round warms up
            }
            double d = median(t_dnnl, reps), o = median(t_own, reps);
            total_dnnl[pass] += d * cc->count;
            total_own[pass] += o * cc->count;
            printf("%-22s x%d  %-9s %10.2f %10.1f %10.2f %10.1f %8.2f\n", cc->name, cc->count, pass_names[pass],
                   1e3 * d, flops / d * 1e-9, 1e3 * o, flops / o * 1e-9, o / d);
        }
        sk_conv_destroy(conv);
        free(src); free(dout); free(dst); free(dsrc); free(dw); free(w);
        free(wa); free(col); free(wt); free(dcol_in); free(colt); free(c_out);
    }
    printf("\nper step (each shape x its count in ResNet-18; the stem and 1x1 downsamples left out):\n");
    for (int pass = 0; pass < 3; pass++)
        printf("  %-9s oneDNN %8.1f ms   own GEMM alone %8.1f ms   own/oneDNN %.2f\n", pass_names[pass],
               1e3 * total_dnnl[pass], 1e3 * total_own[pass], total_own[pass] / total_dnnl[pass]);
    return 0;
}
