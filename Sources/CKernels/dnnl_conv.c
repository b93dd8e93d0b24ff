// 2-D convolutions through oneDNN's primitives.
//
// The network's feature maps are blocked nChw16c float32 (bf16 copies of the same layout feed the bf16
// path); the network's first layer reads plain NCHW images. Weights live in the model as float32
// [O, I, kh, kw]; once per step they are reordered (and, in bf16, rounded) into the layouts the
// primitives chose, and weight gradients are reordered back.
#include "CKernels.h"
#include <oneapi/dnnl/dnnl.h>
#include <oneapi/dnnl/dnnl_debug.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

extern void omp_set_num_threads(int);

static dnnl_engine_t engine;
static dnnl_stream_t stream;
static pthread_once_t engine_once = PTHREAD_ONCE_INIT;
static int thread_count = 1;

static void make_engine(void) {
    if (dnnl_engine_create(&engine, dnnl_cpu, 0) != dnnl_success) { engine = NULL; return; }
    if (dnnl_stream_create(&stream, engine, dnnl_stream_default_flags) != dnnl_success) stream = NULL;
}

struct sk_conv {
    sk_conv_shape shape;
    /// Channels as the primitives see them: blocked maps round up to whole 16-channel blocks (the padded
    /// lanes hold zeros, and so do the padded weights), because several of oneDNN's AVX-512 kernels
    /// (backward passes of 8-channel maps, for example) exist only for whole blocks and a shape they
    /// refuse falls to oneDNN's reference loops, 100x slower.
    int ic, oc;
    dnnl_primitive_desc_t fwd_pd, bwd_data_pd, bwd_weights_pd;
    dnnl_primitive_t fwd, bwd_data, bwd_weights;
    // Memory objects whose data handles are set on every call.
    dnnl_memory_t src, dst, diff_dst, diff_src;
    // Weights: the model's plain float32 copy, the forward and backward-data layouts (owned buffers).
    dnnl_memory_t user_weights, weights_fwd, weights_bwd;
    dnnl_primitive_t reorder_fwd, reorder_bwd;
    // Weight gradient in the primitive's layout (owned) and the model's plain copy.
    dnnl_memory_t diff_weights, user_diff_weights;
    dnnl_primitive_t reorder_diff;
    int weights_bwd_shared, diff_weights_plain;
    // With padded channels: plain [oc, ic, k, k] staging copies of the weights and their gradient.
    float *padded_weights, *padded_diff_weights;
    // Descriptors kept to build the backward primitives on first use (inference never needs them).
    dnnl_memory_desc_t src_md, dst_md, diff_dst_md, diff_src_md, w_any, dw_any, w_plain;
    int backward_ready, weights_set;
    /// What each pass runs (forward, backward-data, backward-weights); -1 for a pass not built yet.
    int algorithm[3];
    /// Our F(2x2, 3x3) Winograd for the forward and backward-data passes, where asked for (winograd.c).
    sk_wino *wino_forward, *wino_backward_data;
    /// Our bf16 Winograd weight gradient, where asked for (winograd_weights.c).
    sk_wgrad *wgrad;
    int wgrad_direct;   // wgrad is the stride-2 direct kernel
    /// Our per-tap matrix products for small maps (conv_taps.c), with the passes that asked for them.
    sk_taps *taps;
    int taps_forward, taps_backward_data, taps_backward_weights;
};

#define TRY(call, what)                                                                              \
    do {                                                                                             \
        dnnl_status_t st_ = (call);                                                                  \
        if (st_ != dnnl_success) {                                                                   \
            snprintf(error, error_size, "oneDNN %s failed: %s", what, dnnl_status2str(st_));         \
            sk_conv_destroy(c);                                                                      \
            return NULL;                                                                             \
        }                                                                                            \
    } while (0)

static dnnl_status_t make_reorder(dnnl_primitive_t *out, const dnnl_memory_desc_t *from, const dnnl_memory_desc_t *to) {
    dnnl_primitive_desc_t pd;
    dnnl_status_t st = dnnl_reorder_primitive_desc_create(&pd, from, engine, to, engine, NULL);
    if (st != dnnl_success) return st;
    st = dnnl_primitive_create(out, pd);
    dnnl_primitive_desc_destroy(pd);
    return st;
}

static dnnl_status_t owned_memory(dnnl_memory_t *out, const dnnl_memory_desc_t *md) {
    return dnnl_memory_create(out, md, engine, DNNL_MEMORY_ALLOCATE);
}

