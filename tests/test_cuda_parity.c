/*
 * tests/test_cuda_parity.c - the CUDA backend against the CPU reference.
 *
 * Every op of trainer/backend.h runs on both backends with the same random
 * inputs (uploaded through each backend's own upload, so the NCHW<->NHWC and
 * precision conversions are under test too) and the outputs are compared by
 * relative error, max|gpu - cpu| / max|cpu|: below 1e-4 in fp32 and 2e-2 in
 * bf16 (inputs are rounded to bf16 first, so the tolerance covers only the
 * reduced-precision storage of intermediate results). Then one full training
 * step of every preset (forward, loss, backward, SGD) on both.
 *
 * Needs a GPU: without one every test is skipped with a message (meson
 * counts the run as skipped through exit code 77 when nothing ran).
 */
#include <math.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "common/rng.h"
#include "space/arch.h"
#include "trainer/backend.h"
#include "trainer/cuda/cuda_backend.h"
#include "trainer/cuda/half.h"
#include "trainer/graph.h"

typedef struct pair {
    nas_backend *cpu, *gpu;
    nas_cuda_precision precision;
    double tol;
    nas_rng rng;
} pair;

/* A buffer on both backends. */
typedef struct twin {
    nas_buf *cpu, *gpu;
    size_t count;
    nas_buf_kind kind;
} twin;

static bool have_gpu(void) { return nas_cuda_device_count() > 0; }

static int setup(void **state, nas_cuda_precision precision) {
    if (!have_gpu()) return 0; /* each test skips itself */
    pair *p = calloc(1, sizeof *p);
    nas_err err;
    assert_int_equal(nas_backend_cpu_new(0, &p->cpu, &err), 0);
    nas_cuda_options opt;
    nas_cuda_options_default(&opt);
    opt.precision = precision;
    if (nas_backend_cuda_new(&opt, &p->gpu, &err) < 0) fail_msg("%s", err.msg);
    p->precision = precision;
    /* fp16 keeps 3 more mantissa bits than bf16: the bf16 bound holds too. */
    p->tol = precision == NAS_CUDA_FP32 ? 1e-4 : 2e-2;
    nas_rng_seed(&p->rng, 2026);
    *state = p;
    return 0;
}
static int setup_fp32(void **state) { return setup(state, NAS_CUDA_FP32); }
static int setup_bf16(void **state) { return setup(state, NAS_CUDA_BF16); }
static int setup_fp16(void **state) { return setup(state, NAS_CUDA_FP16); }

static int teardown(void **state) {
    pair *p = *state;
    if (!p) return 0;
    nas_backend_free(&p->gpu);
    nas_backend_free(&p->cpu);
    free(p);
    *state = NULL;
    return 0;
}

#define NEED_GPU(state)                                                                    \
    do {                                                                                   \
        if (!have_gpu() || !*(state)) {                                                    \
            print_message("no CUDA device here: GPU parity test skipped\n");               \
            skip();                                                                        \
        }                                                                                  \
    } while (0)

static void check(nas_err *err, int rc) {
    if (rc < 0) fail_msg("%s", err->msg);
}

/* Random values, rounded to what the GPU stores for activations. */
static void fill_random(pair *p, float *v, size_t n, double scale, bool act) {
    for (size_t i = 0; i < n; i++) {
        float x = (float)(nas_rng_normal(&p->rng) * scale);
        if (act && p->precision == NAS_CUDA_BF16) x = nas_bf16_to_f32(nas_f32_to_bf16(x));
        if (act && p->precision == NAS_CUDA_FP16) x = nas_f16_to_f32(nas_f32_to_f16(x));
        v[i] = x;
    }
}

static twin twin_new(pair *p, nas_buf_kind kind, nas_shape shape) {
    twin t = {.count = nas_shape_count(shape), .kind = kind};
    nas_err err;
    check(&err, p->cpu->buf_new(p->cpu, kind, shape, &t.cpu, &err));
    check(&err, p->gpu->buf_new(p->gpu, kind, shape, &t.gpu, &err));
    return t;
}

/* A twin filled with the same random data on both sides. */
static twin twin_random(pair *p, nas_buf_kind kind, nas_shape shape, double scale) {
    twin t = twin_new(p, kind, shape);
    float *host = malloc(sizeof(float) * t.count);
    fill_random(p, host, t.count, scale, kind == NAS_BUF_ACT);
    nas_err err;
    check(&err, p->cpu->upload(p->cpu, t.cpu, host, t.count, &err));
    check(&err, p->gpu->upload(p->gpu, t.gpu, host, t.count, &err));
    free(host);
    return t;
}

