// Time of each convolution pass (forward, backward-data, backward-weights) of ResNet-18's shapes (CIFAR stem,
// 32 px) under each algorithm, through the package's own kernels (Sources/CKernels/dnnl_conv.c, winograd.c):
// float32 direct, oneDNN's Winograd F(4x4, 3x3), our F(2x2, 3x3) (forward and backward-data; its weight
// gradient is F(4x4) in float32), our per-tap matrix products (conv_taps.c; 3x3 stride-1 shapes, else direct),
// bf16 direct and bf16 F(2x2) (all three passes; the weight gradient by F(3x3, 2x2), winograd_weights.c; on
// strided 3x3 layers our direct bf16 weight gradient, winograd_weights.c at stride 2).
// Medians of --reps runs, ms.
// The figures behind `--conv-algorithm auto` (docs/precision.md, 'Choosing the algorithm per layer and pass').
//
// Build and run: deploy/bench-conv-algorithms.sh [--batch 128] [--threads 2] [--reps 5] [--width 1.0]
//                [--image-size 32] [--precision all|fp32|bf16]
#include "CKernels.h"
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

static double now(void) {
    struct timespec t;
    clock_gettime(CLOCK_MONOTONIC, &t);
    return t.tv_sec + 1e-9 * t.tv_nsec;
}
static int by_value(const void *a, const void *b) { double x = *(const double *)a, y = *(const double *)b; return x < y ? -1 : x > y; }
static void *aligned_buffer(size_t bytes) {   // the kernels' outputs are written with aligned streaming stores
    void *p = NULL;
    if (posix_memalign(&p, 64, (bytes + 63) / 64 * 64)) abort();
    return p;
}

