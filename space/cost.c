/*
 * space/cost.c - exact parameters, MACs and shapes of an architecture.
 *
 * The walk below mirrors, layer by layer, how the official PyTorch code builds
 * each block (shared/reference/models.md G1/P2): which conv carries the stride,
 * where the mid width comes from, when a projection shortcut exists, where SE
 * sits. It emits one entry per conv-like layer rather than totals only, so the
 * per-layer tables of the reference can be checked and `nas model info` can
 * print them. Conventions (the reference's): params include BN weight and bias
 * (running statistics excluded), and a conv entry's params include the BN that
 * follows it; MACs count conv and linear layers only (SE convs included, BN,
 * activations, pooling, adds and the SE mean excluded). The trainer builds the
 * real network from the same IR; tests compare the two where both exist.
 */
#include "space/cost.h"

#include <assert.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

typedef struct walker {
    nas_cost *cost;
    int cap;
    bool failed;    /* out of memory */
    bool too_large; /* a total would overflow int64 (absurd but valid IR) */
} walker;

static nas_layer_cost *layer_push(walker *w) {
    if (w->failed) return NULL;
    nas_cost *c = w->cost;
    if (c->n_layers == w->cap) {
        int cap = w->cap ? w->cap * 2 : 64;
        nas_layer_cost *grown = realloc(c->layers, (size_t)cap * sizeof *grown);
        if (!grown) {
            w->failed = true;
            return NULL;
        }
        c->layers = grown;
        w->cap = cap;
    }
    nas_layer_cost *l = &c->layers[c->n_layers++];
    memset(l, 0, sizeof *l);
    return l;
}

static void layer_finish(walker *w, nas_layer_cost *l) {
    /* One layer fits easily (<= 15^2 * 65536^2 * 1024^2 MACs), but thousands of
     * them at the IR's limits could overflow the sums. */
    if (w->cost->macs > INT64_MAX - l->macs || w->cost->params > INT64_MAX - l->params ||
        w->cost->activation_elems > INT64_MAX - l->out_elems) {
        w->too_large = true;
        return;
    }
    w->cost->params += l->params;
    w->cost->macs += l->macs;
    w->cost->activation_elems += l->out_elems;
}

/* A conv (optionally followed by BN) on an hw x hw input; returns the output size. */
static int add_conv(walker *w, const char *name, const char *op, int c_in, int c_out, int kernel,
                    int stride, int groups, int pad, int hw, bool bn) {
    int out = nas_conv_out_size(hw, kernel, stride, pad);
    nas_layer_cost *l = layer_push(w);
    if (!l) return out;
    snprintf(l->name, sizeof l->name, "%s", name);
    snprintf(l->op, sizeof l->op, "%s", op);
    l->c_in = c_in;
    l->c_out = c_out;
    l->kernel = kernel;
    l->stride = stride;
    l->groups = groups;
    l->padding = pad;
    l->h_in = l->w_in = hw;
    l->h_out = l->w_out = out;
    int64_t weights = (int64_t)kernel * kernel * (c_in / groups) * c_out;
    l->params = weights + (bn ? 2 * (int64_t)c_out : 0);
    l->macs = weights * out * out;
    l->out_elems = (int64_t)c_out * out * out;
    layer_finish(w, l);
    return out;
}

/* Squeeze-excite on a c_mid x hw x hw tensor: two 1x1 convs with bias on the
 * pooled vector, then the gate multiplies the tensor (output keeps its shape). */
static void add_se(walker *w, const char *name, int c_mid, int rd, int hw) {
    nas_layer_cost *l = layer_push(w);
    if (!l) return;
    snprintf(l->name, sizeof l->name, "%s", name);
    snprintf(l->op, sizeof l->op, "se");
    l->c_in = l->c_out = c_mid;
    l->kernel = l->stride = l->groups = 1;
    l->h_in = l->w_in = l->h_out = l->w_out = hw;
    l->params = 2 * (int64_t)c_mid * rd + rd + c_mid;
    l->macs = 2 * (int64_t)c_mid * rd;
    l->out_elems = (int64_t)c_mid * hw * hw;
    layer_finish(w, l);
}

