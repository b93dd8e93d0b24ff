// 3x3 stride-1 padding-1 convolutions of maps smaller than 4x4 (layer4 of 16 px multi-crop views: 2x2) as
// matrix products, one per pair of an output pixel and an input pixel a kernel tap joins, float32.
//
// On a 2x2 map, 5 of a 3x3 kernel's 9 taps fall on the zero padding for every output pixel: 16 of the 36
// (pixel, tap) products are real. A direct kernel computes over the padding anyway (oneDNN's backward-weights
// pass ran at 68 GFLOP/s of real products here, its forward at ~120), and Winograd's tiles cover more than the
// map. Here each map is laid out per pixel as a matrix [channels][batch], and every real (output pixel p, tap t)
// pair is one matrix product over the batch or the channels (t takes p to input pixel q):
//
//     forward           Y_p  += W_t   X_q       [oc x batch] = [oc x ic] [ic x batch]
//     backward-data     dX_q += W_t^T dY_p      [ic x batch] = [ic x oc] [oc x batch]
//     backward-weights  dW_t += dY_p  X_q^T     [oc x ic]    = [oc x batch] [batch x ic]
//
// with W_t the weights of tap t as an [oc x ic] matrix. Sums run in float32 in the matrix products' order,
// no transforms: the rounding of a direct convolution. The products are oneDNN's sgemm (its own threads).
#include "CKernels.h"
#include <oneapi/dnnl/dnnl.h>
#include <stdlib.h>
#include <string.h>

#define L SK_BLOCK

extern void GOMP_parallel(void (*fn)(void *), void *data, unsigned num_threads, unsigned flags);
extern int omp_get_thread_num(void);
extern int omp_get_num_threads(void);
extern void omp_set_num_threads(int);

struct sk_taps {
    int batch, ic, oc, h, w, threads;
    float *weights;          // W_t: [9][oc][ic]
    float *x, *y;            // per-pixel matrices of the source [hw][ic][batch] and the output [hw][oc][batch]
    float *sums;             // dW_t: [9][oc][ic], made on the first weight gradient
};

static float *buffer(size_t count) {
    void *p = NULL;
    if (posix_memalign(&p, 64, (count ? count : 1) * sizeof(float)) != 0) return NULL;
    return p;
}

sk_taps *sk_taps_create(int batch, int ic, int oc, int h, int w, int threads) {
    if (ic % L || oc % L || batch < 1 || h < 1 || w < 1 || threads < 1) return NULL;
    sk_taps *k = calloc(1, sizeof *k);
    if (!k) return NULL;
    *k = (sk_taps){.batch = batch, .ic = ic, .oc = oc, .h = h, .w = w, .threads = threads};
    size_t hw = (size_t)h * w;
    k->weights = buffer((size_t)9 * oc * ic);
    k->x = buffer(hw * ic * batch);
    k->y = buffer(hw * oc * batch);
    if (!k->weights || !k->x || !k->y) { sk_taps_destroy(k); return NULL; }
    return k;
}

size_t sk_taps_scratch_bytes(int batch, int ic, int oc, int h, int w, int weight_gradient) {
    size_t hw = (size_t)h * w, weights = (size_t)9 * oc * ic;
    return (weights * (weight_gradient ? 2 : 1) + hw * ic * batch + hw * oc * batch) * sizeof(float);
}

void sk_taps_destroy(sk_taps *k) {
    if (!k) return;
    free(k->weights); free(k->x); free(k->y); free(k->sums);
    free(k);
}

void sk_taps_set_weights(sk_taps *k, const float *weights) {
    size_t pairs = (size_t)k->oc * k->ic;
    for (size_t oi = 0; oi < pairs; oi++)
        for (int t = 0; t < 9; t++) k->weights[t * pairs + oi] = weights[oi * 9 + t];
}

// ---- layout: blocked nChw16c <-> per-pixel [hw][channels][batch], threads splitting the images ----------

struct relayout { const sk_taps *k; float *blocked; float *plain; int channels, to_plain; };

static void relayout_body(void *arg) {
    const struct relayout *r = arg;
    const sk_taps *k = r->k;
    int me = omp_get_thread_num(), team = omp_get_num_threads(), n = k->batch, hw = k->h * k->w, cb_count = r->channels / L;
    int n0 = (int)((long)n * me / team), n1 = (int)((long)n * (me + 1) / team);
    for (int b = n0; b < n1; b++)
        for (int cb = 0; cb < cb_count; cb++)
            for (int p = 0; p < hw; p++) {
                float *v = r->blocked + (((size_t)b * cb_count + cb) * hw + p) * L;
                float *m = r->plain + ((size_t)p * r->channels + (size_t)cb * L) * n + b;
                if (r->to_plain) for (int l = 0; l < L; l++) m[(size_t)l * n] = v[l];
                else for (int l = 0; l < L; l++) v[l] = m[(size_t)l * n];
            }
}

