// C half of the kernel layer: what needs intrinsics or a C library.
//
// - cpu_features.c: what the CPU and OS offer (cpuid, XCR0, AMX tile permission); affinity.c: usable CPUs,
//   binding a thread to a CPU;
// - bf16.c: float32 <-> bfloat16 conversion, round to nearest even;
// - dnnl_conv.c: 2-D convolutions (forward, backward-data, backward-weights) through oneDNN;
// - blocked.c: batch norm, element-wise, pooling and layout kernels on blocked feature maps.
//
// Blocked feature maps ("nChw16c"): float[N][ceil(C/16)][H][W][16]; channel c of image n at pixel p is
// element ((n * CB + c / 16) * HW + p) * 16 + c % 16. Lanes of channels >= C are zero.
#ifndef CKERNELS_H
#define CKERNELS_H

#include <stddef.h>
#include <stdint.h>

#define SK_BLOCK 16

// ---- CPU features -------------------------------------------------------------------------------
typedef struct {
    int avx2, fma, avx512f, avx512bw, avx512vl, avx512_bf16, amx_tile, amx_bf16;
    /// The OS saves AMX tile state (XCR0 bits 17-18) and granted this process the permission to use it.
    int amx_os_enabled;
    /// Logical processors seen by cpuid (not the affinity mask), and the nominal clock in MHz when cpuid says.
    int base_mhz, max_mhz;
    char vendor[13];
    char brand[49];
} sk_cpu_features;

void sk_cpu_features_read(sk_cpu_features *out);

/// CPUs in this process's affinity mask (sched_getaffinity), e.g. 1 for a rank bound to one core; at least 1.
int sk_affinity_cpu_count(void);
/// The calling thread's kernel thread id (gettid), so another thread can read its CPUs with sk_thread_cpus.
int sk_current_thread_id(void);
/// Names the calling thread for ps, top -H and perf (at most 15 characters are kept).
void sk_name_current_thread(const char *name);
/// Binds the calling thread to `cpu` alone (sched_setaffinity): 0, or an errno value (EINVAL for a CPU this
/// machine does not have or this process's cpuset does not allow).
int sk_bind_current_thread(int cpu);
/// The calling thread may run on exactly `cpus[0..<count]`: 0, or an errno value.
int sk_set_current_thread_cpus(const int *cpus, int count);
/// Writes the CPUs thread `tid` may run on (0: the calling thread), in increasing order, to cpus[0..<capacity];
/// returns how many there are (possibly more than `capacity`), or -errno.
int sk_thread_cpus(int tid, int *cpus, int capacity);

// ---- bfloat16 -------------------------------------------------------------------------------------
/// dst[i] = bf16(src[i]), round to nearest even (NaN stays NaN).
void sk_f32_to_bf16(const float *src, uint16_t *dst, size_t count);
/// dst[i] = float(src[i]).
void sk_bf16_to_f32(const uint16_t *src, float *dst, size_t count);
/// dst[i] = float(bf16(src[i])): the rounding of the bf16 path kept in float32 storage (the reference path).
void sk_round_to_bf16(const float *src, float *dst, size_t count);

// ---- oneDNN convolution ---------------------------------------------------------------------------
typedef struct sk_conv sk_conv;

typedef struct {
    int batch, in_channels, out_channels, in_height, in_width;
    int kernel, stride, padding;
    /// 1: the source is plain NCHW (the network's input images), 0: blocked nChw16c.
    int plain_source;
    /// 1: source, weights and output gradient in bf16 (outputs and gradients float32), 0: all float32.
    int bf16;
    /// 0 when no input gradient is ever asked for (the first layer).
    int backward_data;
    /// The algorithm of each pass (SK_CONV_DIRECT, SK_CONV_WINOGRAD, SK_CONV_WINOGRAD_2X2, SK_CONV_TAPS).
    /// oneDNN's Winograd F(4x4, 3x3) exists for float32 3x3 stride-1 convolutions of blocked maps; our
    /// F(2x2, 3x3) (winograd.c) for 3x3 stride-1 padding-1 ones, in float32 and bf16, forward and backward-data,
    /// and in bf16 also backward-weights (winograd_weights.c); our per-tap matrix products (conv_taps.c) for
    /// float32 3x3 stride-1 padding-1 ones, every pass. Elsewhere a pass runs direct.
    int forward_algorithm, backward_data_algorithm, backward_weights_algorithm;
} sk_conv_shape;

