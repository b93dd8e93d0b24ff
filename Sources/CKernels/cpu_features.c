// What the CPU and the OS offer, read with cpuid/xgetbv (x86-64); zeros elsewhere.
#include "CKernels.h"
#include <string.h>

#if defined(__x86_64__)
#include <cpuid.h>
#include <sys/syscall.h>
#include <unistd.h>

#define ARCH_GET_XCOMP_PERM 0x1022
#define ARCH_REQ_XCOMP_PERM 0x1023
#define XFEATURE_XTILEDATA 18

static unsigned long long read_xcr0(void) {
    unsigned int eax, edx;
    __asm__ volatile("xgetbv" : "=a"(eax), "=d"(edx) : "c"(0));
    return ((unsigned long long)edx << 32) | eax;
}

// Linux hands out AMX tile data state only to processes that ask for it (since 5.16).
static int amx_permission(void) {
    unsigned long long bits = 0;
    if (syscall(SYS_arch_prctl, ARCH_GET_XCOMP_PERM, &bits) == 0 && (bits & (1ULL << XFEATURE_XTILEDATA)))
        return 1;
    if (syscall(SYS_arch_prctl, ARCH_REQ_XCOMP_PERM, XFEATURE_XTILEDATA) != 0) return 0;
    bits = 0;
    return syscall(SYS_arch_prctl, ARCH_GET_XCOMP_PERM, &bits) == 0 && (bits & (1ULL << XFEATURE_XTILEDATA));
}

void sk_cpu_features_read(sk_cpu_features *f) {
    memset(f, 0, sizeof *f);
    unsigned int a, b, c, d, max_leaf;
    __cpuid(0, max_leaf, b, c, d);
    memcpy(f->vendor, &b, 4); memcpy(f->vendor + 4, &d, 4); memcpy(f->vendor + 8, &c, 4);
    unsigned int max_ext;
    __cpuid(0x80000000, max_ext, b, c, d);
    if (max_ext >= 0x80000004) {
        unsigned int *brand = (unsigned int *)f->brand;
        for (unsigned int leaf = 0; leaf < 3; leaf++) {
            __cpuid(0x80000002 + leaf, brand[4 * leaf], brand[4 * leaf + 1], brand[4 * leaf + 2], brand[4 * leaf + 3]);
        }
    }
    __cpuid(1, a, b, c, d);
    int osxsave = (c >> 27) & 1;
    f->fma = (c >> 12) & 1;
    unsigned long long xcr0 = osxsave ? read_xcr0() : 0;
    int ymm_ok = (xcr0 & 0x6) == 0x6, zmm_ok = (xcr0 & 0xe6) == 0xe6;
    f->fma &= ymm_ok;
    if (max_leaf >= 7) {
        __cpuid_count(7, 0, a, b, c, d);
        f->avx2 = ((b >> 5) & 1) && ymm_ok;
        f->avx512f = ((b >> 16) & 1) && zmm_ok;
        f->avx512bw = ((b >> 30) & 1) && zmm_ok;
        f->avx512vl = ((b >> 31) & 1) && zmm_ok;
        f->amx_bf16 = (d >> 22) & 1;
        f->amx_tile = (d >> 24) & 1;
        unsigned int eax1;
        __cpuid_count(7, 1, eax1, b, c, d);
        f->avx512_bf16 = ((eax1 >> 5) & 1) && zmm_ok;
    }
    if (f->amx_tile) {
        int tile_state = (xcr0 & (3ULL << 17)) == (3ULL << 17);
        f->amx_os_enabled = tile_state && amx_permission();
    }
    if (max_leaf >= 0x16) {
        __cpuid(0x16, a, b, c, d);
        f->base_mhz = (int)(a & 0xffff);
        f->max_mhz = (int)(b & 0xffff);
    }
}
#else
void sk_cpu_features_read(sk_cpu_features *f) { memset(f, 0, sizeof *f); }
#endif
