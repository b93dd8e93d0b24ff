// Batch norm, element-wise, pooling and layout kernels on blocked (nChw16c) feature maps.
//
// Every loop runs over 16 lanes, the channels of one channel block at one pixel, so the compiler turns
// the lane loops into one AVX-512 (or two AVX2) operations; `CLONES` builds each kernel for AVX-512,
// AVX2 and baseline x86-64, and the loader picks the best the CPU has.
#include "CKernels.h"
#include <math.h>
#include <string.h>

#if defined(__x86_64__)
#define CLONES __attribute__((target_clones("arch=x86-64-v4", "arch=x86-64-v3", "default")))
#else
#define CLONES
#endif

#define L SK_BLOCK
/// Pixels per float partial sum: short runs keep float rounding small, doubles carry the total.
#define RUN 256

/// The 16 lanes of one channel block at one pixel (unaligned access allowed).
typedef float lanes __attribute__((vector_size(64), aligned(4)));
typedef double wide_lanes __attribute__((vector_size(128), aligned(8)));
typedef int32_t int_lanes __attribute__((vector_size(64), aligned(4)));

// Macros rather than functions: each kernel clone must inline them for its own instruction set.
#define load(p) (*(const lanes *)(p))
#define store(p, v) (*(lanes *)(p) = (v))
#define relu_lanes(v) __builtin_elementwise_max((v), (lanes){0})
/// g where the forward output was positive, else +0 (ReLU's backward).
#define mask_lanes(g, output) ((lanes)((int_lanes)(g) & ((output) > 0)))
#define accumulate(total, part) (*(wide_lanes *)(total) += __builtin_convertvector((part), wide_lanes))

/// Float partials run over at most RUN pixels of one plane (one image's channel block) before they join the
/// double totals, never across images: a plane's partial is then the same whichever images share a process or
/// a thread, and N ranks' statistics equal one process's (DistributedInvariantTests) up to double rounding.
CLONES void sk_bn_sums(const float *x, int cb_count, int hw, int q0, int q1, double *sum, double *sumsq) {
    for (int q = q0; q < q1; q++) {
        const float *p = x + (size_t)q * hw * L;
        int cb = q % cb_count;
        for (int start = 0; start < hw; start += RUN) {
            int end = start + RUN < hw ? start + RUN : hw;
            lanes a = {0}, b = {0};
            for (int i = start; i < end; i++) { lanes v = load(p + (size_t)i * L); a += v; b += v * v; }
            accumulate(sum + cb * L, a);
            accumulate(sumsq + cb * L, b);
        }
    }
}

/// Planes handled together: small planes are grouped up to RUN pixels, so the bf16 conversion and the loop
/// overheads run per RUN pixels rather than per plane (consecutive planes are adjacent in memory).
static inline int plane_group(int hw) { return hw < RUN ? RUN / hw : 1; }

CLONES void sk_bn_apply(const float *x, const float *residual, float *y, uint16_t *y16, const float *scale,
                        const float *shift, int relu, int cb_count, int hw, int q0, int q1) {
    float tmp[RUN * L] __attribute__((aligned(64)));
    int group = plane_group(hw);
    for (int q = q0; q < q1; q += group) {
        int qe = q + group < q1 ? q + group : q1;
        for (int start = 0; start < hw; start += RUN) {   // one pass when planes are grouped
            int n = (start + RUN < hw ? RUN : hw - start) * L;
            size_t first = ((size_t)q * hw + start) * L;
            float *chunk = y ? y + first : tmp;
            for (int pl = q; pl < qe; pl++) {
                int cb = pl % cb_count;
                lanes sc = load(scale + cb * L), sh = load(shift + cb * L);
                size_t o = first + (size_t)(pl - q) * hw * L;
                const float *xp = x + o;
                float *out = chunk + (size_t)(pl - q) * hw * L;
                if (residual) {
                    const float *r = residual + o;
                    if (relu) for (int i = 0; i < n; i += L) store(out + i, relu_lanes(load(xp + i) * sc + sh + load(r + i)));
                    else for (int i = 0; i < n; i += L) store(out + i, load(xp + i) * sc + sh + load(r + i));
                } else {
                    if (relu) for (int i = 0; i < n; i += L) store(out + i, relu_lanes(load(xp + i) * sc + sh));
                    else for (int i = 0; i < n; i += L) store(out + i, load(xp + i) * sc + sh);
                }
            }
            if (y16) sk_f32_to_bf16(chunk, y16 + first, (size_t)(qe - q) * n);
        }
    }
}