static void twin_free(pair *p, twin *t) {
    p->cpu->buf_free(p->cpu, &t->cpu);
    p->gpu->buf_free(p->gpu, &t->gpu);
}

/* Relative error of the first `count` elements; fails above the tolerance. */
static void compare(pair *p, const char *what, const twin *t, size_t count) {
    float *a = malloc(sizeof(float) * count), *b = malloc(sizeof(float) * count);
    nas_err err;
    check(&err, p->cpu->download(p->cpu, t->cpu, a, count, &err));
    check(&err, p->gpu->download(p->gpu, t->gpu, b, count, &err));
    double max_ref = 0.0, max_diff = 0.0;
    for (size_t i = 0; i < count; i++) {
        if (!isfinite(b[i])) fail_msg("%s: GPU value %zu is not finite", what, i);
        max_ref = fmax(max_ref, fabs(a[i]));
        max_diff = fmax(max_diff, fabs((double)a[i] - b[i]));
    }
    double rel = max_diff / (max_ref > 0 ? max_ref : 1.0);
    print_message("  %-40s %s rel err %.2e (tol %.0e)\n", what,
                  nas_cuda_precision_name(p->precision), rel, p->tol);
    free(a);
    free(b);
    if (!(rel < p->tol)) fail_msg("%s: relative error %.3e above %.0e", what, rel, p->tol);
}

/* ---- convolution ---- */

static void conv_case(pair *p, int n, int c_in, int c_out, int groups, int k, int stride, int pad,
                      int hw, bool bias) {
    nas_conv_desc d = {.c_in = c_in, .c_out = c_out, .groups = groups, .kernel = k,
                       .stride = stride, .pad = pad, .h_in = hw, .w_in = hw};
    d.h_out = d.w_out = (hw + 2 * pad - k) / stride + 1;
    nas_err err;
    nas_conv_plan *cp, *gp;
    check(&err, p->cpu->conv_plan_new(p->cpu, &d, n, &cp, &err));
    check(&err, p->gpu->conv_plan_new(p->gpu, &d, n, &gp, &err));
    twin x = twin_random(p, NAS_BUF_ACT, (nas_shape){n, c_in, hw, hw}, 1.0);
    twin w = twin_random(p, NAS_BUF_PARAM, (nas_shape){c_out, c_in / groups, k, k}, 0.3);
    twin b = twin_random(p, NAS_BUF_PARAM, (nas_shape){c_out, 1, 1, 1}, 0.3);
    twin y = twin_new(p, NAS_BUF_ACT, (nas_shape){n, c_out, d.h_out, d.w_out});
    twin dy = twin_random(p, NAS_BUF_ACT, (nas_shape){n, c_out, d.h_out, d.w_out}, 1.0);
    twin dx = twin_random(p, NAS_BUF_ACT, (nas_shape){n, c_in, hw, hw}, 1.0);
    twin dw = twin_new(p, NAS_BUF_PARAM, (nas_shape){c_out, c_in / groups, k, k});
    twin db = twin_new(p, NAS_BUF_PARAM, (nas_shape){c_out, 1, 1, 1});
    char name[96];
    nas_actfn act = bias ? NAS_ACTFN_RELU : NAS_ACTFN_NONE;
    check(&err, p->cpu->conv_fwd(p->cpu, cp, n, x.cpu, w.cpu, bias ? b.cpu : NULL, act, y.cpu, &err));
    check(&err, p->gpu->conv_fwd(p->gpu, gp, n, x.gpu, w.gpu, bias ? b.gpu : NULL, act, y.gpu, &err));
    snprintf(name, sizeof name, "conv fwd %d->%d g%d k%d s%d p%d %dpx%s", c_in, c_out, groups, k,
             stride, pad, hw, bias ? " +bias+relu" : "");
    compare(p, name, &y, y.count);
    /* accumulate = true: dx already holds random values. */
    check(&err, p->cpu->conv_bwd_data(p->cpu, cp, n, dy.cpu, w.cpu, dx.cpu, true, &err));
    check(&err, p->gpu->conv_bwd_data(p->gpu, gp, n, dy.gpu, w.gpu, dx.gpu, true, &err));
    snprintf(name, sizeof name, "conv bwd data (accumulate) %d->%d g%d k%d s%d", c_in, c_out,
             groups, k, stride);
    compare(p, name, &dx, dx.count);
    check(&err, p->cpu->conv_bwd_filter(p->cpu, cp, n, x.cpu, dy.cpu, dw.cpu, db.cpu, &err));
    check(&err, p->gpu->conv_bwd_filter(p->gpu, gp, n, x.gpu, dy.gpu, dw.gpu, db.gpu, &err));
    snprintf(name, sizeof name, "conv bwd filter %d->%d g%d k%d s%d", c_in, c_out, groups, k, stride);
    compare(p, name, &dw, dw.count);
    compare(p, "conv bias grad", &db, db.count);
    twin *all[] = {&x, &w, &b, &y, &dy, &dx, &dw, &db};
    for (size_t i = 0; i < sizeof all / sizeof all[0]; i++) twin_free(p, all[i]);
    p->cpu->conv_plan_free(p->cpu, &cp);
    p->gpu->conv_plan_free(p->gpu, &gp);
}

