// Winograd F(2x2, 3x3) convolutions of blocked (nChw16c) maps: 3x3, stride 1, padding 1, channels in whole
// 16-channel blocks. Our own, because oneDNN 2.6 has Winograd only as F(4x4, 3x3) and only in float32: F(4x4)'s
// transforms (points 0, +-1, +-2, +-1/2) round noticeably worse than a direct convolution, and bf16 has none.
//
// F(2x2, 3x3) computes a 2x2 output tile from a 4x4 input tile d and the 3x3 kernel g as
//
//     Y = A^T [ (G g G^T) .* (B^T d B) ] A        B^T = | 1  0 -1  0 |   G = | 1    0    0  |   A^T = | 1 1  1  0 |
//                                                       | 0  1  1  0 |       | 1/2  1/2 1/2 |         | 0 1 -1 -1 |
//                                                       | 0 -1  1  0 |       | 1/2 -1/2 1/2 |
//                                                       | 0  1  0 -1 |       | 0    0    1  |
//
// with 16 products per tile instead of 36 (2.25x fewer), and transforms whose coefficients are 0, +-1 and
// +-1/2, so it rounds about as a direct convolution does. Summed over input channels, the 16 products of
// every tile position are 16 matrix products M_p[tile][oc] = sum_ic V_p[tile][ic] U_p[ic][oc] (V = B^T d B,
// U = G g G^T): the element-wise stage, computed with FMAs (float32) or `vdpbf16ps` (bf16 V and U, float32
// sums; the transforms stay in float32, so a bf16 operand is rounded once, after its transform).
//
// Work is split by chunks of tiles: a thread transforms the inputs of a chunk into V (all input channels,
// resident in its cache), multiplies V by U for every position, and transforms the products into the output
// tiles before the next chunk. U is built once per weight update.
//
// Where U outgrows the cache (over 4 MB: 512 x 512 channels in bf16, ResNet-18's layer4), a chunk holds only
// ROWS tiles and every chunk read all of U again: 8 MB per 14 tiles, ~300 MB per pass at batch 128, and the
// micro-kernel waited on U's loads for three quarters of its time. There the group schedule runs instead: V of
// a whole group of tiles (up to 32 MB of V and M together), then each position's and output block's product
// over every tile of the group with one slice of U in the cache, then the output transform. The same sums in
// the same order: the output is bit for bit the chunk schedule's. Its V and M are one scratch shared by every
// convolution of the process (one runs at a time), `sk_wino_scratch_bytes`.
#include "CKernels.h"
#include <pthread.h>
#include <stdlib.h>
#include <string.h>

#if defined(__x86_64__)
#include <immintrin.h>
#endif

#define L SK_BLOCK
#define ROWS 14          /* tiles per micro-kernel: 14 x 2 vectors = 28 accumulators of the 32 registers */

extern void GOMP_parallel(void (*fn)(void *), void *data, unsigned num_threads, unsigned flags);
extern int omp_get_thread_num(void);
extern int omp_get_num_threads(void);

struct sk_wino {
    int batch, ic, oc, h, w;          // ic, oc: multiples of 16
    int bf16;
    int tiles_h, tiles_w, tiles;      // tiles per image row/column, tiles in the batch
    int chunk;                        // tiles per chunk (a multiple of ROWS)
    // V[row][p][ic] and M[row][p][oc]: a tile's 16 positions side by side (the transforms read and write them
    // together); rows are padded by one vector so that the micro-kernel's 14 rows never share a cache set.
    size_t vrow, mrow;
    int threads;
    // U[p][ic][oc] (float32) or U[p][ic/2][oc][2] (bf16 pairs: one 32-bit word = two input channels).
    void *u;
    // Per thread: V[p][chunk][ic] (float32 or bf16) and M[p][chunk][oc] (float32).
    void **v;
    float **m;
    int group;                        // tiles per group of the group schedule (a multiple of ROWS); 0: chunks
    size_t group_bytes;               // the group schedule's scratch (V and M of one group)
};

static void *aligned(size_t bytes) {
    void *p = NULL;
    if (posix_memalign(&p, 64, bytes ? bytes : 64) != 0) return NULL;
    memset(p, 0, bytes);
    return p;
}

int sk_wino_supported(int bf16) {
#if defined(__x86_64__)
    sk_cpu_features f;
    sk_cpu_features_read(&f);
    return f.avx512f && f.avx512bw && f.avx512vl && f.avx512_bf16 + !bf16 > 0;
#else
    (void)bf16;
    return 0;
#endif
}

