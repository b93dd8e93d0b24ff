// The weight gradient of a 3x3 stride-1 padding-1 convolution of blocked (nChw16c) maps by Winograd, in bf16:
// products on `vdpbf16ps`, sums in float32. oneDNN 2.6 has no bf16 Winograd, and its direct bf16 weight
// gradient was the largest pass of a bf16 training step.
//
// The weight gradient dW[o][i][ky][kx] = sum over images and output pixels of dy[o][y][x] * x[i][y+ky-1][x+kx-1]
// is, per 2x2 tile E of dy and the 4x4 window D of x under it (origin one pixel up and left, as in the forward
// pass), a 3x3 correlation of D with E: Winograd F(3x3, 2x2), the transpose of the forward pass's F(2x2, 3x3)
// with the same points (0, +-1, infinity). Its matrices are those of winograd.c in other roles:
//
//     C = G^T [ (A E A^T) .* (B^T D B) ] G      B^T D B: the forward input transform (coefficients 0, +-1)
//                                               A E A^T: A = (A^T of F(2x2))^T, 4x2, coefficients 0, +-1
//                                               G^T . G: G of F(2x2), 3x4, coefficients 0, 1, 1/2
//
// (from the forward identity y = A^T[(G g) .* (B^T d)] summed against e: the trilinear form
// sum_j e_j y_j = sum_p (A e)_p (G g)_p (B^T d)_p, whose derivative by g is the correlation of d with e).
// Summed over tiles, every position p of the 4x4 transforms gives one matrix product
// M_p[o][i] = sum_tiles Ehat_p[tile][o] V_p[tile][i], 16 products per tile and channel pair instead of 36
// (2.25x fewer), and G^T M G at the end. `vdpbf16ps` sums pairs along its reduction, here the tiles, so the
// transforms write two tiles per 32-bit word: [p][tile pair][channel][2]. Each transformed value is rounded to
// bf16 once, after a transform computed in float32 (from the float32 source when the caller has it).
//
// Work: threads split the tiles (each sums all of M, the parts added at the end) when M is small, else the
// output channels (each transforms every tile's input, which costs little beside the products).
//
// Stride 2 (the first 3x3 convolution of a ResNet stage) has no Winograd, but its weight gradient is the same
// kind of sum: dW[o][i][ky][kx] = sum over images and output pixels of dy[o][y][x] * x[i][2y+ky-1][2x+kx-1].
// With one output pixel as the "tile", the nine taps as the positions, x's pixel under each tap as V_p and
// dy's pixel as the gradient (the same for every position), M_p[o][i] is the weight gradient of tap p itself:
// a direct weight gradient (no transform, the rounding of a direct convolution's products), on the same
// `vdpbf16ps` micro-kernels. oneDNN 2.6's direct bf16 weight gradient of these layers ran at half the rate
// of their forward pass.
#include "CKernels.h"
#include <pthread.h>
#include <stdlib.h>
#include <string.h>

#if defined(__x86_64__)
#include <immintrin.h>
#endif

#define L SK_BLOCK
#ifndef CHUNK_TILES
#define CHUNK_TILES 256      /* tiles transformed at once per thread (even) */
#endif
#define MAX_PARTS 64

extern void GOMP_parallel(void (*fn)(void *), void *data, unsigned num_threads, unsigned flags);
extern int omp_get_thread_num(void);
extern int omp_get_num_threads(void);

struct sk_wgrad {
    int batch, ic, oc, h, w;          // h x w: the source's map
    int stride;                       // 1: Winograd F(3x3, 2x2); 2: direct, one output pixel per tile
    int oh, ow;                       // the output gradient's map
    int tiles_w, per_image, tiles;
    int threads;
};

/// Positions of the transforms (and sums M_p) and of the output gradient's transform: 16 and 16 for F(3x3,
/// 2x2), 9 taps and 1 (dy's pixel serves every tap) for stride 2.
static int positions(int stride) { return stride == 1 ? 16 : 9; }
static int gradient_positions(int stride) { return stride == 1 ? 16 : 1; }

sk_wgrad *sk_wgrad_create(int batch, int ic, int oc, int h, int w, int stride, int threads) {
    if (ic % L || oc % L || threads < 1 || (stride != 1 && stride != 2) || !sk_wino_supported(1)) return NULL;
    sk_wgrad *k = calloc(1, sizeof *k);
    if (!k) return NULL;
    k->batch = batch; k->ic = ic; k->oc = oc; k->h = h; k->w = w; k->stride = stride;
    k->threads = threads < MAX_PARTS ? threads : MAX_PARTS;
    if (stride == 1) {
        k->oh = h; k->ow = w;
        k->tiles_w = (w + 1) / 2;
        k->per_image = ((h + 1) / 2) * k->tiles_w;
    } else {
        k->oh = (h - 1) / 2 + 1; k->ow = (w - 1) / 2 + 1;   // 3x3, padding 1, stride 2
        k->tiles_w = k->ow;
        k->per_image = k->oh * k->ow;
    }
    k->tiles = batch * k->per_image;
    return k;
}