enum { SK_CONV_DIRECT = 0, SK_CONV_WINOGRAD = 1, SK_CONV_WINOGRAD_2X2 = 2, SK_CONV_TAPS = 3 };

/// Creates the primitives for one convolution shape; NULL with a message in `error` on failure.
sk_conv *sk_conv_create(const sk_conv_shape *shape, char *error, size_t error_size);
void sk_conv_destroy(sk_conv *conv);
/// Converts float32 [O, I, kh, kw] weights into the primitives' own layouts (and to bf16); once per step.
int sk_conv_set_weights(sk_conv *conv, const float *weights);
/// dst (blocked float32) = conv(src); src is float32 or bf16 as the shape says. `src_f32` (may be NULL): on the
/// bf16 path, the float32 values src was rounded from; F(2x2) Winograd then rounds its transform of them once
/// instead of transforming rounded values and rounding again.
int sk_conv_forward(sk_conv *conv, const void *src, const float *src_f32, float *dst);
/// diff_src (float32, the source's layout) = conv^T(diff_dst); diff_dst is blocked, float32 or bf16.
int sk_conv_backward_data(sk_conv *conv, const void *diff_dst, float *diff_src);
/// diff_weights (float32 [O, I, kh, kw], overwritten) from src and diff_dst. `src_f32` (may be NULL): as in
/// sk_conv_forward, for our bf16 Winograd weight gradient.
int sk_conv_backward_weights(sk_conv *conv, const void *src, const float *src_f32, const void *diff_dst, float *diff_weights);
/// The oneDNN implementation chosen for 0: forward, 1: backward-data, 2: backward-weights ("none" before
/// the backward passes first run).
const char *sk_conv_implementation(const sk_conv *conv, int which);
/// The algorithm pass `which` (as above) really runs: SK_CONV_WINOGRAD only where it was asked for and
/// oneDNN has it (-1 before the backward passes first run).
int sk_conv_algorithm(const sk_conv *conv, int which);
/// Threads oneDNN's OpenMP regions use.
void sk_set_threads(int threads);
/// oneDNN's version, e.g. "2.6.3".
const char *sk_dnnl_version(void);
/// The most capable instruction set oneDNN's CPU kernels may use, as it names it.
const char *sk_dnnl_isa(void);

// ---- Winograd F(2x2, 3x3) (winograd.c) -------------------------------------------------------------
typedef struct sk_wino sk_wino;
/// 1 when the CPU runs our Winograd kernels (AVX-512; bf16 also needs AVX512_BF16).
int sk_wino_supported(int bf16);
/// A 3x3 stride-1 padding-1 convolution of blocked maps, `ic` -> `oc` channels (multiples of 16), h x w, with
/// the element-wise stage in float32 or (bf16) on `vdpbf16ps`, on `threads` threads; NULL when not possible.
sk_wino *sk_wino_create(int batch, int ic, int oc, int h, int w, int bf16, int threads);
void sk_wino_destroy(sk_wino *k);
/// Transforms float32 weights [oc][ic][3][3]; `transposed`: [ic][oc][3][3] turned by 180 degrees (the
/// backward-data pass of a convolution whose weights these are).
void sk_wino_set_weights(sk_wino *k, const float *weights, int transposed);
/// The same, one channel pair at a time (the plain loop the fast version must equal bit for bit; tests).
void sk_wino_set_weights_reference(sk_wino *k, const float *weights, int transposed);
/// dst (blocked float32, overwritten, 64-byte aligned) = conv(src); src is blocked float32 or bf16 (`src_bf16`);
/// on up to `threads` threads (at most those it was created for).
int sk_wino_forward(const sk_wino *k, const void *src, int src_bf16, float *dst, int threads);
/// The scratch such a convolution shares with every other of the process when its transformed weights outgrow
/// the cache (the group schedule, winograd.c): 0 for the others and where the kernel does not run.
size_t sk_wino_scratch_bytes(int batch, int ic, int oc, int h, int w, int bf16);