static void test_conv(void **state) {
    NEED_GPU(state);
    pair *p = *state;
    conv_case(p, 2, 16, 32, 1, 3, 1, 1, 12, false);  /* XX block conv */
    conv_case(p, 3, 8, 16, 1, 3, 2, 1, 13, true);    /* stride 2, odd size, folded bias + relu */
    conv_case(p, 2, 32, 24, 1, 1, 1, 0, 9, false);   /* pointwise */
    conv_case(p, 2, 16, 32, 1, 1, 2, 0, 10, false);  /* projection shortcut */
    conv_case(p, 2, 24, 24, 24, 3, 2, 1, 11, false); /* depthwise stride 2 */
    conv_case(p, 2, 24, 24, 24, 5, 1, 2, 9, false);  /* depthwise 5x5 */
    conv_case(p, 2, 16, 32, 4, 3, 1, 1, 8, false);   /* grouped */
    conv_case(p, 2, 8, 16, 1, 3, 2, 0, 12, false);   /* timm padding quirk: pad 0 at stride 2 */
    conv_case(p, 1, 3, 8, 1, 3, 2, 1, 32, false);    /* stem, batch 1 */
}

/* ---- batch norm ---- */

static void bn_case(pair *p, bool training, bool frozen, bool residual, nas_actfn act) {
    int n = 3, c = 40, hw = 7 * 7;
    nas_shape act_shape = {n, c, 7, 7}, vec = {c, 1, 1, 1};
    twin x = twin_random(p, NAS_BUF_ACT, act_shape, 2.0);
    twin r = twin_random(p, NAS_BUF_ACT, act_shape, 1.0);
    twin gamma = twin_random(p, NAS_BUF_PARAM, vec, 1.0);
    twin beta = twin_random(p, NAS_BUF_PARAM, vec, 1.0);
    twin rmean = twin_random(p, NAS_BUF_PARAM, vec, 0.5);
    twin rvar = twin_new(p, NAS_BUF_PARAM, vec);
    nas_err err;
    check(&err, p->cpu->fill(p->cpu, rvar.cpu, 1.5f, c, &err));
    check(&err, p->gpu->fill(p->gpu, rvar.gpu, 1.5f, c, &err));
    twin y = twin_new(p, NAS_BUF_ACT, act_shape);
    twin sm = twin_new(p, NAS_BUF_F32, vec), si = twin_new(p, NAS_BUF_F32, vec);
    const nas_backend *bes[2] = {p->cpu, p->gpu};
    for (int s = 0; s < 2; s++) {
        const nas_backend *be = bes[s];
#define SIDE(t) (s == 0 ? (t).cpu : (t).gpu)
        check(&err, be->bn_fwd(be, training, n, c, hw, SIDE(x), residual ? SIDE(r) : NULL,
                               SIDE(gamma), SIDE(beta), SIDE(rmean), SIDE(rvar), 0.1f, 1e-5f, act,
                               SIDE(y), SIDE(sm), SIDE(si), &err));
    }
    char name[96];
    snprintf(name, sizeof name, "bn fwd %s%s act %d", training ? "train" : "eval",
             residual ? " +residual" : "", (int)act);
    compare(p, name, &y, y.count);
    if (training) {
        compare(p, "bn running mean", &rmean, c);
        compare(p, "bn running var", &rvar, c);
    }
    twin dy = twin_random(p, NAS_BUF_ACT, act_shape, 1.0);
    twin dx = twin_random(p, NAS_BUF_ACT, act_shape, 1.0);
    twin dr = twin_new(p, NAS_BUF_ACT, act_shape);
    twin dg = twin_new(p, NAS_BUF_PARAM, vec), dbt = twin_new(p, NAS_BUF_PARAM, vec);
    for (int s = 0; s < 2; s++) {
        const nas_backend *be = bes[s];
        check(&err, be->bn_bwd(be, frozen, n, c, hw, SIDE(x), SIDE(y), residual ? SIDE(r) : NULL,
                               SIDE(dy), SIDE(gamma), SIDE(beta), SIDE(sm), SIDE(si), act, SIDE(dx),
                               true, residual ? SIDE(dr) : NULL, false, SIDE(dg), SIDE(dbt), &err));
#undef SIDE
    }
    snprintf(name, sizeof name, "bn bwd dx %s", frozen ? "frozen" : "batch stats");
    compare(p, name, &dx, dx.count);
    compare(p, "bn bwd dgamma", &dg, c);
    compare(p, "bn bwd dbeta", &dbt, c);
    if (residual) compare(p, "bn bwd d_residual", &dr, dr.count);
    twin *all[] = {&x, &r, &gamma, &beta, &rmean, &rvar, &y, &sm, &si, &dy, &dx, &dr, &dg, &dbt};
    for (size_t i = 0; i < sizeof all / sizeof all[0]; i++) twin_free(p, all[i]);
}

