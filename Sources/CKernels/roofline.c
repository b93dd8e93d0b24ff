// What this machine can do at best, for `simclr bench`: the clock under load, the FMA instruction throughput
// of one core, and large matrix products through oneDNN (bf16 and fp32).
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

// 24 independent accumulator chains: an FMA's latency is 4 cycles on the cores this runs on and a core
// starts up to 2 FMAs per cycle, so 8 chains would keep both pipes busy; 24 leave room for longer latencies
// and still fit the 32 vector registers with the two operands. The loop body is nothing but FMAs.
#define CHAINS(X) X(0) X(1) X(2) X(3) X(4) X(5) X(6) X(7) X(8) X(9) X(10) X(11) \
                  X(12) X(13) X(14) X(15) X(16) X(17) X(18) X(19) X(20) X(21) X(22) X(23)
#define BLOCK 10000   /* iterations between clock reads */

extern void GOMP_parallel(void (*fn)(void *), void *data, unsigned num_threads, unsigned flags);
extern void GOMP_barrier(void);
extern int omp_get_thread_num(void);

/// Runs `block` (BLOCK iterations of 24 instructions) until `seconds` have passed, after a warm-up of a
/// fifth of that (the clock ramps up under load); returns instructions per second of the timed part. The
/// threads of a team wait for each other before timing, so that they run at the same time (a core's clock
/// is higher while the others idle).
#define TIMED_LOOP(block, seconds)                                                                    \
    do {                                                                                              \
        double warm_end = seconds_now() + (seconds) / 5;                                              \
        while (seconds_now() < warm_end) { block }                                                    \
        GOMP_barrier();                                                                               \
        long blocks = 0;                                                                              \
        double start = seconds_now(), elapsed;                                                        \
        do { block blocks++; elapsed = seconds_now() - start; } while (elapsed < (seconds));          \
        rate = (double)blocks * BLOCK * 24 / elapsed;                                                 \
    } while (0)

#if defined(__x86_64__)
__attribute__((target("avx512f"))) static double fma512(double seconds) {
    __m512 b = _mm512_set1_ps(0.999f), c = _mm512_set1_ps(1e-3f);
#define DECL(i) __m512 a##i = _mm512_set1_ps((float)i);
#define STEP(i) a##i = _mm512_fmadd_ps(a##i, b, c);
#define SUM(i) s = _mm512_add_ps(s, a##i);
    CHAINS(DECL)
    double rate;
    TIMED_LOOP({ for (long n = 0; n < BLOCK; n++) { CHAINS(STEP) } }, seconds);
    __m512 s = _mm512_setzero_ps();
    CHAINS(SUM)
    volatile float sink = _mm512_reduce_add_ps(s);
    (void)sink;
    return rate;
#undef DECL
#undef STEP
#undef SUM
}

__attribute__((target("avx2,fma"))) static double fma256(double seconds) {
    __m256 b = _mm256_set1_ps(0.999f), c = _mm256_set1_ps(1e-3f);
#define DECL(i) __m256 a##i = _mm256_set1_ps((float)i);
#define STEP(i) a##i = _mm256_fmadd_ps(a##i, b, c);
#define SUM(i) s = _mm256_add_ps(s, a##i);
    CHAINS(DECL)
    double rate;
    TIMED_LOOP({ for (long n = 0; n < BLOCK; n++) { CHAINS(STEP) } }, seconds);
    __m256 s = _mm256_setzero_ps();
    CHAINS(SUM)
    float out[8];
    _mm256_storeu_ps(out, s);
    volatile float sink = out[0];
    (void)sink;
    return rate;
#undef DECL
#undef STEP
#undef SUM
}

__attribute__((target("avx512f,avx512bf16"))) static double dpbf16(double seconds) {
    __m512bh b = (__m512bh)_mm512_set1_epi32(0x3f7f3f7f), c = (__m512bh)_mm512_set1_epi32(0x3a833a83);
#define DECL(i) __m512 a##i = _mm512_set1_ps((float)i);
#define STEP(i) a##i = _mm512_dpbf16_ps(a##i, b, c);
#define SUM(i) s = _mm512_add_ps(s, a##i);
    CHAINS(DECL)
    double rate;
    TIMED_LOOP({ for (long n = 0; n < BLOCK; n++) { CHAINS(STEP) } }, seconds);
    __m512 s = _mm512_setzero_ps();
    CHAINS(SUM)
    volatile float sink = _mm512_reduce_add_ps(s);
    (void)sink;
    return rate;
#undef DECL
#undef STEP
#undef SUM
}
#endif

static double fma_loop(int bf16, double seconds, double *flops_per_instruction) {
    *flops_per_instruction = 0;
#if defined(__x86_64__)
    sk_cpu_features f;
    sk_cpu_features_read(&f);
    // vdpbf16ps: 16 lanes x 2 products, each a multiply and an add; an FMA: lanes x (multiply + add).
    if (bf16) { if (!f.avx512_bf16) return 0; *flops_per_instruction = 64; return dpbf16(seconds); }
    if (f.avx512f) { *flops_per_instruction = 32; return fma512(seconds); }
    if (f.avx2 && f.fma) { *flops_per_instruction = 16; return fma256(seconds); }
#endif
    (void)bf16; (void)seconds;
    return 0;
}

static double clock_hz(double seconds) {
#if defined(__x86_64__)
    // A chain of dependent register additions: each waits for the one before, and an integer addition takes
    // one cycle on every x86-64 core, so additions per second are cycles per second. (A register operand, not
    // an immediate: some cores fold chains of immediate additions.) The loop counter runs beside the chain.
    uint64_t a = 1, b = 3;
    double rate;
#define ADDS(n)                                                                                      \
    for (long n = 0; n < BLOCK / 100; n++)                                                           \
        __asm__ volatile(".rept 2400\n\tadd %1, %0\n\t.endr" : "+r"(a) : "r"(b));
    TIMED_LOOP({ ADDS(n) }, seconds);
#undef ADDS
    volatile uint64_t sink = a;
    (void)sink;
    return rate;   // 24 x 100 additions per BLOCK/100 iterations = BLOCK * 24 per block, as TIMED_LOOP counts
#else
    (void)seconds;
    return 0;
#endif
}

struct team_job { int what; double seconds; double flops_per_instruction; double rates[256]; };

static void team_body(void *data) {
    struct team_job *job = data;
    int me = omp_get_thread_num();
    double fpi = 0, rate = job->what == 0 ? clock_hz(job->seconds) : fma_loop(job->what == 2, job->seconds, &fpi);
    if (me < 256) job->rates[me] = rate;
    if (me == 0) job->flops_per_instruction = fpi;
}

/// Runs a measurement on `threads` threads at once; returns the sum (instructions/s) or the mean (clock).
static double on_team(int what, int threads, double seconds, double *flops_per_instruction) {
    struct team_job job = {what, seconds, 0, {0}};
    if (threads < 1) threads = 1;
    if (threads > 256) threads = 256;
    GOMP_parallel(team_body, &job, (unsigned)threads, 0);
    double sum = 0;
    for (int t = 0; t < threads; t++) sum += job.rates[t];
    if (flops_per_instruction) *flops_per_instruction = job.flops_per_instruction;
    return what == 0 ? sum / threads : sum;
}

double sk_clock_hz(int threads, double seconds) { return on_team(0, threads, seconds, NULL); }

double sk_fma_loop(int bf16, int threads, double seconds, double *flops_per_instruction) {
    return on_team(bf16 ? 2 : 1, threads, seconds, flops_per_instruction);
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