CLONES void sk_bn_grad_sums(const float *x, const float *dy, const float *relu_output, float *masked,
                            const float *mean, int cb_count, int hw, int q0, int q1, double *sum_dy, double *sum_dyx) {
    for (int q = q0; q < q1; q++) {
        int cb = q % cb_count;
        lanes m = load(mean + cb * L);
        for (int start = 0; start < hw; start += RUN) {
            int n = (start + RUN < hw ? RUN : hw - start) * L;
            size_t o = ((size_t)q * hw + start) * L;
            lanes a = {0}, b = {0};
            for (int i = 0; i < n; i += L) {
                lanes g = load(dy + o + i);
                if (relu_output) {
                    g = mask_lanes(g, load(relu_output + o + i));
                    if (masked) store(masked + o + i, g);
                }
                a += g;
                b += g * (load(x + o + i) - m);
            }
            accumulate(sum_dy + cb * L, a);
            accumulate(sum_dyx + cb * L, b);
        }
    }
}

CLONES void sk_bn_input_grad(const float *x, const float *g, const float *relu_output, float *dx, uint16_t *dx16, const float *mean,
                             const float *k, const float *mean_dy, const float *c2, int cb_count, int hw,
                             int q0, int q1) {
    float tmp[RUN * L] __attribute__((aligned(64)));
    int group = plane_group(hw);
    for (int q = q0; q < q1; q += group) {
        int qe = q + group < q1 ? q + group : q1;
        for (int start = 0; start < hw; start += RUN) {   // one pass when planes are grouped
            int n = (start + RUN < hw ? RUN : hw - start) * L;
            size_t first = ((size_t)q * hw + start) * L;
            float *chunk = dx ? dx + first : tmp;
            for (int pl = q; pl < qe; pl++) {
                int cb = pl % cb_count;
                lanes m = load(mean + cb * L), kk = load(k + cb * L), md = load(mean_dy + cb * L), cc = load(c2 + cb * L);
                size_t o = first + (size_t)(pl - q) * hw * L;
                float *out = chunk + (size_t)(pl - q) * hw * L;
                if (relu_output) {
                    for (int i = 0; i < n; i += L) {
                        lanes gi = mask_lanes(load(g + o + i), load(relu_output + o + i));
                        store(out + i, kk * (gi - md - (load(x + o + i) - m) * cc));
                    }
                } else {
                    for (int i = 0; i < n; i += L) store(out + i, kk * (load(g + o + i) - md - (load(x + o + i) - m) * cc));
                }
            }
            if (dx16) sk_f32_to_bf16(chunk, dx16 + first, (size_t)(qe - q) * n);
        }
    }
}

CLONES void sk_add(const float *x, const float *a, float *y, size_t i0, size_t i1) {
    for (size_t i = i0; i < i1; i++) y[i] = x[i] + a[i];
}

CLONES void sk_relu(const float *x, float *y, size_t i0, size_t i1) {
    for (size_t i = i0; i < i1; i++) y[i] = x[i] > 0 ? x[i] : 0;
}

CLONES void sk_relu_backward(const float *relu_output, const float *dy, float *dx, size_t i0, size_t i1) {
    for (size_t i = i0; i < i1; i++) dx[i] = relu_output[i] > 0 ? dy[i] : 0;
}

CLONES void sk_global_avg_forward(const float *x, float *features, int channels, int hw, int n0, int n1) {
    int cb_count = (channels + L - 1) / L;
    float inv = 1.0f / (float)hw;
    for (int n = n0; n < n1; n++) {
        for (int cb = 0; cb < cb_count; cb++) {
            const float *p = x + ((size_t)n * cb_count + cb) * hw * L;
            lanes s = {0};
            for (int i = 0; i < hw; i++) s += load(p + (size_t)i * L);
            for (int l = 0; l < L && cb * L + l < channels; l++) features[(size_t)n * channels + cb * L + l] = s[l] * inv;
        }
    }
}

CLONES void sk_global_avg_backward(const float *grad_features, float *dx, int channels, int hw, int n0, int n1) {
    int cb_count = (channels + L - 1) / L;
    float inv = 1.0f / (float)hw;
    for (int n = n0; n < n1; n++) {
        for (int cb = 0; cb < cb_count; cb++) {
            lanes v;
            for (int l = 0; l < L; l++) {
                int c = cb * L + l;
                v[l] = c < channels ? grad_features[(size_t)n * channels + c] * inv : 0;
            }
            float *p = dx + ((size_t)n * cb_count + cb) * hw * L;
            for (int i = 0; i < hw; i++) store(p + (size_t)i * L, v);
        }
    }
}