/// Values per row of V (one tile: 16 positions x ic) and of M (16 x oc), each padded by one vector so that the
/// micro-kernel's 14 rows never share a cache set.
static size_t v_row(int ic, int bf16) { return (size_t)16 * ic + (bf16 ? 32 : 16); }
static size_t m_row(int oc) { return (size_t)16 * oc + 16; }

#define GROUP_BYTES ((size_t)32 << 20)   /* the group schedule's V and M together, at most */

/// Tiles per group when the group schedule runs (see the top of the file), else 0; *bytes: its scratch.
static int group_tiles(int batch, int ic, int oc, int h, int w, int bf16, size_t *bytes) {
    *bytes = 0;
    if ((size_t)16 * ic * oc * (bf16 ? 2 : 4) <= ((size_t)4 << 20)) return 0;
    size_t per_row = v_row(ic, bf16) * (bf16 ? 2 : 4) + m_row(oc) * 4;
    long tiles = (long)batch * ((h + 1) / 2) * ((w + 1) / 2), needed = (tiles + ROWS - 1) / ROWS * ROWS;
    long cap = (long)(GROUP_BYTES / per_row) / ROWS * ROWS;
    long rows = needed < cap ? needed : cap;
    if (rows < ROWS) rows = ROWS;
    *bytes = (size_t)rows * per_row + 128;
    return (int)rows;
}

size_t sk_wino_scratch_bytes(int batch, int ic, int oc, int h, int w, int bf16) {
    size_t bytes;
    if (ic % L || oc % L || (bf16 && ic % 2) || !sk_wino_supported(bf16)) return 0;
    group_tiles(batch, ic, oc, h, w, bf16, &bytes);
    return bytes;
}

sk_wino *sk_wino_create(int batch, int ic, int oc, int h, int w, int bf16, int threads) {
    if (ic % L || oc % L || (bf16 && ic % 2) || threads < 1) return NULL;
    sk_wino *k = calloc(1, sizeof *k);
    if (!k) return NULL;
    k->batch = batch; k->ic = ic; k->oc = oc; k->h = h; k->w = w; k->bf16 = bf16; k->threads = threads;
    k->tiles_h = (h + 1) / 2; k->tiles_w = (w + 1) / 2;
    k->tiles = batch * k->tiles_h * k->tiles_w;
    // V and M of a chunk together about 384 KiB: they stay in a core's L2 cache between the three stages.
    int per_tile = 16 * (ic * (bf16 ? 2 : 4) + oc * 4);
    int chunk = (384 * 1024 / per_tile) / ROWS * ROWS;
    if (chunk < ROWS) chunk = ROWS;
    int needed = (k->tiles + ROWS - 1) / ROWS * ROWS;
    k->chunk = chunk < needed ? chunk : needed;
    k->vrow = v_row(ic, bf16);
    k->mrow = m_row(oc);
    k->group = group_tiles(batch, ic, oc, h, w, bf16, &k->group_bytes);
    k->u = aligned((size_t)16 * ic * oc * (bf16 ? 2 : 4));
    k->v = calloc((size_t)threads, sizeof(void *));
    k->m = calloc((size_t)threads, sizeof(float *));
    if (!k->u || !k->v || !k->m) { sk_wino_destroy(k); return NULL; }
    for (int t = 0; t < threads; t++) {
        k->v[t] = aligned(k->chunk * k->vrow * (bf16 ? 2 : 4));
        k->m[t] = aligned(k->chunk * k->mrow * 4);
        if (!k->v[t] || !k->m[t]) { sk_wino_destroy(k); return NULL; }
    }
    return k;
}

void sk_wino_destroy(sk_wino *k) {
    if (!k) return;
    for (int t = 0; t < k->threads && k->v; t++) free(k->v[t]);
    for (int t = 0; t < k->threads && k->m; t++) free(k->m[t]);
    free(k->v); free(k->m); free(k->u);
    free(k);
}

static inline uint16_t round_bf16(float value) {
    uint32_t u;
    memcpy(&u, &value, 4);
    if ((u & 0x7f800000u) == 0) return (uint16_t)((u >> 16) & 0x8000u);
    if ((u & 0x7fffffffu) > 0x7f800000u) return (uint16_t)((u >> 16) | 0x0040u);
    u += 0x7fffu + ((u >> 16) & 1u);
    return (uint16_t)(u >> 16);
}