/* One layer of stage s (index i, layer j); returns the output size. */
static int add_block_layer(walker *w, const nas_stage *s, int i, int j, int c_in, int hw) {
    char name[64];
    int stride = j == 0 ? s->stride : 1;
    int pad = nas_stage_padding(s, stride);
    int k = s->kernel, c_out = s->width;
    int mid = nas_stage_mid_width(s, c_in);
    int out = hw;
#define NAME(part) (snprintf(name, sizeof name, "stages.%d.%d.%s", i, j, part), name)
    switch (s->kind) {
    case NAS_BLOCK_CONV:
        out = add_conv(w, NAME("conv"), "conv", c_in, c_out, k, stride, 1, pad, hw, true);
        break;
    case NAS_BLOCK_XX:
        out = add_conv(w, NAME("conv1"), "conv", c_in, mid, k, stride, 1, pad, hw, true);
        add_conv(w, NAME("conv2"), "conv", mid, c_out, k, 1, 1, nas_stage_padding(s, 1), out, true);
        break;
    case NAS_BLOCK_BL:
        add_conv(w, NAME("conv1"), "conv", c_in, mid, 1, 1, 1, 0, hw, true);
        out = add_conv(w, NAME("conv2"), "conv", mid, mid, k, stride, 1, pad, hw, true);
        add_conv(w, NAME("conv3"), "conv", mid, c_out, 1, 1, 1, 0, out, true);
        break;
    case NAS_BLOCK_DW:
        add_conv(w, NAME("conv1"), "conv", c_in, mid, 1, 1, 1, 0, hw, true);
        out = add_conv(w, NAME("conv2"), "dwconv", mid, mid, k, stride, mid, pad, hw, true);
        add_conv(w, NAME("conv3"), "conv", mid, c_out, 1, 1, 1, 0, out, true);
        break;
    case NAS_BLOCK_FUSED_IRB:
        out = add_conv(w, NAME("conv_exp"), "conv", c_in, mid, k, stride, 1, pad, hw, true);
        if (s->se) add_se(w, NAME("se"), mid, nas_stage_se_width(s, mid), out);
        add_conv(w, NAME("conv_pwl"), "conv", mid, c_out, 1, 1, 1, 0, out, true);
        break;
    case NAS_BLOCK_IRB:
        add_conv(w, NAME("conv_pw"), "conv", c_in, mid, 1, 1, 1, 0, hw, true);
        out = add_conv(w, NAME("conv_dw"), "dwconv", mid, mid, k, stride, mid, pad, hw, true);
        if (s->se) add_se(w, NAME("se"), mid, nas_stage_se_width(s, mid), out);
        add_conv(w, NAME("conv_pwl"), "conv", mid, c_out, 1, 1, 1, 0, out, true);
        break;
    default: assert(!"validated kind"); break;
    }
    if (nas_layer_shortcut(s, c_in, stride) == NAS_SHORTCUT_PROJECTION)
        add_conv(w, NAME("shortcut"), "conv", c_in, c_out, 1, stride, 1, 0, hw, true);
#undef NAME
    return out;
}

int nas_cost_compute(const nas_arch *a, int resolution, nas_cost *out, nas_err *err) {
    memset(out, 0, sizeof *out);
    nas_arch arch = *a;
    if (resolution > 0) arch.resolution = resolution;
    int rc = nas_arch_validate(&arch, err);
    if (rc) return rc;
    walker w = {.cost = out};
    int c = arch.in_channels, hw = arch.resolution;
    for (int i = 0; i < arch.n_stages; i++) {
        const nas_stage *s = &arch.stages[i];
        for (int j = 0; j < s->depth; j++) {
            hw = add_block_layer(&w, s, i, j, j == 0 ? c : s->width, hw);
        }
        if (s->depth > 0) c = s->width;
    }
    nas_layer_cost *pool = layer_push(&w);
    if (pool) {
        snprintf(pool->name, sizeof pool->name, "pool");
        snprintf(pool->op, sizeof pool->op, "avgpool");
        pool->c_in = pool->c_out = c;
        pool->kernel = hw;
        pool->stride = pool->groups = 1;
        pool->h_in = pool->w_in = hw;
        pool->h_out = pool->w_out = 1;
        pool->out_elems = c;
        layer_finish(&w, pool);
    }
    nas_layer_cost *fc = layer_push(&w);
    if (fc) {
        snprintf(fc->name, sizeof fc->name, "fc");
        snprintf(fc->op, sizeof fc->op, "fc");
        fc->c_in = c;
        fc->c_out = arch.classes;
        fc->kernel = fc->stride = fc->groups = 1;
        fc->h_in = fc->w_in = fc->h_out = fc->w_out = 1;
        fc->params = (int64_t)c * arch.classes + arch.classes;
        fc->macs = (int64_t)c * arch.classes;
        fc->out_elems = arch.classes;
        layer_finish(&w, fc);
    }
    if (w.failed) {
        nas_cost_release(out);
        return nas_err_set(err, NAS_ENOMEM, "out of memory computing the cost of an architecture");
    }
    if (w.too_large) {
        nas_cost_release(out);
        return nas_err_set(err, NAS_ERANGE,
                           "the architecture is too large to count (over 9.2e18 MACs or "
                           "parameters); reduce widths, depths or the resolution");
    }
    return 0;
}

void nas_cost_release(nas_cost *c) {
    if (!c) return;
    free(c->layers);
    memset(c, 0, sizeof *c);
}