void sk_wgrad_destroy(sk_wgrad *k) { free(k); }

// Scratch shared by every convolution of the process (one weight gradient runs at a time): per part, the
// chunk's transforms and its sums M. Grown on demand, never shrunk.
static pthread_mutex_t scratch_lock = PTHREAD_MUTEX_INITIALIZER;
static void *scratch[MAX_PARTS];
static size_t scratch_size[MAX_PARTS];

/// How the work of a weight gradient `ic` -> `oc` on `parts` threads splits (see the top of the file): the
/// tiles while every part's M (positions x oc x ic float32) stays within 4 MB, else the output channels (in
/// whole 16-channel blocks, the transforms' unit).
static int splits_tiles(int ic, int oc, int stride, int parts) {
    return parts == 1 || (size_t)positions(stride) * oc * ic * sizeof(float) <= ((size_t)4 << 20);
}

/// Part `part`'s output channels [*o0, *o1).
static void part_channels(int ic, int oc, int stride, int parts, int part, int *o0, int *o1) {
    int blocks = oc / L;
    if (splits_tiles(ic, oc, stride, parts)) { *o0 = 0; *o1 = oc; return; }
    *o0 = L * (int)((long)blocks * part / parts);
    *o1 = L * (int)((long)blocks * (part + 1) / parts);
}

/// Words per pair row of the transform buffers holding `channels` channels: one cache line more than the
/// channels, so that the micro-kernels' walk down a column of rows (a row per tile pair) visits every cache
/// set. With rows of a power of two (1 KB at 256 channels) the walk fell into a few sets of the L1 cache.
static size_t row_words(int channels) { return (size_t)channels + 16; }

/// A part's scratch: the transforms of one chunk (input V, output gradient E) and its sums M, 32-bit words,
/// each array starting on a cache line.
static size_t part_scratch(int ic, int on, int stride, size_t *v, size_t *e, size_t *m) {
    size_t cap = CHUNK_TILES / 2;
    *v = positions(stride) * cap * row_words(ic); *e = gradient_positions(stride) * cap * row_words(on);
    *m = (size_t)positions(stride) * on * ic;
    return (*v + *e + *m) * 4 + 256;
}

size_t sk_wgrad_scratch_bytes(int ic, int oc, int stride, int threads, int part) {
    int parts = threads < MAX_PARTS ? threads : MAX_PARTS;
    if (ic % L || oc % L || threads < 1 || part >= parts || (stride != 1 && stride != 2) || !sk_wino_supported(1)) return 0;
    int o0, o1;
    size_t v, e, m;
    part_channels(ic, oc, stride, parts, part, &o0, &o1);
    return part_scratch(ic, o1 - o0, stride, &v, &e, &m);
}

static void *scratch_for(int part, size_t bytes) {
    if (scratch_size[part] >= bytes) return scratch[part];
    free(scratch[part]);
    scratch[part] = NULL; scratch_size[part] = 0;
    if (posix_memalign(&scratch[part], 64, bytes) != 0) { scratch[part] = NULL; return NULL; }
    scratch_size[part] = bytes;
    return scratch[part];
}

#if defined(__x86_64__)

struct wgrad_job {
    const sk_wgrad *k;
    const void *src; int src_bf16;
    const void *dy; int dy_bf16;
    float *dw;
    int parts, split_tiles;
    // Per part: tiles [t0, t1), output channels [o0, o1), its scratch.
    int t0[MAX_PARTS], t1[MAX_PARTS], o0[MAX_PARTS], o1[MAX_PARTS];
    uint32_t *v[MAX_PARTS], *e[MAX_PARTS];
    float *m[MAX_PARTS];
};

__attribute__((target("avx512f,avx512bw,avx512vl,avx512bf16")))
static inline __m512 load_pixel(const void *map, int bf16, size_t at) {
    if (bf16) return _mm512_castsi512_ps(_mm512_slli_epi32(_mm512_cvtepu16_epi32(
                                             _mm256_loadu_si256((const __m256i *)((const uint16_t *)map + at))), 16));
    return _mm512_loadu_ps((const float *)map + at);
}

/// Two tiles' float32 values of one position as one vector of bf16 pairs (low half: the first tile): both
/// rounded into one vector (first tile's 16 values, then the second's), then interleaved.
__attribute__((target("avx512f,avx512bw,avx512vl,avx512bf16")))
static inline __m512i pair_bf16(__m512 first, __m512 second) {
    const __m512i interleave = _mm512_set_epi16(31, 15, 30, 14, 29, 13, 28, 12, 27, 11, 26, 10, 25, 9, 24, 8,
                                                23, 7, 22, 6, 21, 5, 20, 4, 19, 3, 18, 2, 17, 1, 16, 0);
    return _mm512_permutexvar_epi16(interleave, (__m512i)_mm512_cvtne2ps_pbh(second, first));
}