static void relayout(const sk_taps *k, const float *blocked, float *plain, int channels, int to_plain) {
    struct relayout r = {k, (float *)blocked, plain, channels, to_plain};
    if (k->threads <= 1) relayout_body(&r);
    else GOMP_parallel(relayout_body, &r, (unsigned)k->threads, 0);
}

/// Input pixel tap t takes output pixel (oy, ox) to, or -1 on the padding.
static int source_pixel(const sk_taps *k, int oy, int ox, int t) {
    int iy = oy + t / 3 - 1, ix = ox + t % 3 - 1;
    return iy < 0 || iy >= k->h || ix < 0 || ix >= k->w ? -1 : iy * k->w + ix;
}

static int gemm(char ta, char tb, int m, int n, int kk, const float *a, int lda, const float *b, int ldb, float beta,
                float *c, int ldc) {
    return dnnl_sgemm(ta, tb, m, n, kk, 1.0f, a, lda, b, ldb, beta, c, ldc) == dnnl_success ? 0 : -1;
}

int sk_taps_forward(const sk_taps *k, const float *src, float *dst) {
    omp_set_num_threads(k->threads);
    relayout(k, src, k->x, k->ic, 1);
    int n = k->batch, ic = k->ic, oc = k->oc, st = 0;
    for (int oy = 0; oy < k->h; oy++)
        for (int ox = 0; ox < k->w; ox++) {
            float *y = k->y + (size_t)(oy * k->w + ox) * oc * n, beta = 0;
            for (int t = 0; t < 9 && st == 0; t++) {
                int q = source_pixel(k, oy, ox, t);
                if (q < 0) continue;
                st = gemm('N', 'N', oc, n, ic, k->weights + (size_t)t * oc * ic, ic, k->x + (size_t)q * ic * n, n, beta, y, n);
                beta = 1;
            }
        }
    if (st == 0) relayout(k, dst, k->y, oc, 0);
    return st;
}

int sk_taps_backward_data(const sk_taps *k, const float *diff_dst, float *diff_src) {
    omp_set_num_threads(k->threads);
    relayout(k, diff_dst, k->y, k->oc, 1);
    int n = k->batch, ic = k->ic, oc = k->oc, st = 0;
    memset(k->x, 0, sizeof(float) * (size_t)k->h * k->w * ic * n);
    for (int oy = 0; oy < k->h; oy++)
        for (int ox = 0; ox < k->w; ox++)
            for (int t = 0; t < 9 && st == 0; t++) {
                int q = source_pixel(k, oy, ox, t);
                if (q < 0) continue;
                st = gemm('T', 'N', ic, n, oc, k->weights + (size_t)t * oc * ic, ic, k->y + (size_t)(oy * k->w + ox) * oc * n, n,
                          1, k->x + (size_t)q * ic * n, n);
            }
    if (st == 0) relayout(k, diff_src, k->x, ic, 0);
    return st;
}

int sk_taps_backward_weights(sk_taps *k, const float *src, const float *diff_dst, float *diff_weights) {
    omp_set_num_threads(k->threads);
    relayout(k, src, k->x, k->ic, 1);
    relayout(k, diff_dst, k->y, k->oc, 1);
    int n = k->batch, ic = k->ic, oc = k->oc, st = 0;
    size_t pairs = (size_t)oc * ic;
    // dW_t is summed tap-major (the matrix products write whole rows), then written as [oc][ic][3][3].
    if (!k->sums && !(k->sums = buffer(9 * pairs))) return -1;
    float *sums = k->sums;
    for (int t = 0; t < 9 && st == 0; t++) {
        float beta = 0;
        for (int oy = 0; oy < k->h && st == 0; oy++)
            for (int ox = 0; ox < k->w && st == 0; ox++) {
                int q = source_pixel(k, oy, ox, t);
                if (q < 0) continue;
                st = gemm('N', 'T', oc, ic, n, k->y + (size_t)(oy * k->w + ox) * oc * n, n, k->x + (size_t)q * ic * n, n, beta,
                          sums + t * pairs, ic);
                beta = 1;
            }
        if (beta == 0) memset(sums + t * pairs, 0, sizeof(float) * pairs);   // a tap that never meets the map
    }
    if (st == 0)
        for (size_t oi = 0; oi < pairs; oi++)
            for (int t = 0; t < 9; t++) diff_weights[oi * 9 + t] = sums[t * pairs + oi];
    return st;
}