static dnnl_status_t borrowed_memory(dnnl_memory_t *out, const dnnl_memory_desc_t *md) {
    return dnnl_memory_create(out, md, engine, DNNL_MEMORY_NONE);
}

static int winograd_possible(const sk_conv_shape *s) {
    return !s->bf16 && s->kernel == 3 && s->stride == 1 && !s->plain_source;
}

/// A forward primitive descriptor with `algorithm` (Winograd where asked, possible and available, else
/// direct); `*used` says which it got.
static dnnl_status_t forward_pd(const sk_conv *c, int algorithm, dnnl_primitive_desc_t *out, int *used) {
    const sk_conv_shape *s = &c->shape;
    dnnl_dims_t strides = {s->stride, s->stride}, pad = {s->padding, s->padding};
    dnnl_convolution_desc_t fd;
    if (algorithm == SK_CONV_WINOGRAD && winograd_possible(s) &&
        dnnl_convolution_forward_desc_init(&fd, dnnl_forward_training, dnnl_convolution_winograd, &c->src_md, &c->w_any,
                                           NULL, &c->dst_md, strides, pad, pad) == dnnl_success &&
        dnnl_primitive_desc_create(out, &fd, NULL, engine, NULL) == dnnl_success) {
        *used = SK_CONV_WINOGRAD;
        return dnnl_success;
    }
    *used = SK_CONV_DIRECT;
    dnnl_status_t st = dnnl_convolution_forward_desc_init(&fd, dnnl_forward_training, dnnl_convolution_direct, &c->src_md,
                                                          &c->w_any, NULL, &c->dst_md, strides, pad, pad);
    return st == dnnl_success ? dnnl_primitive_desc_create(out, &fd, NULL, engine, NULL) : st;
}

static int wino2x2_possible(const sk_conv_shape *s) {
    return s->kernel == 3 && s->stride == 1 && s->padding == 1 && !s->plain_source && sk_wino_supported(s->bf16);
}

static int strided_wgrad_possible(const sk_conv_shape *s) {
    return s->kernel == 3 && s->stride == 2 && s->padding == 1 && !s->plain_source && sk_wino_supported(1);
}

static int taps_possible(const sk_conv_shape *s) {
    return s->kernel == 3 && s->stride == 1 && s->padding == 1 && !s->plain_source && !s->bf16;
}

static dnnl_alg_kind_t dnnl_algorithm(int algorithm) {
    return algorithm == SK_CONV_WINOGRAD ? dnnl_convolution_winograd : dnnl_convolution_direct;
}