/// U = G g G^T of one (ic, oc) pair's 3x3 kernel `g` (row-major) into u[16] (position p = 4 y + x).
static inline void kernel_transform(const float g[9], float u[16]) {
    float t[4][3];   // G g
    for (int x = 0; x < 3; x++) {
        t[0][x] = g[x];
        t[1][x] = 0.5f * (g[x] + g[3 + x] + g[6 + x]);
        t[2][x] = 0.5f * (g[x] - g[3 + x] + g[6 + x]);
        t[3][x] = g[6 + x];
    }
    for (int y = 0; y < 4; y++) {
        u[y * 4 + 0] = t[y][0];
        u[y * 4 + 1] = 0.5f * (t[y][0] + t[y][1] + t[y][2]);
        u[y * 4 + 2] = 0.5f * (t[y][0] - t[y][1] + t[y][2]);
        u[y * 4 + 3] = t[y][2];
    }
}

/// The 3x3 kernel of pair (input channel i, output channel o) of `k` in `weights` [oc][ic][3][3] (the model's
/// plain layout); `transposed`: the backward-data pass's, input and output channels swapped and the window
/// turned by 180 degrees.
static inline float kernel_tap(const sk_wino *k, const float *weights, int transposed, int i, int o, int tap) {
    return transposed ? weights[((size_t)i * k->oc + o) * 9 + 8 - tap] : weights[((size_t)o * k->ic + i) * 9 + tap];
}

/// U = G g G^T of every (ic, oc) pair, one pair at a time: the reference for the blocked version below and
/// the path of CPUs without AVX-512 (where no Winograd kernel runs).
static void set_weights_pairs(sk_wino *k, const float *weights, int transposed) {
    int ic = k->ic, oc = k->oc;
    for (int o = 0; o < oc; o++) {
        for (int i = 0; i < ic; i++) {
            float g[9], u[16];
            for (int tap = 0; tap < 9; tap++) g[tap] = kernel_tap(k, weights, transposed, i, o, tap);
            kernel_transform(g, u);
            for (int p = 0; p < 16; p++) {
                if (k->bf16) ((uint16_t *)k->u)[((size_t)p * ic + (i & ~1)) * oc + o * 2 + (i & 1)] = round_bf16(u[p]);
                else ((float *)k->u)[((size_t)p * ic + i) * oc + o] = u[p];
            }
        }
    }
}

#if defined(__x86_64__)
struct set_weights_job { sk_wino *k; const float *weights; int transposed; };

/// U for blocks of 16 output x 16 input channels, split over the threads: the 16 output channels of a block
/// are the 16 lanes, so every store writes whole cache lines of U (the pair-at-a-time loop wrote one value per
/// line, and cost ~100 ms of a bf16 ResNet-18 step on one thread). Same operations in the same order as
/// `kernel_transform`, and bf16 rounds as `round_bf16` does: U is bit for bit the same.
__attribute__((target("avx512f,avx512bw,avx512vl,avx512bf16")))
static void set_weights_body(void *data) {
    const struct set_weights_job *job = data;
    sk_wino *k = job->k;
    const int ic = k->ic, oc = k->oc, iblocks = ic / L, blocks = (oc / L) * iblocks;
    const int me = omp_get_thread_num(), team = omp_get_num_threads();
    const __m512 half = _mm512_set1_ps(0.5f);
    const __m512i interleave = _mm512_set_epi16(31, 15, 30, 14, 29, 13, 28, 12, 27, 11, 26, 10, 25, 9, 24, 8,
                                                23, 7, 22, 6, 21, 5, 20, 4, 19, 3, 18, 2, 17, 1, 16, 0);
    float g[L][9][L] __attribute__((aligned(64)));   // [i - i0][tap][o - o0]
    for (int b = me; b < blocks; b += team) {
        int o0 = b / iblocks * L, i0 = b % iblocks * L;
        // Read the block in the weights' own order (contiguous runs of 16 x 9 values).
        for (int a = 0; a < L; a++) for (int c = 0; c < L; c++) for (int tap = 0; tap < 9; tap++) {
            if (job->transposed) g[a][tap][c] = kernel_tap(k, job->weights, 1, i0 + a, o0 + c, tap);
            else g[c][tap][a] = kernel_tap(k, job->weights, 0, i0 + c, o0 + a, tap);
        }
        for (int ii = 0; ii < L; ii += 2) {
            __m512 u[2][16];
            for (int s = 0; s < 2; s++) {
                __m512 w[9], t[4][3];
                for (int tap = 0; tap < 9; tap++) w[tap] = _mm512_load_ps(g[ii + s][tap]);
                for (int x = 0; x < 3; x++) {
                    t[0][x] = w[x];
                    t[1][x] = _mm512_mul_ps(half, _mm512_add_ps(_mm512_add_ps(w[x], w[3 + x]), w[6 + x]));
                    t[2][x] = _mm512_mul_ps(half, _mm512_add_ps(_mm512_sub_ps(w[x], w[3 + x]), w[6 + x]));
                    t[3][x] = w[6 + x];
                }
                for (int y = 0; y < 4; y++) {
                    u[s][y * 4 + 0] = t[y][0];
                    u[s][y * 4 + 1] = _mm512_mul_ps(half, _mm512_add_ps(_mm512_add_ps(t[y][0], t[y][1]), t[y][2]));
                    u[s][y * 4 + 2] = _mm512_mul_ps(half, _mm512_add_ps(_mm512_sub_ps(t[y][0], t[y][1]), t[y][2]));
                    u[s][y * 4 + 3] = t[y][2];
                }
            }
            int i = i0 + ii;
            for (int p = 0; p < 16; p++) {
                if (k->bf16) {   // [p][i/2][o][2]: both input channels of the pair, interleaved
                    __m512i pair = _mm512_permutexvar_epi16(interleave, (__m512i)_mm512_cvtne2ps_pbh(u[1][p], u[0][p]));
                    _mm512_store_si512((uint16_t *)k->u + ((size_t)p * ic + i) * oc + (size_t)o0 * 2, pair);
                } else {
                    _mm512_store_ps((float *)k->u + ((size_t)p * ic + i) * oc + o0, u[0][p]);
                    _mm512_store_ps((float *)k->u + ((size_t)p * ic + i + 1) * oc + o0, u[1][p]);
                }
            }
        }
    }
}
#endif