/// Hints the cache to fetch the pixels at columns x, x + 1 of rows y, y + 1 of plane `plane` (those in the map).
__attribute__((target("avx512f")))
static inline void prefetch_rows(const sk_wgrad *k, const void *map, int bf16, size_t plane, int y, int x) {
    for (int r = y; r < y + 2 && r < k->h; r++) for (int c = x; c < x + 2 && c < k->w; c++)
        _mm_prefetch((const char *)map + ((plane + r) * k->w + c) * L * (bf16 ? 2 : 4), _MM_HINT_T0);
}

/// The columns of B^T d a tile keeps for its right-hand neighbour: `col[x][row of B^T d]` of its 4 input
/// columns, and which tile and channel block they belong to.
typedef struct { __m512 col[4][4]; int tile, cb; } input_columns;

/// B^T d of input column X, rows y0 .. y0 + 3 of the plane (zero outside the map), into C[row of B^T d]; the
/// caller names k, src, bf16, plane and y0.
#define INPUT_COLUMN(C, X)                                                                                         \
    do {                                                                                                          \
        __m512 d_[4];                                                                                             \
        for (int y_ = 0; y_ < 4; y_++) {                                                                          \
            int iy_ = y0 + y_, ix_ = (X);                                                                         \
            d_[y_] = (iy_ < 0 || iy_ >= k->h || ix_ < 0 || ix_ >= k->w) ? _mm512_setzero_ps()                     \
                                                                       : load_pixel(src, bf16, ((plane + iy_) * k->w + ix_) * L); \
        }                                                                                                         \
        C[0] = _mm512_sub_ps(d_[0], d_[2]); C[1] = _mm512_add_ps(d_[1], d_[2]);                                   \
        C[2] = _mm512_sub_ps(d_[2], d_[1]); C[3] = _mm512_sub_ps(d_[1], d_[3]);                                   \
    } while (0)

/// B^T D B of tile t's 4x4 input window, channel block cb (zero where the window leaves the map). Along a row
/// of tiles, neighbours share two input columns: when `cache` holds the tile to the left (t - 1, same row and block),
/// its columns 2 and 3 are this tile's 0 and 1, and only two columns are loaded and transformed. The rows
/// under the next row of tiles are fetched ahead: the source is read from memory, and without the hint the
/// transform waited on its loads. The tile functions are inlined into the chunk's loop, so that a tile's
/// columns and transforms stay in registers instead of passing through the stack (a third of the transforms'
/// time at 64 channels).
__attribute__((target("avx512f,avx512bw,avx512vl,avx512bf16")))
static inline __attribute__((always_inline)) void input_tile(const sk_wgrad *k, const void *src, int bf16, int t, int cb, input_columns *cache, __m512 out[16]) {
    int n = t / k->per_image, rest = t % k->per_image, tx = rest % k->tiles_w, y0 = 2 * (rest / k->tiles_w) - 1, x0 = 2 * tx - 1;
    size_t plane = ((size_t)n * (k->ic / L) + cb) * k->h;
    int keep = cache->tile == t - 1 && cache->cb == cb && tx > 0;
    __m512 (*c)[4] = cache->col;   // c[x][row of B^T d]
    if (keep) for (int y = 0; y < 4; y++) { c[0][y] = c[2][y]; c[1][y] = c[3][y]; }
    prefetch_rows(k, src, bf16, plane, y0 + 4, x0 + 2);
    // Constant column indices (no loop from `keep`), so that once inlined the columns can live in registers.
    if (!keep) { INPUT_COLUMN(c[0], x0); INPUT_COLUMN(c[1], x0 + 1); }
    INPUT_COLUMN(c[2], x0 + 2); INPUT_COLUMN(c[3], x0 + 3);
    cache->tile = t; cache->cb = cb;
    for (int y = 0; y < 4; y++) {
        out[y * 4 + 0] = _mm512_sub_ps(c[0][y], c[2][y]); out[y * 4 + 1] = _mm512_add_ps(c[1][y], c[2][y]);
        out[y * 4 + 2] = _mm512_sub_ps(c[2][y], c[1][y]); out[y * 4 + 3] = _mm512_sub_ps(c[1][y], c[3][y]);
    }
}