sk_conv *sk_conv_create(const sk_conv_shape *s, char *error, size_t error_size) {
    pthread_once(&engine_once, make_engine);
    if (!engine || !stream) { snprintf(error, error_size, "oneDNN has no CPU engine"); return NULL; }
    sk_conv *c = calloc(1, sizeof *c);
    if (!c) { snprintf(error, error_size, "out of memory"); return NULL; }
    c->shape = *s;
    c->algorithm[0] = c->algorithm[1] = c->algorithm[2] = -1;
    c->ic = s->plain_source ? s->in_channels : (s->in_channels + SK_BLOCK - 1) / SK_BLOCK * SK_BLOCK;
    c->oc = (s->out_channels + SK_BLOCK - 1) / SK_BLOCK * SK_BLOCK;
    int oh = (s->in_height + 2 * s->padding - s->kernel) / s->stride + 1;
    int ow = (s->in_width + 2 * s->padding - s->kernel) / s->stride + 1;
    dnnl_dims_t src_dims = {s->batch, c->ic, s->in_height, s->in_width};
    dnnl_dims_t dst_dims = {s->batch, c->oc, oh, ow};
    dnnl_dims_t w_dims = {c->oc, c->ic, s->kernel, s->kernel};
    dnnl_data_type_t low = s->bf16 ? dnnl_bf16 : dnnl_f32;
    dnnl_format_tag_t src_tag = s->plain_source ? dnnl_nchw : dnnl_nChw16c;

    TRY(dnnl_memory_desc_init_by_tag(&c->src_md, 4, src_dims, low, src_tag), "source descriptor");
    TRY(dnnl_memory_desc_init_by_tag(&c->dst_md, 4, dst_dims, dnnl_f32, dnnl_nChw16c), "output descriptor");
    TRY(dnnl_memory_desc_init_by_tag(&c->diff_dst_md, 4, dst_dims, low, dnnl_nChw16c), "output-gradient descriptor");
    TRY(dnnl_memory_desc_init_by_tag(&c->diff_src_md, 4, src_dims, dnnl_f32, src_tag), "input-gradient descriptor");
    TRY(dnnl_memory_desc_init_by_tag(&c->w_any, 4, w_dims, low, dnnl_format_tag_any), "weights descriptor");
    TRY(dnnl_memory_desc_init_by_tag(&c->dw_any, 4, w_dims, dnnl_f32, dnnl_format_tag_any), "weight-gradient descriptor");
    TRY(dnnl_memory_desc_init_by_tag(&c->w_plain, 4, w_dims, dnnl_f32, dnnl_oihw), "plain weights descriptor");
    if (c->ic != s->in_channels || c->oc != s->out_channels) {
        size_t n = (size_t)c->oc * c->ic * s->kernel * s->kernel;
        c->padded_weights = calloc(n, sizeof(float));
        c->padded_diff_weights = calloc(n, sizeof(float));
        if (!c->padded_weights || !c->padded_diff_weights) TRY(dnnl_out_of_memory, "padded weights");
    }

    // Our F(2x2) Winograd: the oneDNN forward descriptor below is still built (direct) for the backward passes'
    // hints and the weights' layouts, but not executed.
    if (s->forward_algorithm == SK_CONV_WINOGRAD_2X2 && wino2x2_possible(s))
        c->wino_forward = sk_wino_create(s->batch, c->ic, c->oc, s->in_height, s->in_width, s->bf16, thread_count);
    if (s->backward_data && s->backward_data_algorithm == SK_CONV_WINOGRAD_2X2 && wino2x2_possible(s))
        c->wino_backward_data = sk_wino_create(s->batch, c->oc, c->ic, s->in_height, s->in_width, s->bf16, thread_count);
    if (s->bf16 && s->backward_weights_algorithm == SK_CONV_WINOGRAD_2X2 && wino2x2_possible(s))
        c->wgrad = sk_wgrad_create(s->batch, c->ic, c->oc, s->in_height, s->in_width, 1, thread_count);
    // A strided 3x3 layer has no Winograd; where bf16 asks for ours, our direct weight gradient on the same
    // micro-kernels runs in place of oneDNN's (winograd_weights.c: about twice its rate on ResNet's shapes).
    if (s->bf16 && s->backward_weights_algorithm == SK_CONV_WINOGRAD_2X2 && strided_wgrad_possible(s)) {
        c->wgrad = sk_wgrad_create(s->batch, c->ic, c->oc, s->in_height, s->in_width, 2, thread_count);
        c->wgrad_direct = c->wgrad != NULL;
    }
    // known now: callers ask it before the first backward
    if (c->wgrad) c->algorithm[2] = c->wgrad_direct ? SK_CONV_DIRECT : SK_CONV_WINOGRAD_2X2;
    if (taps_possible(s)) {
        c->taps_forward = s->forward_algorithm == SK_CONV_TAPS;
        c->taps_backward_data = s->backward_data && s->backward_data_algorithm == SK_CONV_TAPS;
        c->taps_backward_weights = s->backward_weights_algorithm == SK_CONV_TAPS;
        if (c->taps_forward || c->taps_backward_data || c->taps_backward_weights) {
            c->taps = sk_taps_create(s->batch, c->ic, c->oc, s->in_height, s->in_width, thread_count);
            if (!c->taps) c->taps_forward = c->taps_backward_data = c->taps_backward_weights = 0;
        }
    }
    // Ours (F(2x2), taps) run in place of oneDNN's forward, whose descriptor is still built (direct) as above.
    int forward_asked = s->forward_algorithm == SK_CONV_WINOGRAD_2X2 || s->forward_algorithm == SK_CONV_TAPS
                            ? SK_CONV_DIRECT : s->forward_algorithm;
    TRY(forward_pd(c, forward_asked, &c->fwd_pd, &c->algorithm[0]), "forward primitive descriptor");
    if (c->wino_forward) c->algorithm[0] = SK_CONV_WINOGRAD_2X2;
    if (c->taps_forward) c->algorithm[0] = SK_CONV_TAPS;
    TRY(dnnl_primitive_create(&c->fwd, c->fwd_pd), "forward primitive");
    const dnnl_memory_desc_t *w_fwd_md = dnnl_primitive_desc_query_md(c->fwd_pd, dnnl_query_weights_md, 0);

    TRY(borrowed_memory(&c->src, &c->src_md), "source memory");
    TRY(borrowed_memory(&c->dst, &c->dst_md), "output memory");
    TRY(borrowed_memory(&c->diff_dst, &c->diff_dst_md), "output-gradient memory");
    TRY(borrowed_memory(&c->user_weights, &c->w_plain), "weights memory");
    TRY(borrowed_memory(&c->user_diff_weights, &c->w_plain), "weight-gradient memory");
    TRY(owned_memory(&c->weights_fwd, w_fwd_md), "forward weights memory");
    TRY(make_reorder(&c->reorder_fwd, &c->w_plain, w_fwd_md), "weights reorder");
    return c;
}

