// float32 <-> bfloat16. Rounding is to nearest even, and denormal inputs become (signed) zero, which is
// what the AVX512_BF16 conversion instruction does, so the portable path and the instruction agree bit
// for bit and the reference path (sk_round_to_bf16) rounds exactly as the fast path does.
#include "CKernels.h"
#include <string.h>

#if defined(__x86_64__)
#include <immintrin.h>
#endif

static inline uint16_t to_bf16(float value) {
    uint32_t u;
    memcpy(&u, &value, 4);
    if ((u & 0x7f800000u) == 0) return (uint16_t)((u >> 16) & 0x8000u);          // zero or denormal
    if ((u & 0x7fffffffu) > 0x7f800000u) return (uint16_t)((u >> 16) | 0x0040u);  // NaN stays quiet NaN
    u += 0x7fffu + ((u >> 16) & 1u);
    return (uint16_t)(u >> 16);
}

static inline float from_bf16(uint16_t h) {
    uint32_t u = (uint32_t)h << 16;
    float f;
    memcpy(&f, &u, 4);
    return f;
}

static void f32_to_bf16_portable(const float *src, uint16_t *dst, size_t n) {
    for (size_t i = 0; i < n; i++) dst[i] = to_bf16(src[i]);
}

static void round_portable(const float *src, float *dst, size_t n) {
    for (size_t i = 0; i < n; i++) dst[i] = from_bf16(to_bf16(src[i]));
}

#if defined(__x86_64__)
__attribute__((target("avx512f,avx512bf16,avx512vl")))
static void f32_to_bf16_avx512(const float *src, uint16_t *dst, size_t n) {
    size_t i = 0;
    for (; i + 16 <= n; i += 16) {
        __m256bh h = _mm512_cvtneps_pbh(_mm512_loadu_ps(src + i));
        _mm256_storeu_si256((__m256i *)(dst + i), (__m256i)h);
    }
    for (; i < n; i++) dst[i] = to_bf16(src[i]);
}

__attribute__((target("avx512f,avx512bf16,avx512vl")))
static void round_avx512(const float *src, float *dst, size_t n) {
    size_t i = 0;
    for (; i + 16 <= n; i += 16) {
        __m256bh h = _mm512_cvtneps_pbh(_mm512_loadu_ps(src + i));
        __m512i w = _mm512_slli_epi32(_mm512_cvtepu16_epi32((__m256i)h), 16);
        _mm512_storeu_ps(dst + i, _mm512_castsi512_ps(w));
    }
    for (; i < n; i++) dst[i] = from_bf16(to_bf16(src[i]));
}
#endif

static int has_bf16_instructions(void) {
    static int cached = -1;
    if (cached < 0) {
        sk_cpu_features f;
        sk_cpu_features_read(&f);
        cached = f.avx512_bf16 && f.avx512vl;
    }
    return cached;
}

void sk_f32_to_bf16(const float *src, uint16_t *dst, size_t count) {
#if defined(__x86_64__)
    if (has_bf16_instructions()) { f32_to_bf16_avx512(src, dst, count); return; }
#endif
    f32_to_bf16_portable(src, dst, count);
}

void sk_round_to_bf16(const float *src, float *dst, size_t count) {
#if defined(__x86_64__)
    if (has_bf16_instructions()) { round_avx512(src, dst, count); return; }
#endif
    round_portable(src, dst, count);
}

void sk_bf16_to_f32(const uint16_t *src, float *dst, size_t count) {
    for (size_t i = 0; i < count; i++) dst[i] = from_bf16(src[i]);
}