int main(int argc, char **argv) {
    int batch = 128, threads = 2, reps = 5, image = 32;
    double width = 1.0;
    const char *precision = "all";
    for (int i = 1; i + 1 < argc; i += 2) {
        if (!strcmp(argv[i], "--batch")) batch = atoi(argv[i + 1]);
        else if (!strcmp(argv[i], "--threads")) threads = atoi(argv[i + 1]);
        else if (!strcmp(argv[i], "--reps")) reps = atoi(argv[i + 1]);
        else if (!strcmp(argv[i], "--width")) width = atof(argv[i + 1]);
        else if (!strcmp(argv[i], "--image-size")) image = atoi(argv[i + 1]);
        else if (!strcmp(argv[i], "--precision")) precision = argv[i + 1];
    }
    if (image < 8 || image % 8) { fprintf(stderr, "--image-size: a multiple of 8 (the maps halve three times)\n"); return 1; }
    if (reps < 1 || reps > 32) reps = 5;
    sk_set_threads(threads);
    // name, in and out channels (at width 1), kernel, stride, input side at 32 px images, how many in ResNet-18
    struct { const char *name; int in, out, kernel, stride, side, count; } layers[] = {
        {"conv1", 3, 64, 3, 1, 32, 1},         {"layer1 3x3", 64, 64, 3, 1, 32, 4},
        {"layer2.0 s2", 64, 128, 3, 2, 32, 1}, {"layer2 3x3", 128, 128, 3, 1, 16, 3}, {"layer2 1x1", 64, 128, 1, 2, 32, 1},
        {"layer3.0 s2", 128, 256, 3, 2, 16, 1}, {"layer3 3x3", 256, 256, 3, 1, 8, 3}, {"layer3 1x1", 128, 256, 1, 2, 16, 1},
        {"layer4.0 s2", 256, 512, 3, 2, 8, 1}, {"layer4 3x3", 512, 512, 3, 1, 4, 3},  {"layer4 1x1", 256, 512, 1, 2, 8, 1}};
    struct { const char *name; int bf16, algorithm; } configs[] = {
        {"fp32 direct", 0, SK_CONV_DIRECT}, {"fp32 F(4x4)", 0, SK_CONV_WINOGRAD}, {"fp32 F(2x2)", 0, SK_CONV_WINOGRAD_2X2},
        {"fp32 taps", 0, SK_CONV_TAPS},
        {"bf16 direct", 1, SK_CONV_DIRECT}, {"bf16 F(2x2)", 1, SK_CONV_WINOGRAD_2X2}};
    enum { CONFIGS = sizeof configs / sizeof *configs };
    double total[CONFIGS][3] = {{0}};
    printf("batch %d, %d px, %d threads, width %g; ms per convolution: forward / backward-data / backward-weights [algorithm codes]\n",
           batch, image, threads, width);
    for (size_t li = 0; li < sizeof layers / sizeof *layers; li++) {
        int plain = li == 0, side = layers[li].side * image / 32, k = layers[li].kernel, s = layers[li].stride;
        int ci = plain ? 3 : (int)(layers[li].in * width + 0.5), co = (int)(layers[li].out * width + 0.5);
        int out_side = (side + 2 * (k / 2) - k) / s + 1;
        printf("%-12s %3d->%3d %2d px x%d\n", layers[li].name, ci, co, side, layers[li].count);
        for (int cfg = 0; cfg < CONFIGS; cfg++) {
            int a = configs[cfg].algorithm, bf16 = configs[cfg].bf16;
            if (strcmp(precision, "all") && strcmp(precision, bf16 ? "bf16" : "fp32")) continue;
            int weights_algorithm = a == SK_CONV_WINOGRAD_2X2 && !bf16 ? SK_CONV_WINOGRAD : a;
            sk_conv_shape shape = {batch, ci, co, side, side, k, s, k / 2, plain, bf16, !plain, a, a, weights_algorithm};
            char error[256];
            sk_conv *conv = sk_conv_create(&shape, error, sizeof error);
            if (!conv) { fprintf(stderr, "%s\n", error); return 1; }
            size_t n_src = (size_t)batch * ((ci + 15) / 16 * 16) * side * side, n_dst = (size_t)batch * ((co + 15) / 16 * 16) * out_side * out_side;
            size_t n_w = (size_t)((ci + 15) / 16 * 16) * ((co + 15) / 16 * 16) * k * k;
            float *x = aligned_buffer(n_src * 4), *y = aligned_buffer(n_dst * 4), *dx = aligned_buffer(n_src * 4);
            float *w = aligned_buffer(n_w * 4), *dw = aligned_buffer(n_w * 4);
            uint16_t *x16 = aligned_buffer(n_src * 2), *y16 = aligned_buffer(n_dst * 2);
            for (size_t i = 0; i < n_src; i++) x[i] = (float)((i * 2654435761u) % 1000) / 1000.f;
            for (size_t i = 0; i < n_dst; i++) y[i] = (float)((i * 40503u) % 1000) / 1000.f - 0.5f;
            for (size_t i = 0; i < n_w; i++) w[i] = 0.01f * (float)((int)(i % 7) - 3);
            sk_f32_to_bf16(x, x16, n_src);
            sk_f32_to_bf16(y, y16, n_dst);
            const void *src = bf16 ? (const void *)x16 : x, *dy = bf16 ? (const void *)y16 : y;
            sk_conv_set_weights(conv, w);
            double t[3][32];
            for (int r = 0; r <= reps; r++) {   // the first run builds the backward primitives: not timed
                double t0 = now();
                sk_conv_forward(conv, src, NULL, y);
                double t1 = now();
                if (!plain) sk_conv_backward_data(conv, dy, dx);
                double t2 = now();
                sk_conv_backward_weights(conv, src, NULL, dy, dw);
                double t3 = now();
                if (r > 0) { t[0][r - 1] = t1 - t0; t[1][r - 1] = t2 - t1; t[2][r - 1] = t3 - t2; }
            }
            printf("    %-12s", configs[cfg].name);
            for (int p = 0; p < 3; p++) {
                qsort(t[p], reps, sizeof(double), by_value);
                double ms = t[p][reps / 2] * 1000;
                printf(" %8.2f", ms);
                total[cfg][p] += ms * layers[li].count;
            }
            printf("  [%d %d %d]\n", sk_conv_algorithm(conv, 0), plain ? -1 : sk_conv_algorithm(conv, 1), sk_conv_algorithm(conv, 2));
            sk_conv_destroy(conv);
            free(x); free(y); free(dx); free(w); free(dw); free(x16); free(y16);
        }
    }
    printf("whole network (each shape x its count), ms: forward / backward-data / backward-weights = sum\n");
    for (int cfg = 0; cfg < CONFIGS; cfg++)
        printf("    %-12s %8.1f %8.1f %8.1f = %.1f\n", configs[cfg].name, total[cfg][0], total[cfg][1], total[cfg][2],
               total[cfg][0] + total[cfg][1] + total[cfg][2]);
    printf("algorithm codes: 0 direct, 1 F(4x4), 2 F(2x2), 3 taps\n");
    return 0;
}