// ---- Winograd F(3x3, 2x2) weight gradient in bf16 (winograd_weights.c) -------------------------------
typedef struct sk_wgrad sk_wgrad;
/// The weight gradient of a 3x3 padding-1 convolution of blocked maps, `ic` -> `oc` channels (multiples of
/// 16), source h x w, products on `vdpbf16ps`, on `threads` threads: by Winograd F(3x3, 2x2) at stride 1,
/// direct (tap by tap) at stride 2; NULL when not possible (no AVX512_BF16, another stride).
sk_wgrad *sk_wgrad_create(int batch, int ic, int oc, int h, int w, int stride, int threads);
void sk_wgrad_destroy(sk_wgrad *k);
/// diff_weights (float32 [oc][ic][3][3], overwritten) from the blocked source and output gradient, each
/// float32 or bf16 as its flag says (float32 values are rounded once, after their transform); 0 or -1.
int sk_wgrad_run(const sk_wgrad *k, const void *src, int src_bf16, const void *diff_dst, int diff_dst_bf16, float *diff_weights);
/// The scratch thread `part` of a weight gradient `ic` -> `oc` on `threads` threads needs (0 for a part that
/// does not exist, or where the kernel is not possible). The scratch is shared by every weight gradient of
/// the process: each part's buffer grows to the largest layer's need and is kept.
size_t sk_wgrad_scratch_bytes(int ic, int oc, int stride, int threads, int part);

// ---- 3x3 convolutions of small maps by per-tap matrix products, float32 (conv_taps.c) -----------------
typedef struct sk_taps sk_taps;
/// A 3x3 stride-1 padding-1 convolution of blocked float32 maps, `ic` -> `oc` channels (multiples of 16), h x w,
/// as one matrix product per (output pixel, kernel tap) that does not fall on the padding; NULL on bad sizes.
sk_taps *sk_taps_create(int batch, int ic, int oc, int h, int w, int threads);
void sk_taps_destroy(sk_taps *k);
/// The bytes a per-tap kernel of this shape allocates: its tap-major weights and per-pixel matrices, and with
/// `weight_gradient` the weight-gradient sums (made on the first backward-weights pass).
size_t sk_taps_scratch_bytes(int batch, int ic, int oc, int h, int w, int weight_gradient);
/// Takes float32 [oc][ic][3][3] weights (already padded to whole blocks).
void sk_taps_set_weights(sk_taps *k, const float *weights);
int sk_taps_forward(const sk_taps *k, const float *src, float *dst);
int sk_taps_backward_data(const sk_taps *k, const float *diff_dst, float *diff_src);
/// diff_weights: [oc][ic][3][3], overwritten. 0 or -1.
int sk_taps_backward_weights(sk_taps *k, const float *src, const float *diff_dst, float *diff_weights);

// ---- machine limits (roofline.c) --------------------------------------------------------------------
/// Instructions per second of `threads` threads (summed) running, all at once, nothing but independent FMAs
/// (fp32: AVX-512, else AVX2) or, with bf16, `vdpbf16ps` (0 when the CPU lacks them), timed for `seconds`
/// after a short warm-up; `*flops_per_instruction` receives the instruction's FLOPs (a multiply-add counts 2).
double sk_fma_loop(int bf16, int threads, double seconds, double *flops_per_instruction);
/// The mean clock in Hz of `threads` threads running at once, each a chain of dependent integer additions
/// (one cycle each), timed for `seconds` after a short warm-up; 0 off x86-64.
double sk_clock_hz(int threads, double seconds);
/// Best GFLOP/s of an m x k by k x n oneDNN matrix product (bf16 or fp32 inputs, fp32 output) on `threads`
/// threads over `repeats` timed runs; 0 when oneDNN cannot build it.
double sk_dnnl_matmul_gflops(int m, int n, int k, int bf16, int threads, int repeats);

