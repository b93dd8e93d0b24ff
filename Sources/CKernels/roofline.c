// What this machine can do at best, for `simclr bench`: the FMA instruction throughput of one core, and
// large matrix products through oneDNN (bf16 and fp32) for the measured roofline.
#include "CKernels.h"
#include <oneapi/dnnl/dnnl.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#if defined(__x86_64__)
#include <immintrin.h>
#endif

static double seconds_now(void) {
    struct timespec t;
    clock_gettime(CLOCK_MONOTONIC, &t);
    return (double)t.tv_sec + (double)t.tv_nsec * 1e-9;
}

// 24 independent accumulators hide the instructions' latency; the loop body is nothing but FMAs.
#define CHAINS(X) X(0) X(1) X(2) X(3) X(4) X(5) X(6) X(7) X(8) X(9) X(10) X(11) \
                  X(12) X(13) X(14) X(15) X(16) X(17) X(18) X(19) X(20) X(21) X(22) X(23)

#if defined(__x86_64__)
__attribute__((target("avx512f"))) static double fma512(long iterations) {
    __m512 b = _mm512_set1_ps(0.999f), c = _mm512_set1_ps(1e-3f);
#define DECL(i) __m512 a##i = _mm512_set1_ps((float)i);
#define STEP(i) a##i = _mm512_fmadd_ps(a##i, b, c);
#define SUM(i) s = _mm512_add_ps(s, a##i);
    CHAINS(DECL)
    double start = seconds_now();
    for (long n = 0; n < iterations; n++) { CHAINS(STEP) }
    double elapsed = seconds_now() - start;
    __m512 s = _mm512_setzero_ps();
    CHAINS(SUM)
    volatile float sink = _mm512_reduce_add_ps(s);
    (void)sink;
    return (double)iterations * 24 * 16 * 2 / elapsed;
#undef DECL
#undef STEP
#undef SUM
}

__attribute__((target("avx2,fma"))) static double fma256(long iterations) {
    __m256 b = _mm256_set1_ps(0.999f), c = _mm256_set1_ps(1e-3f);
#define DECL(i) __m256 a##i = _mm256_set1_ps((float)i);
#define STEP(i) a##i = _mm256_fmadd_ps(a##i, b, c);
#define SUM(i) s = _mm256_add_ps(s, a##i);
    CHAINS(DECL)
    double start = seconds_now();
    for (long n = 0; n < iterations; n++) { CHAINS(STEP) }
    double elapsed = seconds_now() - start;
    __m256 s = _mm256_setzero_ps();
    CHAINS(SUM)
    float out[8];
    _mm256_storeu_ps(out, s);
    volatile float sink = out[0];
    (void)sink;
    return (double)iterations * 24 * 8 * 2 / elapsed;
#undef DECL
#undef STEP
#undef SUM
}

__attribute__((target("avx512f,avx512bf16"))) static double dpbf16(long iterations) {
    __m512bh b = (__m512bh)_mm512_set1_epi32(0x3f7f3f7f), c = (__m512bh)_mm512_set1_epi32(0x3a833a83);
#define DECL(i) __m512 a##i = _mm512_set1_ps((float)i);
#define STEP(i) a##i = _mm512_dpbf16_ps(a##i, b, c);
#define SUM(i) s = _mm512_add_ps(s, a##i);
    CHAINS(DECL)
    double start = seconds_now();
    for (long n = 0; n < iterations; n++) { CHAINS(STEP) }
    double elapsed = seconds_now() - start;
    __m512 s = _mm512_setzero_ps();
    CHAINS(SUM)
    volatile float sink = _mm512_reduce_add_ps(s);
    (void)sink;
    // One vdpbf16ps: 16 lanes x 2 products, each a multiply and an add.
    return (double)iterations * 24 * 32 * 2 / elapsed;
#undef DECL
#undef STEP
#undef SUM
}
#endif

double sk_fma_peak_gflops(int bf16, long iterations) {
#if defined(__x86_64__)
    sk_cpu_features f;
    sk_cpu_features_read(&f);
    if (bf16) return f.avx512_bf16 ? dpbf16(iterations) / 1e9 : 0;
    if (f.avx512f) return fma512(iterations) / 1e9;
    if (f.avx2 && f.fma) return fma256(iterations) / 1e9;
#endif
    (void)bf16; (void)iterations;
    return 0;
}

extern void omp_set_num_threads(int);

double sk_dnnl_matmul_gflops(int m, int n, int k, int bf16, int threads, int repeats) {
    dnnl_engine_t engine;
    dnnl_stream_t stream;
    if (dnnl_engine_create(&engine, dnnl_cpu, 0) != dnnl_success) return 0;
    dnnl_stream_create(&stream, engine, dnnl_stream_default_flags);
    dnnl_data_type_t low = bf16 ? dnnl_bf16 : dnnl_f32;
    dnnl_dims_t a_dims = {m, k}, b_dims = {k, n}, c_dims = {m, n};
    dnnl_memory_desc_t a_md, b_md, c_md;
    dnnl_memory_desc_init_by_tag(&a_md, 2, a_dims, low, dnnl_ab);
    dnnl_memory_desc_init_by_tag(&b_md, 2, b_dims, low, dnnl_ab);
    dnnl_memory_desc_init_by_tag(&c_md, 2, c_dims, dnnl_f32, dnnl_ab);
    dnnl_matmul_desc_t desc;
    dnnl_primitive_desc_t pd = NULL;
    dnnl_primitive_t matmul = NULL;
    double best = 0;
    if (dnnl_matmul_desc_init(&desc, &a_md, &b_md, NULL, &c_md) == dnnl_success &&
        dnnl_primitive_desc_create(&pd, &desc, NULL, engine, NULL) == dnnl_success &&
        dnnl_primitive_create(&matmul, pd) == dnnl_success) {
        size_t elem = bf16 ? 2 : 4;
        void *a = calloc((size_t)m * k, elem), *b = calloc((size_t)k * n, elem), *c = calloc((size_t)m * n, 4);
        // Small nonzero values (bf16 1/128 or float 1/128) so nothing is denormal.
        for (size_t i = 0; i < (size_t)m * k; i++) { if (bf16) ((uint16_t *)a)[i] = 0x3c00; else ((float *)a)[i] = 0.0078125f; }
        for (size_t i = 0; i < (size_t)k * n; i++) { if (bf16) ((uint16_t *)b)[i] = 0x3c00; else ((float *)b)[i] = 0.0078125f; }
        dnnl_memory_t am, bm, cm;
        dnnl_memory_create(&am, &a_md, engine, a);
        dnnl_memory_create(&bm, &b_md, engine, b);
        dnnl_memory_create(&cm, &c_md, engine, c);
        dnnl_exec_arg_t args[] = {{DNNL_ARG_SRC, am}, {DNNL_ARG_WEIGHTS, bm}, {DNNL_ARG_DST, cm}};
        omp_set_num_threads(threads);
        for (int r = 0; r <= repeats; r++) {
            double start = seconds_now();
            dnnl_primitive_execute(matmul, stream, 3, args);
            dnnl_stream_wait(stream);
            double rate = 2.0 * m * n * k / (seconds_now() - start) / 1e9;
            if (r > 0 && rate > best) best = rate;   // the first run builds the kernels
        }
        dnnl_memory_destroy(am); dnnl_memory_destroy(bm); dnnl_memory_destroy(cm);
        free(a); free(b); free(c);
    }
    if (matmul) dnnl_primitive_destroy(matmul);
    if (pd) dnnl_primitive_desc_destroy(pd);
    dnnl_stream_destroy(stream);
    dnnl_engine_destroy(engine);
    return best;
}