void sk_conv_destroy(sk_conv *c) {
    if (!c) return;
    dnnl_primitive_t prims[] = {c->fwd, c->bwd_data, c->bwd_weights, c->reorder_fwd, c->reorder_bwd, c->reorder_diff};
    for (size_t i = 0; i < sizeof prims / sizeof *prims; i++) if (prims[i]) dnnl_primitive_destroy(prims[i]);
    dnnl_memory_t mems[] = {c->src, c->dst, c->diff_dst, c->diff_src, c->user_weights, c->weights_fwd,
                            c->weights_bwd, c->diff_weights, c->user_diff_weights};
    for (size_t i = 0; i < sizeof mems / sizeof *mems; i++) if (mems[i]) dnnl_memory_destroy(mems[i]);
    dnnl_primitive_desc_t pds[] = {c->fwd_pd, c->bwd_data_pd, c->bwd_weights_pd};
    for (size_t i = 0; i < sizeof pds / sizeof *pds; i++) if (pds[i]) dnnl_primitive_desc_destroy(pds[i]);
    free(c->padded_weights);
    free(c->padded_diff_weights);
    sk_wino_destroy(c->wino_forward);
    sk_wino_destroy(c->wino_backward_data);
    sk_wgrad_destroy(c->wgrad);
    sk_taps_destroy(c->taps);
    free(c);
}

static int run(dnnl_primitive_t p, int nargs, const dnnl_exec_arg_t *args) {
    omp_set_num_threads(thread_count);
    dnnl_status_t st = dnnl_primitive_execute(p, stream, nargs, args);
    if (st == dnnl_success) st = dnnl_stream_wait(stream);
    return (int)st;
}

static int reorder(dnnl_primitive_t p, dnnl_memory_t from, dnnl_memory_t to) {
    dnnl_exec_arg_t args[] = {{DNNL_ARG_FROM, from}, {DNNL_ARG_TO, to}};
    return run(p, 2, args);
}

/// The forward descriptor a backward pass of `algorithm` is built against: the forward's own when the
/// algorithms agree, else one made for the purpose (`*made`, to destroy after use).
static dnnl_status_t hint_for(sk_conv *c, int algorithm, dnnl_primitive_desc_t *hint, dnnl_primitive_desc_t *made) {
    *made = NULL;
    int used;
    int forward = c->wino_forward || c->taps_forward ? SK_CONV_DIRECT : c->algorithm[0];
    if (algorithm == forward || (algorithm == SK_CONV_WINOGRAD && !winograd_possible(&c->shape))) {
        *hint = c->fwd_pd;
        return dnnl_success;
    }
    dnnl_status_t st = forward_pd(c, algorithm, made, &used);
    *hint = *made;
    return st;
}

/// Builds backward-data with `algorithm`, falling back to direct where oneDNN has no Winograd for it.
static dnnl_status_t build_backward_data(sk_conv *c, int algorithm) {
    const sk_conv_shape *s = &c->shape;
    dnnl_dims_t strides = {s->stride, s->stride}, pad = {s->padding, s->padding};
    if (algorithm == SK_CONV_WINOGRAD && !winograd_possible(s)) algorithm = SK_CONV_DIRECT;
    dnnl_primitive_desc_t hint, made;
    dnnl_status_t st = hint_for(c, algorithm, &hint, &made);
    dnnl_convolution_desc_t d;
    if (st == dnnl_success)
        st = dnnl_convolution_backward_data_desc_init(&d, dnnl_algorithm(algorithm), &c->diff_src_md, &c->w_any,
                                                      &c->diff_dst_md, strides, pad, pad);
    if (st == dnnl_success) st = dnnl_primitive_desc_create(&c->bwd_data_pd, &d, NULL, engine, hint);
    if (made) dnnl_primitive_desc_destroy(made);
    if (st != dnnl_success && algorithm == SK_CONV_WINOGRAD) return build_backward_data(c, SK_CONV_DIRECT);
    if (st == dnnl_success) c->algorithm[1] = algorithm;
    return st;
}