static void test_bn(void **state) {
    NEED_GPU(state);
    pair *p = *state;
    bn_case(p, true, false, false, NAS_ACTFN_NONE);
    bn_case(p, true, false, false, NAS_ACTFN_RELU);
    bn_case(p, true, false, true, NAS_ACTFN_RELU);  /* GENet block tail: relu(bn + shortcut) */
    bn_case(p, true, false, false, NAS_ACTFN_SWISH);
    bn_case(p, true, false, true, NAS_ACTFN_SWISH);
    bn_case(p, false, true, false, NAS_ACTFN_SWISH); /* frozen stage (LLR-NAS train_only) */
    bn_case(p, false, true, true, NAS_ACTFN_RELU);
}

/* ---- elementwise, SE, pool, dropout ---- */

static void test_elementwise(void **state) {
    NEED_GPU(state);
    pair *p = *state;
    nas_err err;
    int n = 2, c = 24, h = 5;
    nas_shape s = {n, c, h, h};
    size_t count = nas_shape_count(s);
    nas_actfn acts[] = {NAS_ACTFN_RELU, NAS_ACTFN_SWISH, NAS_ACTFN_SIGMOID};
    for (size_t a = 0; a < 3; a++) {
        twin x = twin_random(p, NAS_BUF_ACT, s, 2.0), y = twin_new(p, NAS_BUF_ACT, s);
        twin dy = twin_random(p, NAS_BUF_ACT, s, 1.0), dx = twin_random(p, NAS_BUF_ACT, s, 1.0);
        check(&err, p->cpu->act_fwd(p->cpu, acts[a], count, x.cpu, y.cpu, &err));
        check(&err, p->gpu->act_fwd(p->gpu, acts[a], count, x.gpu, y.gpu, &err));
        compare(p, acts[a] == NAS_ACTFN_RELU ? "relu fwd" : acts[a] == NAS_ACTFN_SWISH ? "swish fwd" : "sigmoid fwd", &y, count);
        check(&err, p->cpu->act_bwd(p->cpu, acts[a], count, x.cpu, y.cpu, dy.cpu, dx.cpu, true, &err));
        check(&err, p->gpu->act_bwd(p->gpu, acts[a], count, x.gpu, y.gpu, dy.gpu, dx.gpu, true, &err));
        compare(p, "activation bwd (accumulate)", &dx, count);
        twin_free(p, &x), twin_free(p, &y), twin_free(p, &dy), twin_free(p, &dx);
    }
    twin a = twin_random(p, NAS_BUF_ACT, s, 1.0), b = twin_random(p, NAS_BUF_ACT, s, 1.0);
    twin y = twin_new(p, NAS_BUF_ACT, s);
    check(&err, p->cpu->add(p->cpu, count, a.cpu, b.cpu, y.cpu, &err));
    check(&err, p->gpu->add(p->gpu, count, a.gpu, b.gpu, y.gpu, &err));
    compare(p, "add", &y, count);
    /* SE scaling with a (n, c, 1, 1) gate. */
    twin gate = twin_random(p, NAS_BUF_ACT, (nas_shape){n, c, 1, 1}, 1.0);
    twin dgate = twin_new(p, NAS_BUF_ACT, (nas_shape){n, c, 1, 1});
    twin dy = twin_random(p, NAS_BUF_ACT, s, 1.0), dx = twin_new(p, NAS_BUF_ACT, s);
    check(&err, p->cpu->se_scale_fwd(p->cpu, n, c, h * h, a.cpu, gate.cpu, y.cpu, &err));
    check(&err, p->gpu->se_scale_fwd(p->gpu, n, c, h * h, a.gpu, gate.gpu, y.gpu, &err));
    compare(p, "se scale fwd", &y, count);
    check(&err, p->cpu->se_scale_bwd(p->cpu, n, c, h * h, a.cpu, gate.cpu, dy.cpu, dx.cpu, false, dgate.cpu, &err));
    check(&err, p->gpu->se_scale_bwd(p->gpu, n, c, h * h, a.gpu, gate.gpu, dy.gpu, dx.gpu, false, dgate.gpu, &err));
    compare(p, "se scale bwd dx", &dx, count);
    compare(p, "se scale bwd dgate", &dgate, dgate.count);
    /* Global average pool. */
    twin pooled = twin_new(p, NAS_BUF_ACT, (nas_shape){n, c, 1, 1});
    check(&err, p->cpu->pool_fwd(p->cpu, n, c, h * h, a.cpu, pooled.cpu, &err));
    check(&err, p->gpu->pool_fwd(p->gpu, n, c, h * h, a.gpu, pooled.gpu, &err));
    compare(p, "global average pool fwd", &pooled, pooled.count);
    check(&err, p->cpu->pool_bwd(p->cpu, n, c, h * h, gate.cpu, dx.cpu, true, &err));
    check(&err, p->gpu->pool_bwd(p->gpu, n, c, h * h, gate.gpu, dx.gpu, true, &err));
    compare(p, "global average pool bwd (accumulate)", &dx, count);
    /* Dropout on the pooled vector: identical masks by construction. */
    twin mask = twin_new(p, NAS_BUF_F32, (nas_shape){n * c, 1, 1, 1});
    twin dropped = twin_new(p, NAS_BUF_ACT, (nas_shape){n, c, 1, 1});
    check(&err, p->cpu->dropout_fwd(p->cpu, (size_t)n * c, 0.3f, 99, pooled.cpu, dropped.cpu, mask.cpu, &err));
    check(&err, p->gpu->dropout_fwd(p->gpu, (size_t)n * c, 0.3f, 99, pooled.gpu, dropped.gpu, mask.gpu, &err));
    compare(p, "dropout mask", &mask, mask.count);
    compare(p, "dropout fwd", &dropped, dropped.count);
    twin *all[] = {&a, &b, &y, &gate, &dgate, &dy, &dx, &pooled, &mask, &dropped};
    for (size_t i = 0; i < sizeof all / sizeof all[0]; i++) twin_free(p, all[i]);
}