/// U = G g G^T for every (ic, oc) pair of `weights` [oc][ic][3][3] (the model's plain layout, already padded
/// to whole blocks); with `transposed`, the kernel of the backward-data pass: input and output channels
/// swapped and the 3x3 window turned by 180 degrees.
void sk_wino_set_weights(sk_wino *k, const float *weights, int transposed) {
#if defined(__x86_64__)
    if (sk_wino_supported(k->bf16)) {
        struct set_weights_job job = {k, weights, transposed};
        int blocks = (k->oc / L) * (k->ic / L), threads = k->threads < blocks ? k->threads : blocks;
        if (threads <= 1) set_weights_body(&job);
        else GOMP_parallel(set_weights_body, &job, (unsigned)threads, 0);
        return;
    }
#endif
    set_weights_pairs(k, weights, transposed);
}

/// The pair-at-a-time U (tests compare the blocked one with it, bit for bit).
void sk_wino_set_weights_reference(sk_wino *k, const float *weights, int transposed) {
    set_weights_pairs(k, weights, transposed);
}

#if defined(__x86_64__)

typedef float lanes __attribute__((vector_size(64), aligned(64)));

/// One input pixel's 16 lanes as float32 (zero outside the map).
#define LOAD_PIXEL(dst, iy, ix)                                                                           \
    do {                                                                                              \
        if ((iy) < 0 || (iy) >= h || (ix) < 0 || (ix) >= w) { dst = _mm512_setzero_ps(); break; }    \
        size_t at_ = ((plane + (iy)) * w + (ix)) * L;                                                 \
        dst = src_is_bf16 ? _mm512_castsi512_ps(_mm512_slli_epi32(_mm512_cvtepu16_epi32(                  \
                             _mm256_loadu_si256((const __m256i *)((const uint16_t *)src + at_))), 16))  \
                       : _mm512_loadu_ps((const float *)src + at_);                                   \
    } while (0)

/// B^T d of input column x0 + X of a tile's window into col[X].
#define INPUT_COLUMN(X)                                                                                   \
    do {                                                                                              \
        __m512 d0, d1, d2, d3;                                                                        \
        LOAD_PIXEL(d0, y0, x0 + (X)); LOAD_PIXEL(d1, y0 + 1, x0 + (X));                               \
        LOAD_PIXEL(d2, y0 + 2, x0 + (X)); LOAD_PIXEL(d3, y0 + 3, x0 + (X));                           \
        col[X][0] = _mm512_sub_ps(d0, d2); col[X][1] = _mm512_add_ps(d1, d2);                         \
        col[X][2] = _mm512_sub_ps(d2, d1); col[X][3] = _mm512_sub_ps(d1, d3);                         \
    } while (0)