/// A E A^T of tile t's 2x2 output-gradient tile, channel block cb (zero outside the map).
__attribute__((target("avx512f,avx512bw,avx512vl,avx512bf16")))
static inline __attribute__((always_inline)) void gradient_tile(const sk_wgrad *k, const void *dy, int bf16, int t, int cb, __m512 out[16]) {
    int n = t / k->per_image, rest = t % k->per_image, y0 = 2 * (rest / k->tiles_w), x0 = 2 * (rest % k->tiles_w);
    size_t plane = ((size_t)n * (k->oc / L) + cb) * k->h;
    prefetch_rows(k, dy, bf16, plane, y0 + 2, x0);
    __m512 e[2][2];
    for (int y = 0; y < 2; y++) for (int x = 0; x < 2; x++) {
        int oy = y0 + y, ox = x0 + x;
        e[y][x] = (oy >= k->h || ox >= k->w) ? _mm512_setzero_ps() : load_pixel(dy, bf16, ((plane + oy) * k->w + ox) * L);
    }
    __m512 u[4][2];   // A E: rows e0, e0 + e1, e0 - e1, -e1
    for (int x = 0; x < 2; x++) {
        u[0][x] = e[0][x]; u[1][x] = _mm512_add_ps(e[0][x], e[1][x]);
        u[2][x] = _mm512_sub_ps(e[0][x], e[1][x]); u[3][x] = _mm512_sub_ps(_mm512_setzero_ps(), e[1][x]);
    }
    for (int a = 0; a < 4; a++) {
        out[a * 4 + 0] = u[a][0]; out[a * 4 + 1] = _mm512_add_ps(u[a][0], u[a][1]);
        out[a * 4 + 2] = _mm512_sub_ps(u[a][0], u[a][1]); out[a * 4 + 3] = _mm512_sub_ps(_mm512_setzero_ps(), u[a][1]);
    }
}

/// Stride 2: the source's pixels under the nine taps of output pixel t, channel block cb (zero in the padding).
__attribute__((target("avx512f,avx512bw,avx512vl,avx512bf16")))
static inline __attribute__((always_inline)) void strided_input_tile(const sk_wgrad *k, const void *src, int bf16, int t, int cb, __m512 out[16]) {
    int n = t / k->per_image, rest = t % k->per_image, y0 = 2 * (rest / k->ow) - 1, x0 = 2 * (rest % k->ow) - 1;
    size_t plane = ((size_t)n * (k->ic / L) + cb) * k->h;
    for (int ky = 0; ky < 3; ky++) for (int kx = 0; kx < 3; kx++) {
        int iy = y0 + ky, ix = x0 + kx;
        out[ky * 3 + kx] = (iy < 0 || iy >= k->h || ix < 0 || ix >= k->w) ? _mm512_setzero_ps()
                                                                           : load_pixel(src, bf16, ((plane + iy) * k->w + ix) * L);
    }
}

/// Stride 2: output pixel t of the output gradient, channel block cb.
__attribute__((target("avx512f,avx512bw,avx512vl,avx512bf16")))
static inline __attribute__((always_inline)) void strided_gradient_tile(const sk_wgrad *k, const void *dy, int bf16, int t, int cb, __m512 out[16]) {
    int n = t / k->per_image, rest = t % k->per_image;
    out[0] = load_pixel(dy, bf16, (((size_t)n * (k->oc / L) + cb) * k->per_image + rest) * L);
}

__attribute__((target("avx512f,avx512bw,avx512vl,avx512bf16")))
static inline __attribute__((always_inline)) void tile(const sk_wgrad *k, int gradient, const void *map, int bf16, int t, int cb, input_columns *cache, __m512 out[16]) {
    if (k->stride == 1) { if (gradient) gradient_tile(k, map, bf16, t, cb, out); else input_tile(k, map, bf16, t, cb, cache, out); }
    else { if (gradient) strided_gradient_tile(k, map, bf16, t, cb, out); else strided_input_tile(k, map, bf16, t, cb, out); }
}

/// The transforms of one pair of tiles (tiles t + 2 pair and t + 2 pair + 1, the second zero past `count`) in
/// channel block cb, stored as bf16 pairs into buf[p][pair][channel - c0].
__attribute__((target("avx512f,avx512bw,avx512vl,avx512bf16")))
static inline __attribute__((always_inline)) void transform_pair(const sk_wgrad *k, int gradient, const void *map, int bf16, int t, int count, int pair,
                                  int cb, int cb0, uint32_t *buf, int row, int pairs_cap, input_columns *cache) {
    __m512 a[16], b[16];
    const int count_p = gradient ? gradient_positions(k->stride) : positions(k->stride);
    int first = t + 2 * pair;
    tile(k, gradient, map, bf16, first, cb, cache, a);
    if (2 * pair + 1 < count) tile(k, gradient, map, bf16, first + 1, cb, cache, b);
    else for (int p = 0; p < count_p; p++) b[p] = _mm512_setzero_ps();
    for (int p = 0; p < count_p; p++)
        _mm512_store_si512(buf + ((size_t)p * pairs_cap + pair) * row + (cb - cb0) * L, pair_bf16(a[p], b[p]));
}