/* ---- fully connected, loss, optimiser ---- */

static void test_fc_loss_sgd(void **state) {
    NEED_GPU(state);
    pair *p = *state;
    nas_err err;
    int n = 6, in = 48, out = 10;
    twin x = twin_random(p, NAS_BUF_ACT, (nas_shape){n, in, 1, 1}, 1.0);
    twin w = twin_random(p, NAS_BUF_PARAM, (nas_shape){out, in, 1, 1}, 0.2);
    twin b = twin_random(p, NAS_BUF_PARAM, (nas_shape){out, 1, 1, 1}, 0.2);
    twin y = twin_new(p, NAS_BUF_ACT, (nas_shape){n, out, 1, 1});
    check(&err, p->cpu->fc_fwd(p->cpu, n, in, out, x.cpu, w.cpu, b.cpu, y.cpu, &err));
    check(&err, p->gpu->fc_fwd(p->gpu, n, in, out, x.gpu, w.gpu, b.gpu, y.gpu, &err));
    compare(p, "fc fwd", &y, y.count);
    /* Loss on the fc output; labels include class 0 and the last class. */
    twin labels = twin_new(p, NAS_BUF_I32, (nas_shape){n, 1, 1, 1});
    int32_t host_labels[6] = {0, 9, 3, 3, 7, 1};
    check(&err, p->cpu->upload(p->cpu, labels.cpu, host_labels, n, &err));
    check(&err, p->gpu->upload(p->gpu, labels.gpu, host_labels, n, &err));
    twin stats = twin_new(p, NAS_BUF_F32, (nas_shape){NAS_LOSS_STATS, 1, 1, 1});
    twin dlogits = twin_new(p, NAS_BUF_ACT, (nas_shape){n, out, 1, 1});
    check(&err, p->cpu->softmax_xent(p->cpu, n, out, y.cpu, labels.cpu, 0.1f, 1.0f / n, dlogits.cpu, stats.cpu, &err));
    check(&err, p->gpu->softmax_xent(p->gpu, n, out, y.gpu, labels.gpu, 0.1f, 1.0f / n, dlogits.gpu, stats.gpu, &err));
    compare(p, "softmax xent stats (loss, top1, top5, n)", &stats, NAS_LOSS_STATS);
    compare(p, "softmax xent dlogits", &dlogits, dlogits.count);
    twin dx = twin_random(p, NAS_BUF_ACT, (nas_shape){n, in, 1, 1}, 1.0);
    twin dw = twin_new(p, NAS_BUF_PARAM, (nas_shape){out, in, 1, 1});
    twin db = twin_new(p, NAS_BUF_PARAM, (nas_shape){out, 1, 1, 1});
    check(&err, p->cpu->fc_bwd(p->cpu, n, in, out, x.cpu, w.cpu, dlogits.cpu, dx.cpu, true, dw.cpu, db.cpu, &err));
    check(&err, p->gpu->fc_bwd(p->gpu, n, in, out, x.gpu, w.gpu, dlogits.gpu, dx.gpu, true, dw.gpu, db.gpu, &err));
    compare(p, "fc bwd dx (accumulate)", &dx, dx.count);
    compare(p, "fc bwd dw", &dw, dw.count);
    compare(p, "fc bwd db", &db, db.count);
    /* Two Nesterov steps with weight decay on w, none on b. */
    twin mw = twin_new(p, NAS_BUF_PARAM, (nas_shape){out, in, 1, 1});
    twin mb = twin_new(p, NAS_BUF_PARAM, (nas_shape){out, 1, 1, 1});
    nas_sgd_hparams hp = {.lr = 0.1f, .momentum = 0.9f, .weight_decay = 5e-4f, .nesterov = true};
    for (int step = 0; step < 2; step++) {
        nas_sgd_tensor tc[2] = {{w.cpu, dw.cpu, mw.cpu, w.count, true}, {b.cpu, db.cpu, mb.cpu, b.count, false}};
        nas_sgd_tensor tg[2] = {{w.gpu, dw.gpu, mw.gpu, w.count, true}, {b.gpu, db.gpu, mb.gpu, b.count, false}};
        bool stepped = false;
        check(&err, p->cpu->sgd_step(p->cpu, tc, 2, &hp, NULL, &err));
        check(&err, p->gpu->sgd_step(p->gpu, tg, 2, &hp, &stepped, &err));
        assert_true(stepped);
    }
    compare(p, "sgd nesterov weights", &w, w.count);
    compare(p, "sgd bias (no decay)", &b, b.count);
    /* The updated weights must reach the next forward (shadow refresh). */
    check(&err, p->cpu->fc_fwd(p->cpu, n, in, out, x.cpu, w.cpu, b.cpu, y.cpu, &err));
    check(&err, p->gpu->fc_fwd(p->gpu, n, in, out, x.gpu, w.gpu, b.gpu, y.gpu, &err));
    compare(p, "fc fwd after sgd", &y, y.count);
    twin *all[] = {&x, &w, &b, &y, &labels, &stats, &dlogits, &dx, &dw, &db, &mw, &mb};
    for (size_t i = 0; i < sizeof all / sizeof all[0]; i++) twin_free(p, all[i]);
}