/// Input transform of tiles [t0, t0 + count) into V[row][p][ic], all input channels. Along a row of tiles,
/// neighbours share two input columns, so each column's B^T d is computed once and used by both tiles.
#define INPUT_TRANSFORM(NAME, SRC_BF16, V_BF16)                                                          \
__attribute__((target("avx512f,avx512bf16,avx512vl,avx512bw")))                                         \
static void NAME(const sk_wino *k, const void *src, int t0, int count, void *v) {                        \
    const int ic = k->ic, cb_count = ic / L, h = k->h, w = k->w, per_image = k->tiles_h * k->tiles_w;   \
    const int src_is_bf16 = SRC_BF16;                                                                 \
    for (int cb = 0; cb < cb_count; cb++) {                                                           \
        __m512 col[4][4];   /* B^T d of the last 4 input columns loaded: col[x][row of B^T d] */            \
        int have = -100;    /* input column col[0] holds (-100: none) */                              \
        int last_row = -1;                                                                            \
        for (int r = 0; r < count; r++) {                                                             \
            int t = t0 + r, n = t / per_image, rest = t % per_image, ty = rest / k->tiles_w, tx = rest % k->tiles_w; \
            int y0 = 2 * ty - 1, x0 = 2 * tx - 1;                                                     \
            size_t plane = ((size_t)n * cb_count + cb) * h;                                           \
            int row_id = t / k->tiles_w;                                                              \
            int keep = (row_id == last_row && have == x0 - 2) ? 2 : 0;                                \
            if (keep) { col[0][0] = col[2][0]; col[0][1] = col[2][1]; col[0][2] = col[2][2]; col[0][3] = col[2][3]; \
                        col[1][0] = col[3][0]; col[1][1] = col[3][1]; col[1][2] = col[3][2]; col[1][3] = col[3][3]; } \
            /* Constant column indices (no loop from `keep`), so that the columns can stay in registers. */    \
            if (!keep) { INPUT_COLUMN(0); INPUT_COLUMN(1); }                                              \
            INPUT_COLUMN(2); INPUT_COLUMN(3);                                                         \
            have = x0; last_row = row_id;                                                             \
            /* Fetch the rows under the next row of tiles: without the hint the transform waits on its loads. */ \
            for (int y = y0 + 4; y < y0 + 6 && y < h; y++) for (int x = x0 + 2; x < x0 + 4 && x < w; x++)    \
                _mm_prefetch((const char *)src + ((plane + y) * w + x) * L * (SRC_BF16 ? 2 : 4), _MM_HINT_T0); \
            for (int y = 0; y < 4; y++) {                                                             \
                __m512 e[4] = {_mm512_sub_ps(col[0][y], col[2][y]), _mm512_add_ps(col[1][y], col[2][y]), \
                               _mm512_sub_ps(col[2][y], col[1][y]), _mm512_sub_ps(col[1][y], col[3][y])}; \
                for (int x = 0; x < 4; x++) {                                                         \
                    size_t at = (size_t)r * k->vrow + (size_t)(y * 4 + x) * ic + cb * L;               \
                    if (V_BF16) _mm256_storeu_si256((__m256i *)((uint16_t *)v + at), (__m256i)_mm512_cvtneps_pbh(e[x])); \
                    else _mm512_storeu_ps((float *)v + at, e[x]);                                     \
                }                                                                                     \
            }                                                                                         \
        }                                                                                             \
    }                                                                                                 \
}
INPUT_TRANSFORM(input_f32_to_f32, 0, 0)
INPUT_TRANSFORM(input_f32_to_bf16, 0, 1)
INPUT_TRANSFORM(input_bf16_to_bf16, 1, 1)
INPUT_TRANSFORM(input_bf16_to_f32, 1, 0)

static void input_transform(const sk_wino *k, const void *src, int src_bf16, int t0, int count, void *v) {
    if (src_bf16) (k->bf16 ? input_bf16_to_bf16 : input_bf16_to_f32)(k, src, t0, count, v);
    else (k->bf16 ? input_f32_to_bf16 : input_f32_to_f32)(k, src, t0, count, v);
}