/// The input transforms of tiles [t, t + count) in channel block cb, two neighbours of a row at a time: their
/// six input columns (two of them the previous pair's, within a row) stay in registers, and each row of B^T d B
/// is paired and stored as soon as it is computed. The same operations as input_tile, so the same values; a
/// pair that is not two neighbours of one row (odd rows, the chunk's end) goes through transform_pair.
__attribute__((target("avx512f,avx512bw,avx512vl,avx512bf16")))
static void input_pairs(const sk_wgrad *k, const void *src, int bf16, int t, int count, int cb, int cb0,
                        uint32_t *buf, int row, int pairs_cap, input_columns *cache) {
    __m512 kept0[4], kept1[4];   // columns x0 + 4 and x0 + 5 of the last pair: the next pair's x0 and x0 + 1
    int kept_for = -1;           // the tile whose columns they are (-1: none)
    for (int pair = 0; pair < (count + 1) / 2; pair++) {
        int first = t + 2 * pair, n = first / k->per_image, rest = first % k->per_image, tx = rest % k->tiles_w;
        if (2 * pair + 1 >= count || tx + 1 >= k->tiles_w) {
            transform_pair(k, 0, src, bf16, t, count, pair, cb, cb0, buf, row, pairs_cap, cache);
            kept_for = -1;
            continue;
        }
        int y0 = 2 * (rest / k->tiles_w) - 1, x0 = 2 * tx - 1;
        size_t plane = ((size_t)n * (k->ic / L) + cb) * k->h;
        prefetch_rows(k, src, bf16, plane, y0 + 4, x0 + 2);
        prefetch_rows(k, src, bf16, plane, y0 + 4, x0 + 4);
        __m512 c0[4], c1[4], c2[4], c3[4], c4[4], c5[4];
        if (kept_for == first && tx > 0) {
            for (int y = 0; y < 4; y++) { c0[y] = kept0[y]; c1[y] = kept1[y]; }
        } else {
            INPUT_COLUMN(c0, x0); INPUT_COLUMN(c1, x0 + 1);
        }
        INPUT_COLUMN(c2, x0 + 2); INPUT_COLUMN(c3, x0 + 3); INPUT_COLUMN(c4, x0 + 4); INPUT_COLUMN(c5, x0 + 5);
        uint32_t *at = buf + (size_t)pair * row + (cb - cb0) * L;
        const size_t position = (size_t)pairs_cap * row;
        for (int y = 0; y < 4; y++) {   // row y of B^T d B: the first tile from columns 0-3, the second from 2-5
            __m512 a0 = _mm512_sub_ps(c0[y], c2[y]), a1 = _mm512_add_ps(c1[y], c2[y]);
            __m512 a2 = _mm512_sub_ps(c2[y], c1[y]), a3 = _mm512_sub_ps(c1[y], c3[y]);
            __m512 b0 = _mm512_sub_ps(c2[y], c4[y]), b1 = _mm512_add_ps(c3[y], c4[y]);
            __m512 b2 = _mm512_sub_ps(c4[y], c3[y]), b3 = _mm512_sub_ps(c3[y], c5[y]);
            _mm512_store_si512(at + (size_t)(y * 4 + 0) * position, pair_bf16(a0, b0));
            _mm512_store_si512(at + (size_t)(y * 4 + 1) * position, pair_bf16(a1, b1));
            _mm512_store_si512(at + (size_t)(y * 4 + 2) * position, pair_bf16(a2, b2));
            _mm512_store_si512(at + (size_t)(y * 4 + 3) * position, pair_bf16(a3, b3));
        }
        for (int y = 0; y < 4; y++) { kept0[y] = c4[y]; kept1[y] = c5[y]; }
        kept_for = first + 2;
    }
}
#undef INPUT_COLUMN