// ---- threads -------------------------------------------------------------------------------------
typedef void (*sk_chunk_body)(void *context, int chunk);
/// Runs body(context, c) for every c in [0, chunks) on up to `threads` threads of the OpenMP team that
/// oneDNN uses (the calling thread is one of them); returns when all are done.
void sk_parallel_chunks(int chunks, int threads, sk_chunk_body body, void *context);
/// 1 on the process's main thread outside a parallel region (where a team may start), else 0.
int sk_parallel_may_start_team(void);

// ---- blocked feature-map kernels -------------------------------------------------------------------
// Work is split by "planes": plane q = n * CB + cb holds HW vectors of 16 lanes. Functions taking
// [q0, q1) process those planes only, so callers can spread planes over threads.

/// Per-lane sums over planes [q0, q1): sum[cb*16+l] += x, sumsq[...] += x*x (double accumulators).
void sk_bn_sums(const float *x, int cb_count, int hw, int q0, int q1, double *sum, double *sumsq);
/// y = x * scale + shift (+ residual), optionally ReLU, optionally also written as bf16 into y16.
/// scale/shift have CB*16 entries. y may be NULL when only y16 is wanted.
void sk_bn_apply(const float *x, const float *residual, float *y, uint16_t *y16, const float *scale,
                 const float *shift, int relu, int cb_count, int hw, int q0, int q1);
/// Gradient sums for BatchNorm backward over planes [q0, q1). When `relu_output` is given, dy is first
/// masked by relu_output > 0 and the masked gradient written to `masked` (which may alias nothing else).
/// sum_dy += g, sum_dyx += g * (x - mean) (double accumulators; the caller multiplies by invstd).
void sk_bn_grad_sums(const float *x, const float *dy, const float *relu_output, float *masked,
                     const float *mean, int cb_count, int hw, int q0, int q1, double *sum_dy, double *sum_dyx);
/// dx = k * (g - mean_dy - (x - mean) * c2) per lane, with k = gamma*invstd, c2 = invstd^2 * mean_dyx,
/// written as float32 into dx and/or bf16 into dx16 (either may be NULL). With `relu_output`, g is first
/// masked by relu_output > 0.
void sk_bn_input_grad(const float *x, const float *g, const float *relu_output, float *dx, uint16_t *dx16, const float *mean,
                      const float *k, const float *mean_dy, const float *c2, int cb_count, int hw, int q0, int q1);

/// y = x + a (in place allowed), over [i0, i1) floats.
void sk_add(const float *x, const float *a, float *y, size_t i0, size_t i1);
/// dx = relu_output > 0 ? dy : 0, over [i0, i1).
void sk_relu_backward(const float *relu_output, const float *dy, float *dx, size_t i0, size_t i1);
/// y = max(x, 0), over [i0, i1).
void sk_relu(const float *x, float *y, size_t i0, size_t i1);

/// features[n][c] = mean over pixels of x (row-major [N, C]) for images [n0, n1).
void sk_global_avg_forward(const float *x, float *features, int channels, int hw, int n0, int n1);
/// dx = broadcast of grad_features / hw, for images [n0, n1); padded lanes get zero.
void sk_global_avg_backward(const float *grad_features, float *dx, int channels, int hw, int n0, int n1);

/// Max pool on blocked maps for planes [q0, q1); argmax holds the chosen input pixel per output lane.
void sk_maxpool_forward(const float *x, float *y, int32_t *argmax, int ih, int iw, int oh, int ow,
                        int kernel, int stride, int padding, int q0, int q1);
void sk_maxpool_backward(const float *dy, const int32_t *argmax, float *dx, int ih, int iw, int oh, int ow,
                         int q0, int q1);

/// Layout conversions for images [n0, n1): NCHW <-> blocked and CNHW <-> blocked.
void sk_nchw_to_blocked(const float *src, float *dst, int batch, int channels, int hw, int n0, int n1);
void sk_blocked_to_nchw(const float *src, float *dst, int batch, int channels, int hw, int n0, int n1);
void sk_cnhw_to_blocked(const float *src, float *dst, int batch, int channels, int hw, int n0, int n1);
void sk_blocked_to_cnhw(const float *src, float *dst, int batch, int channels, int hw, int n0, int n1);

#endif