static void test_bad_label_reported(void **state) {
    NEED_GPU(state);
    pair *p = *state;
    nas_err err;
    nas_buf *logits, *labels, *stats;
    check(&err, p->gpu->buf_new(p->gpu, NAS_BUF_ACT, (nas_shape){2, 5, 1, 1}, &logits, &err));
    check(&err, p->gpu->buf_new(p->gpu, NAS_BUF_I32, (nas_shape){2, 1, 1, 1}, &labels, &err));
    check(&err, p->gpu->buf_new(p->gpu, NAS_BUF_F32, (nas_shape){4, 1, 1, 1}, &stats, &err));
    int32_t bad[2] = {1, 5};
    check(&err, p->gpu->upload(p->gpu, labels, bad, 2, &err));
    check(&err, p->gpu->softmax_xent(p->gpu, 2, 5, logits, labels, 0.0f, 0.5f, NULL, stats, &err));
    assert_int_equal(p->gpu->sync(p->gpu, &err), NAS_ERANGE);
    assert_non_null(strstr(err.msg, "image 1"));
    assert_int_equal(p->gpu->sync(p->gpu, &err), 0); /* reported once */
    p->gpu->buf_free(p->gpu, &logits);
    p->gpu->buf_free(p->gpu, &labels);
    p->gpu->buf_free(p->gpu, &stats);
}