/// The output gradient's transforms of tiles [t, t + count) in channel block cb, two neighbours of a row at a
/// time, each row of A E A^T paired and stored as soon as it is computed: the same operations as gradient_tile.
__attribute__((target("avx512f,avx512bw,avx512vl,avx512bf16")))
static void gradient_pairs(const sk_wgrad *k, const void *dy, int bf16, int t, int count, int cb, int cb0,
                           uint32_t *buf, int row, int pairs_cap, input_columns *cache) {
    const __m512 zero = _mm512_setzero_ps();
    for (int pair = 0; pair < (count + 1) / 2; pair++) {
        int first = t + 2 * pair, n = first / k->per_image, rest = first % k->per_image, tx = rest % k->tiles_w;
        if (2 * pair + 1 >= count || tx + 1 >= k->tiles_w) {
            transform_pair(k, 1, dy, bf16, t, count, pair, cb, cb0, buf, row, pairs_cap, cache);
            continue;
        }
        int y0 = 2 * (rest / k->tiles_w), x0 = 2 * tx;
        size_t plane = ((size_t)n * (k->oc / L) + cb) * k->h;
        prefetch_rows(k, dy, bf16, plane, y0 + 2, x0);
        prefetch_rows(k, dy, bf16, plane, y0 + 2, x0 + 2);
        __m512 e[2][4];   // rows y0, y0 + 1; columns x0 .. x0 + 3 (the first tile's two, then the second's)
        for (int y = 0; y < 2; y++) for (int x = 0; x < 4; x++) {
            int oy = y0 + y, ox = x0 + x;
            e[y][x] = (oy >= k->h || ox >= k->w) ? zero : load_pixel(dy, bf16, ((plane + oy) * k->w + ox) * L);
        }
        __m512 u[4][4];   // A E of both tiles: rows e0, e0 + e1, e0 - e1, -e1
        for (int x = 0; x < 4; x++) {
            u[0][x] = e[0][x]; u[1][x] = _mm512_add_ps(e[0][x], e[1][x]);
            u[2][x] = _mm512_sub_ps(e[0][x], e[1][x]); u[3][x] = _mm512_sub_ps(zero, e[1][x]);
        }
        uint32_t *at = buf + (size_t)pair * row + (cb - cb0) * L;
        const size_t position = (size_t)pairs_cap * row;
        for (int a = 0; a < 4; a++) {
            __m512 f[2][4];   // row a of A E A^T, first and second tile
            for (int s = 0; s < 2; s++) {
                __m512 l = u[a][2 * s], r = u[a][2 * s + 1];
                f[s][0] = l; f[s][1] = _mm512_add_ps(l, r); f[s][2] = _mm512_sub_ps(l, r); f[s][3] = _mm512_sub_ps(zero, r);
            }
            for (int x = 0; x < 4; x++) _mm512_store_si512(at + (size_t)(a * 4 + x) * position, pair_bf16(f[0][x], f[1][x]));
        }
    }
}

/// Transforms of tiles [t, t + count) into buf[p][pair][channel - c0] (bf16 pairs), channel blocks [cb0, cb1);
/// `row` words per pair row (`row_words`), `pairs_cap` pair rows per position.
__attribute__((target("avx512f,avx512bw,avx512vl,avx512bf16")))
static void transform_chunk(const sk_wgrad *k, int gradient, const void *map, int bf16, int t, int count,
                            int cb0, int cb1, uint32_t *buf, int row, int pairs_cap) {
    input_columns cache = {.tile = -2, .cb = -1};
    // Rows of 4 tiles or more: one channel block at a time along the tiles, so that neighbouring tiles share
    // their columns (input_tile) and the reads run along the rows of one plane, where the next row's fetch
    // hints land. Shorter rows share little, and there a pair's channel blocks one after another write whole
    // runs of the buffer (on 4x4 maps the other order was the slower).
    if (k->stride == 1 && k->tiles_w >= 4) {
        for (int cb = cb0; cb < cb1; cb++) {
            if (gradient) gradient_pairs(k, map, bf16, t, count, cb, cb0, buf, row, pairs_cap, &cache);
            else input_pairs(k, map, bf16, t, count, cb, cb0, buf, row, pairs_cap, &cache);
        }
    } else {
        for (int pair = 0; pair < (count + 1) / 2; pair++)
            for (int cb = cb0; cb < cb1; cb++)
                transform_pair(k, gradient, map, bf16, t, count, pair, cb, cb0, buf, row, pairs_cap, &cache);
    }
}

// Micro-kernels: M[8 output channels][32 or 16 input channels] (+)= sum over `pairs` tile pairs of
// Ehat[pair][o] . V[pair][i], each `vdpbf16ps` adding two tiles' products. `next` is the block of M the
// following call adds to: fetched while this call runs, since M (up to 4 MB) is read from beyond the core's
// cache and the first loads of a call stalled (~10% of the kernel's time at 256 and 512 channels).
#define R8(X) X(0) X(1) X(2) X(3) X(4) X(5) X(6) X(7)

__attribute__((target("avx512f,avx512bf16")))
static void kernel_8x2(const uint32_t *e, size_t lde, const uint32_t *v, size_t ldv, int pairs, float *m, size_t ldm, int add,
                       const float *next) {
#define DECL(r) __m512 c##r##a = add ? _mm512_load_ps(m + (r) * ldm) : _mm512_setzero_ps(), \
                       c##r##b = add ? _mm512_load_ps(m + (r) * ldm + 16) : _mm512_setzero_ps();
#define STEP(r) { __m512bh s = (__m512bh)_mm512_set1_epi32((int)e[(size_t)q * lde + (r)]); \
                  c##r##a = _mm512_dpbf16_ps(c##r##a, s, b0); c##r##b = _mm512_dpbf16_ps(c##r##b, s, b1); }
#define STORE(r) _mm512_store_ps(m + (r) * ldm, c##r##a); _mm512_store_ps(m + (r) * ldm + 16, c##r##b);
    R8(DECL)
    for (int r = 0; r < 8; r++) { _mm_prefetch((const char *)(next + r * ldm), _MM_HINT_T0); _mm_prefetch((const char *)(next + r * ldm + 16), _MM_HINT_T0); }
    for (int q = 0; q < pairs; q++) {
        __m512bh b0 = (__m512bh)_mm512_load_si512(v + (size_t)q * ldv), b1 = (__m512bh)_mm512_load_si512(v + (size_t)q * ldv + 16);
        R8(STEP)
    }
    R8(STORE)
#undef DECL
#undef STEP
#undef STORE
}