static dnnl_status_t build_backward_weights(sk_conv *c, int algorithm) {
    const sk_conv_shape *s = &c->shape;
    dnnl_dims_t strides = {s->stride, s->stride}, pad = {s->padding, s->padding};
    if (algorithm == SK_CONV_WINOGRAD && !winograd_possible(s)) algorithm = SK_CONV_DIRECT;
    dnnl_primitive_desc_t hint, made;
    dnnl_status_t st = hint_for(c, algorithm, &hint, &made);
    dnnl_convolution_desc_t d;
    if (st == dnnl_success)
        st = dnnl_convolution_backward_weights_desc_init(&d, dnnl_algorithm(algorithm), &c->src_md, &c->dw_any, NULL,
                                                         &c->diff_dst_md, strides, pad, pad);
    if (st == dnnl_success) st = dnnl_primitive_desc_create(&c->bwd_weights_pd, &d, NULL, engine, hint);
    if (made) dnnl_primitive_desc_destroy(made);
    if (st != dnnl_success && algorithm == SK_CONV_WINOGRAD) return build_backward_weights(c, SK_CONV_DIRECT);
    if (st == dnnl_success) c->algorithm[2] = algorithm;
    return st;
}

/// Builds the backward primitives (once); returns 0 or a oneDNN status.
static int prepare_backward(sk_conv *c) {
    if (c->backward_ready) return 0;
    const sk_conv_shape *s = &c->shape;
    dnnl_status_t st;
    const dnnl_memory_desc_t *w_fwd_md = dnnl_primitive_desc_query_md(c->fwd_pd, dnnl_query_weights_md, 0);
#define STEP(call) do { st = (call); if (st != dnnl_success) return (int)st; } while (0)
    if (c->wino_backward_data || c->taps_backward_data) {
        c->algorithm[1] = c->wino_backward_data ? SK_CONV_WINOGRAD_2X2 : SK_CONV_TAPS;
        STEP(borrowed_memory(&c->diff_src, &c->diff_src_md));
    } else if (s->backward_data) {
        int asked = s->backward_data_algorithm == SK_CONV_WINOGRAD_2X2 || s->backward_data_algorithm == SK_CONV_TAPS
                        ? SK_CONV_DIRECT : s->backward_data_algorithm;
        STEP(build_backward_data(c, asked));
        STEP(dnnl_primitive_create(&c->bwd_data, c->bwd_data_pd));
        const dnnl_memory_desc_t *w_bwd_md = dnnl_primitive_desc_query_md(c->bwd_data_pd, dnnl_query_weights_md, 0);
        c->weights_bwd_shared = dnnl_memory_desc_equal(w_bwd_md, w_fwd_md);
        if (!c->weights_bwd_shared) {
            STEP(owned_memory(&c->weights_bwd, w_bwd_md));
            STEP(make_reorder(&c->reorder_bwd, &c->w_plain, w_bwd_md));
        }
        STEP(borrowed_memory(&c->diff_src, &c->diff_src_md));
    }
    if (c->wgrad || c->taps_backward_weights) {
        c->algorithm[2] = c->wgrad ? (c->wgrad_direct ? SK_CONV_DIRECT : SK_CONV_WINOGRAD_2X2) : SK_CONV_TAPS;
    } else {
        int asked = s->backward_weights_algorithm;
        STEP(build_backward_weights(c, asked == SK_CONV_WINOGRAD_2X2 || asked == SK_CONV_TAPS ? SK_CONV_DIRECT : asked));
        STEP(dnnl_primitive_create(&c->bwd_weights, c->bwd_weights_pd));
        const dnnl_memory_desc_t *dw_md = dnnl_primitive_desc_query_md(c->bwd_weights_pd, dnnl_query_diff_weights_md, 0);
        c->diff_weights_plain = dnnl_memory_desc_equal(dw_md, &c->w_plain);
        if (!c->diff_weights_plain) {
            STEP(owned_memory(&c->diff_weights, dw_md));
            STEP(make_reorder(&c->reorder_diff, dw_md, &c->w_plain));
        }
    }
#undef STEP
    c->backward_ready = 1;
    // Weights given before the backward-data primitive existed reach its layout from the forward copy.
    if (c->bwd_data && !c->weights_bwd_shared && c->weights_set) {
        dnnl_primitive_t from_forward;
        st = make_reorder(&from_forward, w_fwd_md, dnnl_primitive_desc_query_md(c->bwd_data_pd, dnnl_query_weights_md, 0));
        if (st != dnnl_success) return (int)st;
        dnnl_exec_arg_t args[] = {{DNNL_ARG_FROM, c->weights_fwd}, {DNNL_ARG_TO, c->weights_bwd}};
        int done = run(from_forward, 2, args);
        dnnl_primitive_destroy(from_forward);
        return done;
    }
    return 0;
}