static void test_oom_is_reported(void **state) {
    NEED_GPU(state);
    pair *p = *state;
    nas_err err;
    nas_buf *huge = NULL;
    /* 2^40 floats = 4 TiB: no GPU has it; must fail cleanly, not crash. */
    int rc = p->gpu->buf_new(p->gpu, NAS_BUF_PARAM, (nas_shape){1 << 20, 1 << 20, 1, 1}, &huge, &err);
    assert_int_equal(rc, NAS_EOOM_DEVICE);
    assert_null(huge);
    assert_non_null(strstr(err.msg, "GiB")); /* the size asked for is in the message */
    print_message("  OOM message: %s\n", err.msg);
    /* The backend keeps working afterwards. */
    nas_buf *small = NULL;
    check(&err, p->gpu->buf_new(p->gpu, NAS_BUF_PARAM, (nas_shape){16, 1, 1, 1}, &small, &err));
    check(&err, p->gpu->sync(p->gpu, &err));
    p->gpu->buf_free(p->gpu, &small);
}

/* fp16: an overflowing gradient skips the step and halves the loss scale;
 * a clean one applies the step with the scale divided out. */
static void test_fp16_loss_scaling(void **state) {
    NEED_GPU(state);
    pair *p = *state;
    nas_err err;
    const nas_backend *be = p->gpu;
    nas_buf *w, *g, *m;
    check(&err, be->buf_new(be, NAS_BUF_PARAM, (nas_shape){4, 1, 1, 1}, &w, &err));
    check(&err, be->buf_new(be, NAS_BUF_PARAM, (nas_shape){4, 1, 1, 1}, &g, &err));
    check(&err, be->buf_new(be, NAS_BUF_PARAM, (nas_shape){4, 1, 1, 1}, &m, &err));
    float ones[4] = {1, 1, 1, 1}, bad[4] = {1, INFINITY, 1, 1};
    float scale = nas_cuda_loss_scale(be);
    assert_true(scale == 65536.0f);
    check(&err, be->upload(be, w, ones, 4, &err));
    check(&err, be->upload(be, g, bad, 4, &err));
    nas_sgd_tensor t = {w, g, m, 4, false};
    nas_sgd_hparams hp = {.lr = 0.5f, .momentum = 0.0f, .weight_decay = 0.0f, .nesterov = false};
    bool stepped = true;
    check(&err, be->sgd_step(be, &t, 1, &hp, &stepped, &err));
    assert_false(stepped);
    assert_true(nas_cuda_loss_scale(be) == scale / 2);
    assert_int_equal(nas_cuda_skipped_steps(be), 1);
    float after[4];
    check(&err, be->download(be, w, after, 4, &err));
    assert_memory_equal(after, ones, sizeof ones); /* untouched */
    float scaled[4]; /* a gradient of 1 times the current scale */
    for (int i = 0; i < 4; i++) scaled[i] = scale / 2;
    check(&err, be->upload(be, g, scaled, 4, &err));
    check(&err, be->sgd_step(be, &t, 1, &hp, &stepped, &err));
    assert_true(stepped);
    check(&err, be->download(be, w, after, 4, &err));
    for (int i = 0; i < 4; i++) assert_true(fabsf(after[i] - 0.5f) < 1e-6f); /* 1 - 0.5 * 1 */
    be->buf_free(be, &w);
    be->buf_free(be, &g);
    be->buf_free(be, &m);
}

/* ---- one training step of each preset ---- */