__attribute__((target("avx512f,avx512bf16")))
static void kernel_8x1(const uint32_t *e, size_t lde, const uint32_t *v, size_t ldv, int pairs, float *m, size_t ldm, int add,
                       const float *next) {
#define DECL(r) __m512 c##r = add ? _mm512_load_ps(m + (r) * ldm) : _mm512_setzero_ps();
#define STEP(r) c##r = _mm512_dpbf16_ps(c##r, (__m512bh)_mm512_set1_epi32((int)e[(size_t)q * lde + (r)]), b0);
#define STORE(r) _mm512_store_ps(m + (r) * ldm, c##r);
    R8(DECL)
    for (int r = 0; r < 8; r++) _mm_prefetch((const char *)(next + r * ldm), _MM_HINT_T0);
    for (int q = 0; q < pairs; q++) {
        __m512bh b0 = (__m512bh)_mm512_load_si512(v + (size_t)q * ldv);
        R8(STEP)
    }
    R8(STORE)
#undef DECL
#undef STEP
#undef STORE
}

/// One part: its tiles in chunks, transformed, multiplied into its M[p][o - o0][i].
static void part_body(void *data) {
    struct wgrad_job *job = data;
    const sk_wgrad *k = job->k;
    int me = omp_get_thread_num(), team = omp_get_num_threads();
    for (int part = me; part < job->parts; part += team) {
        int t0 = job->t0[part], t1 = job->t1[part], o0 = job->o0[part], o1 = job->o1[part], on = o1 - o0, ic = k->ic;
        float *m = job->m[part];
        const int count_p = positions(k->stride), shared_gradient = gradient_positions(k->stride) == 1;
        if (on == 0) continue;
        if (t1 <= t0) { memset(m, 0, (size_t)count_p * on * ic * sizeof(float)); continue; }
        const int cap = CHUNK_TILES / 2;
        const size_t ldv = row_words(ic), lde = row_words(on);
        for (int t = t0; t < t1; t += CHUNK_TILES) {
            int count = t1 - t < CHUNK_TILES ? t1 - t : CHUNK_TILES, pairs = (count + 1) / 2, add = t > t0;
            transform_chunk(k, 0, job->src, job->src_bf16, t, count, 0, ic / L, job->v[part], (int)ldv, cap);
            transform_chunk(k, 1, job->dy, job->dy_bf16, t, count, o0 / L, o1 / L, job->e[part], (int)lde, cap);
            for (int p = 0; p < count_p; p++) {
                const uint32_t *vp = job->v[part] + (size_t)p * cap * ldv;
                const uint32_t *ep = job->e[part] + (shared_gradient ? 0 : (size_t)p * cap * lde);
                float *mp = m + (size_t)p * on * ic;
                for (int i = 0; i < ic; i += 32) {
                    for (int o = 0; o < on; o += 8) {
                        // The next call's block of M (the next 8 output channels, else the next 32 input channels),
                        // fetched while this call runs: M is larger than the cache, and its first loads stalled.
                        const float *next = o + 8 < on ? mp + (size_t)(o + 8) * ic + i : i + 32 < ic ? mp + i + 32 : mp;
                        if (i + 32 <= ic) kernel_8x2(ep + o, lde, vp + i, ldv, pairs, mp + (size_t)o * ic + i, ic, add, next);
                        else kernel_8x1(ep + o, lde, vp + i, ldv, pairs, mp + (size_t)o * ic + i, ic, add, next);
                    }
                }
            }
        }
    }
}