void sk_maxpool_forward(const float *x, float *y, int32_t *argmax, int ih, int iw, int oh, int ow,
                        int kernel, int stride, int padding, int q0, int q1) {
    for (int q = q0; q < q1; q++) {
        const float *src = x + (size_t)q * ih * iw * L;
        float *dst = y + (size_t)q * oh * ow * L;
        int32_t *arg = argmax + (size_t)q * oh * ow * L;
        for (int oy = 0; oy < oh; oy++) {
            for (int ox = 0; ox < ow; ox++) {
                float best[L];
                int32_t at[L];
                for (int l = 0; l < L; l++) { best[l] = -INFINITY; at[l] = -1; }
                for (int ky = 0; ky < kernel; ky++) {
                    int iy = oy * stride - padding + ky;
                    if (iy < 0 || iy >= ih) continue;
                    for (int kx = 0; kx < kernel; kx++) {
                        int ix = ox * stride - padding + kx;
                        if (ix < 0 || ix >= iw) continue;
                        const float *v = src + ((size_t)iy * iw + ix) * L;
                        // Strict > keeps the first maximum, as PyTorch does.
                        for (int l = 0; l < L; l++) {
                            if (v[l] > best[l] || at[l] < 0) { best[l] = v[l]; at[l] = iy * iw + ix; }
                        }
                    }
                }
                size_t o = ((size_t)oy * ow + ox) * L;
                for (int l = 0; l < L; l++) { dst[o + l] = best[l]; arg[o + l] = at[l]; }
            }
        }
    }
}

void sk_maxpool_backward(const float *dy, const int32_t *argmax, float *dx, int ih, int iw, int oh, int ow,
                         int q0, int q1) {
    for (int q = q0; q < q1; q++) {
        float *d = dx + (size_t)q * ih * iw * L;
        memset(d, 0, sizeof(float) * (size_t)ih * iw * L);
        const float *g = dy + (size_t)q * oh * ow * L;
        const int32_t *a = argmax + (size_t)q * oh * ow * L;
        for (size_t o = 0; o < (size_t)oh * ow; o++) {
            for (int l = 0; l < L; l++) d[(size_t)a[o * L + l] * L + l] += g[o * L + l];
        }
    }
}

// Layout conversions. `channel_stride`/`image_stride` describe the plain layout: NCHW has
// (hw, channels*hw), CNHW has (batch*hw, hw).
static void plain_to_blocked(const float *src, float *dst, int channels, int hw, size_t channel_stride,
                             size_t image_stride, int n0, int n1) {
    int cb_count = (channels + L - 1) / L;
    for (int n = n0; n < n1; n++) {
        for (int cb = 0; cb < cb_count; cb++) {
            float *p = dst + ((size_t)n * cb_count + cb) * hw * L;
            for (int l = 0; l < L; l++) {
                int c = cb * L + l;
                const float *s = src + n * image_stride + c * channel_stride;
                for (int i = 0; i < hw; i++) p[(size_t)i * L + l] = c < channels ? s[i] : 0;
            }
        }
    }
}

static void blocked_to_plain(const float *src, float *dst, int channels, int hw, size_t channel_stride,
                             size_t image_stride, int n0, int n1) {
    int cb_count = (channels + L - 1) / L;
    for (int n = n0; n < n1; n++) {
        for (int c = 0; c < channels; c++) {
            const float *p = src + ((size_t)n * cb_count + c / L) * hw * L + c % L;
            float *d = dst + n * image_stride + c * channel_stride;
            for (int i = 0; i < hw; i++) d[i] = p[(size_t)i * L];
        }
    }
}

void sk_nchw_to_blocked(const float *src, float *dst, int batch, int channels, int hw, int n0, int n1) {
    (void)batch;
    plain_to_blocked(src, dst, channels, hw, (size_t)hw, (size_t)channels * hw, n0, n1);
}

void sk_blocked_to_nchw(const float *src, float *dst, int batch, int channels, int hw, int n0, int n1) {
    (void)batch;
    blocked_to_plain(src, dst, channels, hw, (size_t)hw, (size_t)channels * hw, n0, n1);
}

void sk_cnhw_to_blocked(const float *src, float *dst, int batch, int channels, int hw, int n0, int n1) {
    plain_to_blocked(src, dst, channels, hw, (size_t)batch * hw, (size_t)hw, n0, n1);
}

void sk_blocked_to_cnhw(const float *src, float *dst, int batch, int channels, int hw, int n0, int n1) {
    blocked_to_plain(src, dst, channels, hw, (size_t)batch * hw, (size_t)hw, n0, n1);
}