/// Copies [O, I, k, k] between the model's weights and the padded [oc, ic, k, k] staging copy.
static void copy_padded(const sk_conv *c, const float *from, float *to, int into_padded) {
    const sk_conv_shape *s = &c->shape;
    size_t k2 = (size_t)s->kernel * s->kernel, row = (size_t)s->in_channels * k2;
    for (int o = 0; o < s->out_channels; o++) {
        if (into_padded) memcpy(to + (size_t)o * c->ic * k2, from + o * row, row * sizeof(float));
        else memcpy(to + o * row, from + (size_t)o * c->ic * k2, row * sizeof(float));
    }
}

int sk_conv_set_weights(sk_conv *c, const float *weights) {
    c->weights_set = 1;
    if (c->padded_weights) {
        copy_padded(c, weights, c->padded_weights, 1);
        weights = c->padded_weights;
    }
    if (c->wino_forward) sk_wino_set_weights(c->wino_forward, weights, 0);
    if (c->wino_backward_data) sk_wino_set_weights(c->wino_backward_data, weights, 1);
    if (c->taps && (c->taps_forward || c->taps_backward_data)) sk_taps_set_weights(c->taps, weights);
    dnnl_memory_set_data_handle(c->user_weights, (void *)weights);
    // oneDNN's forward layout is read by the direct forward, by a direct backward-data that shares it, and
    // before the backward primitives exist (their first weights come from it). With our F(2x2) forward and
    // nothing else reading it, reordering it on every call would be work for nobody.
    int direct_backward_data = c->shape.backward_data && !c->wino_backward_data && !c->taps_backward_data;
    int ours_forward = c->wino_forward || c->taps_forward;
    int forward_copy_read = !ours_forward || !c->backward_ready || (direct_backward_data && c->weights_bwd_shared);
    int st = forward_copy_read ? reorder(c->reorder_fwd, c->user_weights, c->weights_fwd) : 0;
    if (st == 0 && c->reorder_bwd) st = reorder(c->reorder_bwd, c->user_weights, c->weights_bwd);
    return st;
}

int sk_conv_forward(sk_conv *c, const void *src, const float *src_f32, float *dst) {
    if (c->wino_forward) {
        if (src_f32) return sk_wino_forward(c->wino_forward, src_f32, 0, dst, thread_count);
        return sk_wino_forward(c->wino_forward, src, c->shape.bf16, dst, thread_count);
    }
    if (c->taps_forward) return sk_taps_forward(c->taps, src, dst);
    dnnl_memory_set_data_handle(c->src, (void *)src);
    dnnl_memory_set_data_handle(c->dst, dst);
    dnnl_exec_arg_t args[] = {{DNNL_ARG_SRC, c->src}, {DNNL_ARG_WEIGHTS, c->weights_fwd}, {DNNL_ARG_DST, c->dst}};
    return run(c->fwd, 3, args);
}