/// Output transform of the chunk's rows [0, count) (tiles from t0) from M[p][row][oc] into the output map.
__attribute__((target("avx512f")))
static void output_transform(const sk_wino *k, const float *m, int t0, int count, float *dst) {
    const int oc = k->oc, cb_count = oc / L, h = k->h, w = k->w, per_image = k->tiles_h * k->tiles_w;
    for (int r = 0; r < count; r++) {
        int t = t0 + r, n = t / per_image, rest = t % per_image, ty = rest / k->tiles_w, tx = rest % k->tiles_w;
        for (int cb = 0; cb < cb_count; cb++) {
            __m512 q[4][4];
            for (int p = 0; p < 16; p++) q[p / 4][p % 4] = _mm512_load_ps(m + (size_t)r * k->mrow + (size_t)p * oc + cb * L);
            __m512 s[2][4];   // A^T M
            for (int x = 0; x < 4; x++) {
                s[0][x] = _mm512_add_ps(_mm512_add_ps(q[0][x], q[1][x]), q[2][x]);
                s[1][x] = _mm512_sub_ps(_mm512_sub_ps(q[1][x], q[2][x]), q[3][x]);
            }
            size_t plane = ((size_t)n * cb_count + cb) * h;
            for (int y = 0; y < 2; y++) {
                int oy = 2 * ty + y;
                if (oy >= h) break;
                __m512 out[2] = {_mm512_add_ps(_mm512_add_ps(s[y][0], s[y][1]), s[y][2]),
                                 _mm512_sub_ps(_mm512_sub_ps(s[y][1], s[y][2]), s[y][3])};
                for (int x = 0; x < 2; x++) {
                    int ox = 2 * tx + x;
                    if (ox >= w) break;
                    // Streaming stores: the output is written whole and read by the next layer only after
                    // the whole map is done, so it need not pass through (and evict) the cache.
                    _mm512_stream_ps(dst + ((plane + oy) * w + ox) * L, out[x]);
                }
            }
        }
    }
}

// The element-wise stage's micro-kernels: ROWS tiles x NV vectors of 16 output channels, summed over the
// input channels. Accumulators are named registers (macros), so the compiler keeps all of them in registers.
#define R14(X) X(0) X(1) X(2) X(3) X(4) X(5) X(6) X(7) X(8) X(9) X(10) X(11) X(12) X(13)

__attribute__((target("avx512f")))
static void gemm_f32_2(const float *v, size_t ldv, const float *u, size_t ldu, int kk, float *m, size_t ldm) {
#define DECL(r) __m512 c##r##a = _mm512_setzero_ps(), c##r##b = _mm512_setzero_ps();
#define STEP(r) { __m512 a = _mm512_set1_ps(v[(size_t)(r) * ldv + i]); c##r##a = _mm512_fmadd_ps(a, b0, c##r##a); c##r##b = _mm512_fmadd_ps(a, b1, c##r##b); }
#define STORE(r) _mm512_store_ps(m + (size_t)(r) * ldm, c##r##a); _mm512_store_ps(m + (size_t)(r) * ldm + 16, c##r##b);
    R14(DECL)
    for (int i = 0; i < kk; i++) {
        __m512 b0 = _mm512_load_ps(u + (size_t)i * ldu), b1 = _mm512_load_ps(u + (size_t)i * ldu + 16);
        R14(STEP)
    }
    R14(STORE)
#undef DECL
#undef STEP
#undef STORE
}

__attribute__((target("avx512f")))
static void gemm_f32_1(const float *v, size_t ldv, const float *u, size_t ldu, int kk, float *m, size_t ldm) {
#define DECL(r) __m512 c##r = _mm512_setzero_ps();
#define STEP(r) c##r = _mm512_fmadd_ps(_mm512_set1_ps(v[(size_t)(r) * ldv + i]), b0, c##r);
#define STORE(r) _mm512_store_ps(m + (size_t)(r) * ldm, c##r);
    R14(DECL)
    for (int i = 0; i < kk; i++) {
        __m512 b0 = _mm512_load_ps(u + (size_t)i * ldu);
        R14(STEP)
    }
    R14(STORE)
#undef DECL
#undef STEP
#undef STORE
}