static void preset_step(pair *p, const char *preset) {
    nas_err err;
    nas_arch arch;
    check(&err, nas_arch_load(preset, &arch, &err));
    int n = 2;
    nas_net *cpu_net, *gpu_net;
    check(&err, nas_net_new(&arch, p->cpu, n, 7, &cpu_net, &err));
    check(&err, nas_net_new(&arch, p->gpu, n, 7, &gpu_net, &err));
    size_t image = (size_t)arch.in_channels * arch.resolution * arch.resolution;
    float *images = malloc(sizeof(float) * image * n);
    fill_random(p, images, image * n, 1.0, true);
    int32_t labels[2] = {1, (int32_t)(arch.classes - 1)};
    nas_net *nets[2] = {cpu_net, gpu_net};
    nas_loss_stats st[2];
    for (int s = 0; s < 2; s++) {
        nas_net *net = nets[s];
        const nas_backend *be = nas_net_backend(net);
        check(&err, nas_net_set_batch(net, images, labels, n, &err));
        check(&err, nas_net_forward(net, n, NAS_MODE_TRAIN, &err));
        check(&err, nas_net_loss(net, 0.1f, true, &err));
        check(&err, nas_net_backward(net, &err));
        int np = nas_net_param_count(net);
        nas_sgd_tensor *ts = calloc((size_t)np, sizeof *ts);
        int k = 0;
        for (int i = 0; i < np; i++) {
            const nas_param *pr = nas_net_param(net, i);
            if (!pr->trainable) continue;
            ts[k++] = (nas_sgd_tensor){pr->value, pr->grad, NULL, pr->count, pr->decay};
        }
        nas_sgd_hparams hp = {.lr = 0.05f, .momentum = 0.0f, .weight_decay = 1e-4f, .nesterov = false};
        check(&err, be->sgd_step(be, ts, k, &hp, NULL, &err));
        free(ts);
        check(&err, nas_net_read_stats(net, &st[s], &err));
    }
    double rel_loss = fabs(st[0].loss_sum - st[1].loss_sum) / fabs(st[0].loss_sum);
    print_message("  %-12s loss cpu %.6f gpu %.6f rel %.2e\n", preset, st[0].loss_sum, st[1].loss_sum,
                  rel_loss);
    assert_true(rel_loss < p->tol);
    /* Compare a few parameters after the step: first conv, a middle BN, fc. */
    int np = nas_net_param_count(cpu_net);
    int picks[3] = {0, np / 2, np - 2};
    for (int i = 0; i < 3; i++) {
        const nas_param *pc = nas_net_param(cpu_net, picks[i]);
        const nas_param *pg = nas_net_param(gpu_net, picks[i]);
        assert_string_equal(pc->name, pg->name);
        twin t = {.cpu = pc->value, .gpu = pg->value, .count = pc->count};
        char name[160];
        snprintf(name, sizeof name, "%s %s after 1 step", preset, pc->name);
        compare(p, name, &t, pc->count);
        if (pc->grad && p->precision == NAS_CUDA_FP32) {
            twin g = {.cpu = pc->grad, .gpu = pg->grad, .count = pc->count};
            snprintf(name, sizeof name, "%s %s grad", preset, pc->name);
            compare(p, name, &g, pc->count);
        }
    }
    free(images);
    nas_net_free(&cpu_net);
    nas_net_free(&gpu_net);
}

static void test_presets_one_step(void **state) {
    NEED_GPU(state);
    pair *p = *state;
    const char *presets[] = {"genet-light", "genet-normal", "genet-large",
                             "gpunet-0",    "gpunet-1",     "gpunet-2"};
    for (size_t i = 0; i < sizeof presets / sizeof presets[0]; i++) preset_step(p, presets[i]);
}

int main(void) {
    if (!have_gpu()) {
        printf("no CUDA device here (no driver or no GPU): GPU parity tests skipped\n");
        return 77; /* meson: skipped */
    }
    const struct CMUnitTest fp32[] = {
        cmocka_unit_test_setup_teardown(test_conv, setup_fp32, teardown),
        cmocka_unit_test_setup_teardown(test_bn, setup_fp32, teardown),
        cmocka_unit_test_setup_teardown(test_elementwise, setup_fp32, teardown),
        cmocka_unit_test_setup_teardown(test_fc_loss_sgd, setup_fp32, teardown),
        cmocka_unit_test_setup_teardown(test_bad_label_reported, setup_fp32, teardown),
        cmocka_unit_test_setup_teardown(test_oom_is_reported, setup_fp32, teardown),
        cmocka_unit_test_setup_teardown(test_presets_one_step, setup_fp32, teardown),
    };
    const struct CMUnitTest bf16[] = {
        cmocka_unit_test_setup_teardown(test_conv, setup_bf16, teardown),
        cmocka_unit_test_setup_teardown(test_bn, setup_bf16, teardown),
        cmocka_unit_test_setup_teardown(test_elementwise, setup_bf16, teardown),
        cmocka_unit_test_setup_teardown(test_fc_loss_sgd, setup_bf16, teardown),
        cmocka_unit_test_setup_teardown(test_presets_one_step, setup_bf16, teardown),
    };
    const struct CMUnitTest fp16[] = {
        cmocka_unit_test_setup_teardown(test_fp16_loss_scaling, setup_fp16, teardown),
        cmocka_unit_test_setup_teardown(test_conv, setup_fp16, teardown),
        cmocka_unit_test_setup_teardown(test_bn, setup_fp16, teardown),
    };
    int failed = cmocka_run_group_tests_name("cuda parity fp32", fp32, NULL, NULL);
    failed += cmocka_run_group_tests_name("cuda parity bf16", bf16, NULL, NULL);
    failed += cmocka_run_group_tests_name("cuda fp16", fp16, NULL, NULL);
    return failed ? 1 : 0;
}