int sk_conv_backward_data(sk_conv *c, const void *diff_dst, float *diff_src) {
    int st = prepare_backward(c);
    if (st) return st;
    if (c->wino_backward_data) return sk_wino_forward(c->wino_backward_data, diff_dst, c->shape.bf16, diff_src, thread_count);
    if (c->taps_backward_data) return sk_taps_backward_data(c->taps, diff_dst, diff_src);
    if (!c->bwd_data) return (int)dnnl_invalid_arguments;
    dnnl_memory_set_data_handle(c->diff_dst, (void *)diff_dst);
    dnnl_memory_set_data_handle(c->diff_src, diff_src);
    dnnl_memory_t w = c->weights_bwd_shared ? c->weights_fwd : c->weights_bwd;
    dnnl_exec_arg_t args[] = {{DNNL_ARG_DIFF_DST, c->diff_dst}, {DNNL_ARG_WEIGHTS, w}, {DNNL_ARG_DIFF_SRC, c->diff_src}};
    return run(c->bwd_data, 3, args);
}

int sk_conv_backward_weights(sk_conv *c, const void *src, const float *src_f32, const void *diff_dst, float *diff_weights) {
    int ready = prepare_backward(c);
    if (ready) return ready;
    if (c->wgrad || c->taps_backward_weights) {
        float *dw = c->padded_diff_weights ? c->padded_diff_weights : diff_weights;
        int st = c->taps_backward_weights ? sk_taps_backward_weights(c->taps, src, diff_dst, dw)
                 : src_f32 ? sk_wgrad_run(c->wgrad, src_f32, 0, diff_dst, 1, dw)
                           : sk_wgrad_run(c->wgrad, src, 1, diff_dst, 1, dw);
        if (st == 0 && c->padded_diff_weights) copy_padded(c, c->padded_diff_weights, diff_weights, 0);
        return st;
    }
    dnnl_memory_set_data_handle(c->src, (void *)src);
    dnnl_memory_set_data_handle(c->diff_dst, (void *)diff_dst);
    dnnl_memory_set_data_handle(c->user_diff_weights, c->padded_diff_weights ? c->padded_diff_weights : diff_weights);
    dnnl_memory_t dw = c->diff_weights_plain ? c->user_diff_weights : c->diff_weights;
    dnnl_exec_arg_t args[] = {{DNNL_ARG_SRC, c->src}, {DNNL_ARG_DIFF_DST, c->diff_dst}, {DNNL_ARG_DIFF_WEIGHTS, dw}};
    int st = run(c->bwd_weights, 3, args);
    if (st == 0 && !c->diff_weights_plain) st = reorder(c->reorder_diff, c->diff_weights, c->user_diff_weights);
    if (st == 0 && c->padded_diff_weights) copy_padded(c, c->padded_diff_weights, diff_weights, 0);
    return st;
}

int sk_conv_algorithm(const sk_conv *c, int which) { return c->algorithm[which]; }

const char *sk_conv_implementation(const sk_conv *c, int which) {
    if ((which == 0 && c->wino_forward) || (which == 1 && c->wino_backward_data)) return "own:winograd_2x2";
    if (which == 2 && c->wgrad) return c->wgrad_direct ? "own:direct_3x3_s2_bf16" : "own:winograd_3x3_2x2_bf16";
    if ((which == 0 && c->taps_forward) || (which == 1 && c->taps_backward_data) || (which == 2 && c->taps_backward_weights))
        return "own:taps_sgemm";
    const_dnnl_primitive_desc_t pd = which == 0 ? c->fwd_pd : which == 1 ? c->bwd_data_pd : c->bwd_weights_pd;
    const char *name = NULL;
    if (!pd || dnnl_primitive_desc_query(pd, dnnl_query_impl_info_str, 0, &name) != dnnl_success) return "none";
    return name;
}

void sk_set_threads(int threads) { thread_count = threads > 0 ? threads : 1; }

const char *sk_dnnl_version(void) {
    static char text[32];
    const dnnl_version_t *v = dnnl_version();
    snprintf(text, sizeof text, "%d.%d.%d", v->major, v->minor, v->patch);
    return text;
}

const char *sk_dnnl_isa(void) {
    switch (dnnl_get_effective_cpu_isa()) {
    case dnnl_cpu_isa_sse41: return "sse41";
    case dnnl_cpu_isa_avx: return "avx";
    case dnnl_cpu_isa_avx2: return "avx2";
    case dnnl_cpu_isa_avx2_vnni: return "avx2_vnni";
    case dnnl_cpu_isa_avx512_core: return "avx512_core";
    case dnnl_cpu_isa_avx512_core_vnni: return "avx512_core_vnni";
    case dnnl_cpu_isa_avx512_core_bf16: return "avx512_core_bf16";
    case dnnl_cpu_isa_avx512_core_amx: return "avx512_core_amx";
    default: return "other";
    }
}