/// bf16: v [ROWS][ldv] bf16 (two input channels per 32-bit word), u [kk/2][ldu][2] bf16; kk input channels.
__attribute__((target("avx512f,avx512bf16")))
static void gemm_bf16_2(const uint16_t *v, size_t ldv, const uint16_t *u, size_t ldu, int kk, float *m, size_t ldm) {
#define DECL(r) __m512 c##r##a = _mm512_setzero_ps(), c##r##b = _mm512_setzero_ps();
#define STEP(r) { __m512bh a = (__m512bh)_mm512_set1_epi32(*(const int32_t *)(v + (size_t)(r) * ldv + i)); \
                  c##r##a = _mm512_dpbf16_ps(c##r##a, a, b0); c##r##b = _mm512_dpbf16_ps(c##r##b, a, b1); }
#define STORE(r) _mm512_store_ps(m + (size_t)(r) * ldm, c##r##a); _mm512_store_ps(m + (size_t)(r) * ldm + 16, c##r##b);
    R14(DECL)
    for (int i = 0; i < kk; i += 2) {
        const uint16_t *row = u + (size_t)(i / 2) * ldu * 2;
        __m512bh b0 = (__m512bh)_mm512_load_si512(row), b1 = (__m512bh)_mm512_load_si512(row + 32);
        R14(STEP)
    }
    R14(STORE)
#undef DECL
#undef STEP
#undef STORE
}

__attribute__((target("avx512f,avx512bf16")))
static void gemm_bf16_1(const uint16_t *v, size_t ldv, const uint16_t *u, size_t ldu, int kk, float *m, size_t ldm) {
#define DECL(r) __m512 c##r = _mm512_setzero_ps();
#define STEP(r) c##r = _mm512_dpbf16_ps(c##r, (__m512bh)_mm512_set1_epi32(*(const int32_t *)(v + (size_t)(r) * ldv + i)), b0);
#define STORE(r) _mm512_store_ps(m + (size_t)(r) * ldm, c##r);
    R14(DECL)
    for (int i = 0; i < kk; i += 2) {
        __m512bh b0 = (__m512bh)_mm512_load_si512(u + (size_t)(i / 2) * ldu * 2);
        R14(STEP)
    }
    R14(STORE)
#undef DECL
#undef STEP
#undef STORE
}

/// M_p[rows 0 .. rows) = V_p U_p for position p and output channels [o, o + 32) (or 16, the last block);
/// `rows` a multiple of ROWS.
static void product_block(const sk_wino *k, const void *v, float *m, int rows, int p, int o) {
    const int ic = k->ic, oc = k->oc, two = o + 32 <= oc;
    for (int r = 0; r < rows; r += ROWS) {
        float *mp = m + (size_t)r * k->mrow + (size_t)p * oc + o;
        if (k->bf16) {
            const uint16_t *vp = (const uint16_t *)v + (size_t)r * k->vrow + (size_t)p * ic;
            const uint16_t *up = (const uint16_t *)k->u + (size_t)p * ic * oc + (size_t)o * 2;
            if (two) gemm_bf16_2(vp, k->vrow, up, oc, ic, mp, k->mrow); else gemm_bf16_1(vp, k->vrow, up, oc, ic, mp, k->mrow);
        } else {
            const float *vp = (const float *)v + (size_t)r * k->vrow + (size_t)p * ic;
            const float *up = (const float *)k->u + (size_t)p * ic * oc + o;
            if (two) gemm_f32_2(vp, k->vrow, up, oc, ic, mp, k->mrow); else gemm_f32_1(vp, k->vrow, up, oc, ic, mp, k->mrow);
        }
    }
}

/// M_p = V_p U_p for every position p of one chunk of `rows` rows (a multiple of ROWS).
static void element_wise(const sk_wino *k, const void *v, float *m, int rows) {
    for (int p = 0; p < 16; p++)
        for (int o = 0; o < k->oc; o += 32) product_block(k, v, m, rows, p, o);
}

// Chunks go to whichever thread is free (a shared counter), not round-robin: when one core is slowed (the other
// runs something, or a shared host takes it), a fixed share kept the other waiting at the end of every pass.
// Which thread computes a chunk does not change its result: each uses its own V and M, and the chunks' output
// tiles are disjoint.
struct forward_job { const sk_wino *k; const void *src; int src_bf16; float *dst; int chunks; int next; };

static void forward_body(void *data) {
    struct forward_job *job = data;
    const sk_wino *k = job->k;
    int me = omp_get_thread_num();
    for (int c; (c = __atomic_fetch_add(&job->next, 1, __ATOMIC_RELAXED)) < job->chunks;) {
        int t0 = c * k->chunk, count = k->tiles - t0 < k->chunk ? k->tiles - t0 : k->chunk;
        int rows = (count + ROWS - 1) / ROWS * ROWS;
        input_transform(k, job->src, job->src_bf16, t0, count, k->v[me]);
        element_wise(k, k->v[me], k->m[me], rows);
        output_transform(k, k->m[me], t0, count, job->dst);
    }
}