/// dW[o][i][3][3] = G^T (sum of the parts' M[.][o][i]) G, output channels split over the threads.
__attribute__((target("avx512f")))
static void output_body(void *data) {
    struct wgrad_job *job = data;
    const sk_wgrad *k = job->k;
    int me = omp_get_thread_num(), team = omp_get_num_threads(), ic = k->ic, oc = k->oc;
    int from = (int)((long)oc * me / team), to = (int)((long)oc * (me + 1) / team);
    const __m512 half = _mm512_set1_ps(0.5f);
    if (k->stride != 1) {   // M_p is tap p's gradient: the parts' sums, in [o][i][tap] order
        for (int o = from; o < to; o++) {
            for (int i = 0; i < ic; i += L) {
                float out[9][L] __attribute__((aligned(64)));
                for (int p = 0; p < 9; p++) {
                    __m512 q = _mm512_setzero_ps();
                    for (int part = 0; part < job->parts; part++) {
                        if (o < job->o0[part] || o >= job->o1[part]) continue;
                        int on = job->o1[part] - job->o0[part];
                        q = _mm512_add_ps(q, _mm512_load_ps(job->m[part] + (size_t)p * on * ic + (size_t)(o - job->o0[part]) * ic + i));
                    }
                    _mm512_store_ps(out[p], q);
                }
                float *dst = job->dw + ((size_t)o * ic + i) * 9;
                for (int l = 0; l < L; l++) for (int j = 0; j < 9; j++) dst[l * 9 + j] = out[j][l];
            }
        }
        return;
    }
    for (int o = from; o < to; o++) {
        for (int i = 0; i < ic; i += L) {
            __m512 q[16];
            for (int p = 0; p < 16; p++) q[p] = _mm512_setzero_ps();
            for (int part = 0; part < job->parts; part++) {
                if (o < job->o0[part] || o >= job->o1[part]) continue;
                int on = job->o1[part] - job->o0[part];
                const float *m = job->m[part] + (size_t)(o - job->o0[part]) * ic + i;
                for (int p = 0; p < 16; p++) q[p] = _mm512_add_ps(q[p], _mm512_load_ps(m + (size_t)p * on * ic));
            }
            __m512 r[3][4];   // G^T along the rows
            for (int x = 0; x < 4; x++) {
                __m512 s = _mm512_mul_ps(half, _mm512_add_ps(q[4 + x], q[8 + x]));
                r[0][x] = _mm512_add_ps(q[x], s);
                r[1][x] = _mm512_mul_ps(half, _mm512_sub_ps(q[4 + x], q[8 + x]));
                r[2][x] = _mm512_add_ps(s, q[12 + x]);
            }
            float out[9][L] __attribute__((aligned(64)));
            for (int y = 0; y < 3; y++) {
                __m512 s = _mm512_mul_ps(half, _mm512_add_ps(r[y][1], r[y][2]));
                _mm512_store_ps(out[y * 3 + 0], _mm512_add_ps(r[y][0], s));
                _mm512_store_ps(out[y * 3 + 1], _mm512_mul_ps(half, _mm512_sub_ps(r[y][1], r[y][2])));
                _mm512_store_ps(out[y * 3 + 2], _mm512_add_ps(s, r[y][3]));
            }
            float *dst = job->dw + ((size_t)o * ic + i) * 9;
            for (int l = 0; l < L; l++) for (int j = 0; j < 9; j++) dst[l * 9 + j] = out[j][l];
        }
    }
}
#endif

int sk_wgrad_run(const sk_wgrad *k, const void *src, int src_bf16, const void *diff_dst, int diff_dst_bf16, float *diff_weights) {
#if defined(__x86_64__)
    struct wgrad_job *job = calloc(1, sizeof *job);
    if (!job) return -1;
    *job = (struct wgrad_job){.k = k, .src = src, .src_bf16 = src_bf16, .dy = diff_dst, .dy_bf16 = diff_dst_bf16,
                              .dw = diff_weights, .parts = k->threads};
    int ic = k->ic, oc = k->oc, parts = k->threads;
    job->split_tiles = splits_tiles(ic, oc, k->stride, parts);
    int pairs_total = (k->tiles + 1) / 2;
    for (int part = 0; part < parts; part++) {
        part_channels(ic, oc, k->stride, parts, part, &job->o0[part], &job->o1[part]);
        if (job->split_tiles) {
            job->t0[part] = 2 * (int)((long)pairs_total * part / parts);
            job->t1[part] = 2 * (int)((long)pairs_total * (part + 1) / parts);
            if (job->t1[part] > k->tiles) job->t1[part] = k->tiles;
        } else {
            job->t0[part] = 0; job->t1[part] = k->tiles;
        }
    }
    pthread_mutex_lock(&scratch_lock);
    int status = 0;
    for (int part = 0; part < parts && status == 0; part++) {
        size_t v, e, m;
        char *base = scratch_for(part, part_scratch(ic, job->o1[part] - job->o0[part], k->stride, &v, &e, &m));
        if (!base) { status = -1; break; }
        job->v[part] = (uint32_t *)base;
        job->e[part] = (uint32_t *)(base + ((v * 4 + 63) & ~(size_t)63));
        job->m[part] = (float *)(base + ((v * 4 + 63) & ~(size_t)63) + ((e * 4 + 63) & ~(size_t)63));
    }
    if (status == 0) {
        if (k->threads <= 1) { part_body(job); output_body(job); }
        else { GOMP_parallel(part_body, job, (unsigned)k->threads, 0); GOMP_parallel(output_body, job, (unsigned)k->threads, 0); }
    }
    pthread_mutex_unlock(&scratch_lock);
    free(job);
    return status;
#else
    (void)k; (void)src; (void)src_bf16; (void)diff_dst; (void)diff_dst_bf16; (void)diff_weights;
    return -1;
#endif
}