// The group schedule: three stages over the tiles [t0, t0 + count) of one group, each split over the threads
// by a shared counter. Stage 1 transforms chunks of tiles into the group's V, stage 2 multiplies one position
// and output block (M_p[all rows][o, o + 32) = V_p U_p[., o, o + 32)) per item, stage 3 transforms chunks of
// M's rows into output tiles.
struct group_job { const sk_wino *k; const void *src; int src_bf16; float *dst; void *v; float *m; int t0, count, items, next; };

static void group_inputs(void *data) {
    struct group_job *job = data;
    const sk_wino *k = job->k;
    for (int c; (c = __atomic_fetch_add(&job->next, 1, __ATOMIC_RELAXED)) < job->items;) {
        int r0 = c * k->chunk, count = job->count - r0 < k->chunk ? job->count - r0 : k->chunk;
        input_transform(k, job->src, job->src_bf16, job->t0 + r0, count, (char *)job->v + (size_t)r0 * k->vrow * (k->bf16 ? 2 : 4));
    }
}

static void group_products(void *data) {
    struct group_job *job = data;
    const sk_wino *k = job->k;
    const int blocks = (k->oc + 31) / 32, rows = (job->count + ROWS - 1) / ROWS * ROWS;
    for (int c; (c = __atomic_fetch_add(&job->next, 1, __ATOMIC_RELAXED)) < job->items;)
        product_block(k, job->v, job->m, rows, c / blocks, c % blocks * 32);
}

static void group_outputs(void *data) {
    struct group_job *job = data;
    const sk_wino *k = job->k;
    for (int c; (c = __atomic_fetch_add(&job->next, 1, __ATOMIC_RELAXED)) < job->items;) {
        int r0 = c * k->chunk, count = job->count - r0 < k->chunk ? job->count - r0 : k->chunk;
        output_transform(k, job->m + (size_t)r0 * k->mrow, job->t0 + r0, count, job->dst);
    }
}

// The group schedule's V and M: one scratch for every convolution of the process, grown on demand.
static pthread_mutex_t group_lock = PTHREAD_MUTEX_INITIALIZER;
static void *group_scratch;
static size_t group_scratch_size;

static int run_groups(const sk_wino *k, const void *src, int src_bf16, float *dst, int threads) {
    const size_t bytes = k->group_bytes;
    pthread_mutex_lock(&group_lock);
    if (group_scratch_size < bytes) {
        free(group_scratch);
        group_scratch = aligned(bytes);
        group_scratch_size = group_scratch ? bytes : 0;
    }
    if (!group_scratch) { pthread_mutex_unlock(&group_lock); return -1; }
    void *v = group_scratch;
    float *m = (float *)((char *)group_scratch + (((size_t)k->group * k->vrow * (k->bf16 ? 2 : 4) + 63) & ~(size_t)63));
    void (*stages[3])(void *) = {group_inputs, group_products, group_outputs};
    for (int t0 = 0; t0 < k->tiles; t0 += k->group) {
        int count = k->tiles - t0 < k->group ? k->tiles - t0 : k->group, chunks = (count + k->chunk - 1) / k->chunk;
        int items[3] = {chunks, 16 * ((k->oc + 31) / 32), chunks};
        for (int s = 0; s < 3; s++) {
            struct group_job job = {k, src, src_bf16, dst, v, m, t0, count, items[s], 0};
            int team = threads < items[s] ? threads : items[s];
            if (team <= 1) stages[s](&job);
            else GOMP_parallel(stages[s], &job, (unsigned)team, 0);
        }
    }
    pthread_mutex_unlock(&group_lock);
    return 0;
}
#endif

int sk_wino_forward(const sk_wino *k, const void *src, int src_bf16, float *dst, int threads) {
#if defined(__x86_64__)
    if (threads > k->threads) threads = k->threads;
    if (k->group) {
        int status = run_groups(k, src, src_bf16, dst, threads);
        _mm_sfence();
        return status;
    }
    struct forward_job job = {k, src, src_bf16, dst, (k->tiles + k->chunk - 1) / k->chunk, 0};
    if (threads > job.chunks) threads = job.chunks;
    if (threads <= 1) forward_body(&job);
    else GOMP_parallel(forward_body, &job, (unsigned)threads, 0);
    _mm_sfence();   // the streaming stores are visible to every thread before the output is read
    return 0;
#else
    (void)k; (void)src; (void)src_bf16; (void)dst; (void)threads;
    return -1;
#endif
}
