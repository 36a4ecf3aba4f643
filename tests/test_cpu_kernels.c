/*
 * tests/test_cpu_kernels.c - every op of the CPU backend, checked on small
 * shapes: forwards against naive double-precision references, backwards by
 * central differences.
 *
 * Gradient check: the objective is L = sum_i r_i * y_i (r fixed random, so
 * dy = r), accumulated in double; each sampled input coordinate is moved by
 * +-h (h = 1e-3 on float32 kernels) and (L+ - L-) / 2h is compared with the
 * analytic gradient. Tolerance: max |analytic - numeric| <= 1e-2 * max(1,
 * max |numeric|), i.e. about 1% of the gradient's scale, which float32
 * rounding (~1e-7 relative, amplified by 1/2h) stays well under while a
 * wrong term in a backward (typically an O(1) relative error) does not.
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
#include "trainer/backend.h"

#define GRAD_H 1e-3
#define GRAD_TOL 1e-2
#define MAX_SAMPLED 48 /* coordinates checked per tensor */

static nas_backend *be;
static nas_rng rng;

/* ---- helpers ---- */

static void check_rc(int rc, const nas_err *err, const char *what)
{
    if (rc != 0)
        fail_msg("%s failed: %s", what, err->msg);
}

static float *host_random(size_t n, double scale)
{
    float *p = malloc(n * sizeof(float));
    assert_non_null(p);
    for (size_t i = 0; i < n; i++)
        p[i] = (float)((2.0 * nas_rng_uniform(&rng) - 1.0) * scale);
    return p;
}

static nas_buf *dev(nas_buf_kind kind, nas_shape shape, const void *data)
{
    nas_buf *b = NULL;
    nas_err err;
    check_rc(be->buf_new(be, kind, shape, &b, &err), &err, "buf_new");
    if (data)
        check_rc(be->upload(be, b, data, nas_shape_count(shape), &err), &err, "upload");
    return b;
}

static nas_shape vec(size_t n) { return (nas_shape){(int)n, 1, 1, 1}; }

static float *download(const nas_buf *b, size_t n)
{
    float *p = malloc(n * sizeof(float));
    nas_err err;
    assert_non_null(p);
    check_rc(be->download(be, b, p, n, &err), &err, "download");
    return p;
}

static double dot_buf(const nas_buf *b, const float *r, size_t n)
{
    float *y = download(b, n);
    double s = 0.0;
    for (size_t i = 0; i < n; i++)
        s += (double)y[i] * r[i];
    free(y);
    return s;
}

/* The op under test: recomputes the objective from the current device inputs. */
typedef double (*objective_fn)(void *ctx);

/* Compares analytic[] with central differences of objective over x (host copy
 * x_host, device copy x_dev). */
static void gradcheck(const char *what, float *x_host, nas_buf *x_dev, size_t count,
                      const float *analytic, objective_fn objective, void *ctx)
{
    nas_err err;
    double max_err = 0.0, scale = 1.0;
    size_t worst = 0;
    size_t step = count > MAX_SAMPLED ? count / MAX_SAMPLED : 1;
    for (size_t i = 0; i < count; i += step) {
        float orig = x_host[i];
        x_host[i] = (float)(orig + GRAD_H);
        check_rc(be->upload(be, x_dev, x_host, count, &err), &err, "upload");
        double plus = objective(ctx);
        x_host[i] = (float)(orig - GRAD_H);
        check_rc(be->upload(be, x_dev, x_host, count, &err), &err, "upload");
        double minus = objective(ctx);
        x_host[i] = orig;
        check_rc(be->upload(be, x_dev, x_host, count, &err), &err, "upload");
        double numeric = (plus - minus) / (2.0 * GRAD_H);
        double e = fabs(numeric - analytic[i]);
        if (fabs(numeric) > scale)
            scale = fabs(numeric);
        if (e > max_err) {
            max_err = e;
            worst = i;
        }
    }
    if (max_err > GRAD_TOL * scale)
        fail_msg("%s: gradient mismatch at %zu: analytic %g, max error %g (scale %g)", what, worst,
                 (double)analytic[worst], max_err, scale);
}

/* ---- convolution ---- */

typedef struct conv_case {
    int c_in, c_out, groups, kernel, stride, pad, hw, n;
} conv_case;

typedef struct conv_ctx {
    nas_conv_plan *plan;
    nas_conv_desc d;
    int n;
    nas_buf *x, *w, *b, *y;
    float *r;
    size_t y_count;
} conv_ctx;

static double conv_objective(void *p)
{
    conv_ctx *c = p;
    nas_err err;
    check_rc(be->conv_fwd(be, c->plan, c->n, c->x, c->w, c->b, NAS_ACTFN_NONE, c->y, &err), &err,
             "conv_fwd");
    return dot_buf(c->y, c->r, c->y_count);
}

/* Naive reference: y = conv(x, w) + b in double. */
static void conv_reference(const nas_conv_desc *d, int n, const float *x, const float *w,
                           const float *b, double *y)
{
    int cig = d->c_in / d->groups, cog = d->c_out / d->groups, k = d->kernel;
    for (int i = 0; i < n; i++)
        for (int o = 0; o < d->c_out; o++) {
            int g = o / cog;
            for (int oy = 0; oy < d->h_out; oy++)
                for (int ox = 0; ox < d->w_out; ox++) {
                    double acc = b ? b[o] : 0.0;
                    for (int ci = 0; ci < cig; ci++)
                        for (int ky = 0; ky < k; ky++)
                            for (int kx = 0; kx < k; kx++) {
                                int iy = oy * d->stride - d->pad + ky;
                                int ix = ox * d->stride - d->pad + kx;
                                if (iy < 0 || iy >= d->h_in || ix < 0 || ix >= d->w_in)
                                    continue;
                                int c = g * cig + ci;
                                acc += (double)x[((size_t)(i * d->c_in + c) * d->h_in + iy) *
                                                     d->w_in + ix] *
                                       w[((size_t)(o * cig + ci) * k + ky) * k + kx];
                            }
                    y[((size_t)(i * d->c_out + o) * d->h_out + oy) * d->w_out + ox] = acc;
                }
        }
}

static void run_conv_case(const conv_case *cc)
{
    nas_err err;
    conv_ctx c = {0};
    nas_conv_desc *d = &c.d;
    d->c_in = cc->c_in;
    d->c_out = cc->c_out;
    d->groups = cc->groups;
    d->kernel = cc->kernel;
    d->stride = cc->stride;
    d->pad = cc->pad;
    d->h_in = d->w_in = cc->hw;
    d->h_out = d->w_out = (cc->hw + 2 * cc->pad - cc->kernel) / cc->stride + 1;
    c.n = cc->n;
    check_rc(be->conv_plan_new(be, d, cc->n + 1, &c.plan, &err), &err, "conv_plan_new");
    nas_shape xs = {cc->n + 1, d->c_in, d->h_in, d->w_in};
    nas_shape ws = {d->c_out, d->c_in / d->groups, d->kernel, d->kernel};
    nas_shape ys = {cc->n + 1, d->c_out, d->h_out, d->w_out};
    size_t x_count = (size_t)cc->n * d->c_in * d->h_in * d->w_in;
    size_t w_count = nas_shape_count(ws);
    c.y_count = (size_t)cc->n * d->c_out * d->h_out * d->w_out;
    float *x = host_random(nas_shape_count(xs), 1.0), *w = host_random(w_count, 0.5);
    float *b = host_random((size_t)d->c_out, 0.5);
    c.r = host_random(c.y_count, 1.0);
    c.x = dev(NAS_BUF_ACT, xs, x);
    c.w = dev(NAS_BUF_PARAM, ws, w);
    c.b = dev(NAS_BUF_PARAM, vec((size_t)d->c_out), b);
    c.y = dev(NAS_BUF_ACT, ys, NULL);

    /* forward against the reference, with bias, then with the fused activations */
    double *ref = malloc(c.y_count * sizeof(double));
    conv_reference(d, cc->n, x, w, b, ref);
    const nas_actfn acts[] = {NAS_ACTFN_NONE, NAS_ACTFN_RELU, NAS_ACTFN_SWISH};
    for (int a = 0; a < 3; a++) {
        check_rc(be->conv_fwd(be, c.plan, cc->n, c.x, c.w, c.b, acts[a], c.y, &err), &err, "fwd");
        float *y = download(c.y, c.y_count);
        for (size_t i = 0; i < c.y_count; i++) {
            double v = ref[i];
            if (acts[a] == NAS_ACTFN_RELU)
                v = v > 0 ? v : 0;
            else if (acts[a] == NAS_ACTFN_SWISH)
                v = v / (1.0 + exp(-v));
            if (fabs(y[i] - v) > 1e-4 * (1.0 + fabs(v)))
                fail_msg("conv %dx%d s%d p%d g%d act %d: y[%zu] = %g, reference %g", d->kernel,
                         d->kernel, d->stride, d->pad, d->groups, a, i, (double)y[i], v);
        }
        free(y);
    }
    free(ref);

    /* backward: dx and dw against central differences (the objective runs without bias) */
    nas_buf *bias_buf = c.b;
    c.b = NULL;
    nas_buf *dy = dev(NAS_BUF_ACT, ys, NULL), *dx = dev(NAS_BUF_ACT, xs, NULL);
    nas_buf *dw = dev(NAS_BUF_PARAM, ws, NULL), *db = dev(NAS_BUF_PARAM, vec(d->c_out), NULL);
    check_rc(be->upload(be, dy, c.r, c.y_count, &err), &err, "upload dy");
    check_rc(be->conv_bwd_data(be, c.plan, cc->n, dy, c.w, dx, false, &err), &err, "bwd data");
    check_rc(be->conv_bwd_filter(be, c.plan, cc->n, c.x, dy, dw, db, &err), &err, "bwd filter");
    float *gx = download(dx, x_count), *gw = download(dw, w_count), *gb = download(db, d->c_out);
    gradcheck("conv dx", x, c.x, x_count, gx, conv_objective, &c);
    gradcheck("conv dw", w, c.w, w_count, gw, conv_objective, &c);
    for (int o = 0; o < d->c_out; o++) { /* dbias = sum of dy over n, h, w */
        double s = 0;
        int plane = d->h_out * d->w_out;
        for (int i = 0; i < cc->n; i++)
            for (int j = 0; j < plane; j++)
                s += c.r[((size_t)i * d->c_out + o) * plane + j];
        assert_true(fabs(s - gb[o]) < 1e-3 * (1 + fabs(s)));
    }
    /* accumulate adds onto what is there */
    check_rc(be->conv_bwd_data(be, c.plan, cc->n, dy, c.w, dx, true, &err), &err, "bwd acc");
    float *gx2 = download(dx, x_count);
    for (size_t i = 0; i < x_count; i++)
        assert_true(fabs(gx2[i] - 2.0f * gx[i]) <= 1e-5f * (1.0f + fabsf(gx[i])));

    free(gx2);
    free(gx);
    free(gw);
    free(gb);
    free(x);
    free(w);
    free(b);
    free(c.r);
    nas_buf *bufs[] = {c.x, c.w, bias_buf, c.y, dy, dx, dw, db};
    for (size_t i = 0; i < sizeof bufs / sizeof bufs[0]; i++)
        be->buf_free(be, &bufs[i]);
    be->conv_plan_free(be, &c.plan);
    assert_null(c.plan);
}

static void test_conv_full(void **state)
{
    (void)state;
    const conv_case cases[] = {
        {3, 4, 1, 3, 1, 1, 5, 2},  /* 3x3 same */
        {3, 4, 1, 3, 2, 1, 6, 3},  /* 3x3 stride 2 */
        {2, 3, 1, 3, 2, 0, 7, 1},  /* timm quirk: stride 2 without padding, batch < threads */
        {3, 5, 1, 5, 1, 2, 6, 2},  /* 5x5 */
        {4, 6, 1, 1, 1, 0, 4, 2},  /* pointwise: no im2col */
        {4, 6, 1, 1, 2, 0, 5, 2},  /* strided 1x1 (projection shortcut) */
    };
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++)
        run_conv_case(&cases[i]);
}

static void test_conv_grouped_depthwise(void **state)
{
    (void)state;
    const conv_case cases[] = {
        {4, 6, 2, 3, 1, 1, 5, 2},  /* grouped */
        {4, 4, 4, 3, 1, 1, 6, 2},  /* depthwise 3x3 */
        {5, 5, 5, 3, 2, 1, 7, 3},  /* depthwise stride 2, odd size */
        {3, 3, 3, 5, 2, 2, 8, 1},  /* depthwise 5x5 stride 2 */
        {3, 3, 3, 3, 2, 0, 7, 2},  /* depthwise without padding */
    };
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++)
        run_conv_case(&cases[i]);
}

static void test_conv_plan_rejects_bad_shapes(void **state)
{
    (void)state;
    nas_err err;
    nas_conv_plan *plan = NULL;
    nas_conv_desc bad_groups = {4, 6, 3, 3, 1, 1, 5, 5, 5, 5};
    assert_int_equal(be->conv_plan_new(be, &bad_groups, 2, &plan, &err), NAS_EINVAL);
    assert_non_null(strstr(err.msg, "groups"));
    nas_conv_desc bad_out = {4, 4, 1, 3, 1, 1, 5, 5, 4, 4};
    assert_int_equal(be->conv_plan_new(be, &bad_out, 2, &plan, &err), NAS_EINVAL);
    assert_null(plan);
}

/* ---- batch norm ---- */

typedef struct bn_ctx {
    bool training;
    int n, c, hw;
    nas_actfn act;
    nas_buf *x, *res, *gamma, *beta, *rm, *rv, *y, *sm, *si;
    float *r;
    size_t count;
} bn_ctx;

static double bn_objective(void *p)
{
    bn_ctx *b = p;
    nas_err err;
    check_rc(be->bn_fwd(be, b->training, b->n, b->c, b->hw, b->x, b->res, b->gamma, b->beta, b->rm,
                        b->rv, 0.1f, 1e-3f, b->act, b->y, b->sm, b->si, &err),
             &err, "bn_fwd");
    return dot_buf(b->y, b->r, b->count);
}

static void run_bn_case(bool training, nas_actfn act, bool with_residual)
{
    nas_err err;
    bn_ctx b = {.training = training, .n = 3, .c = 4, .hw = 5, .act = act};
    b.count = (size_t)b.n * b.c * b.hw;
    nas_shape s = {b.n, b.c, b.hw, 1};
    float *x = host_random(b.count, 2.0), *res = host_random(b.count, 1.0);
    for (size_t i = 0; i < b.count; i++)
        x[i] += 0.5f; /* non-zero mean */
    float *gamma = host_random(b.c, 1.0), *beta = host_random(b.c, 1.0);
    float *rm = host_random(b.c, 0.1), *rv = host_random(b.c, 0.2);
    for (int i = 0; i < b.c; i++)
        rv[i] += 1.0f;
    b.r = host_random(b.count, 1.0);
    b.x = dev(NAS_BUF_ACT, s, x);
    b.res = with_residual ? dev(NAS_BUF_ACT, s, res) : NULL;
    b.gamma = dev(NAS_BUF_PARAM, vec(b.c), gamma);
    b.beta = dev(NAS_BUF_PARAM, vec(b.c), beta);
    b.rm = dev(NAS_BUF_PARAM, vec(b.c), rm);
    b.rv = dev(NAS_BUF_PARAM, vec(b.c), rv);
    b.y = dev(NAS_BUF_ACT, s, NULL);
    b.sm = dev(NAS_BUF_F32, vec(b.c), NULL);
    b.si = dev(NAS_BUF_F32, vec(b.c), NULL);

    /* running statistics after one training forward: PyTorch's update rule */
    if (training) {
        check_rc(be->upload(be, b.rm, rm, b.c, &err), &err, "upload");
        check_rc(be->upload(be, b.rv, rv, b.c, &err), &err, "upload");
        bn_objective(&b);
        float *nrm = download(b.rm, b.c), *nrv = download(b.rv, b.c);
        for (int ch = 0; ch < b.c; ch++) {
            double m = 0, v = 0, cnt = (double)b.n * b.hw;
            for (int i = 0; i < b.n; i++)
                for (int j = 0; j < b.hw; j++)
                    m += x[((size_t)i * b.c + ch) * b.hw + j];
            m /= cnt;
            for (int i = 0; i < b.n; i++)
                for (int j = 0; j < b.hw; j++) {
                    double d = x[((size_t)i * b.c + ch) * b.hw + j] - m;
                    v += d * d;
                }
            assert_true(fabs(nrm[ch] - (0.9 * rm[ch] + 0.1 * m)) < 1e-5);
            assert_true(fabs(nrv[ch] - (0.9 * rv[ch] + 0.1 * v / (cnt - 1))) < 1e-4);
        }
        free(nrm);
        free(nrv);
    }
    /* analytic gradients (the forward above saved the statistics) */
    bn_objective(&b);
    nas_buf *dy = dev(NAS_BUF_ACT, s, b.r), *dx = dev(NAS_BUF_ACT, s, NULL);
    nas_buf *dres = dev(NAS_BUF_ACT, s, NULL);
    nas_buf *dg = dev(NAS_BUF_PARAM, vec(b.c), NULL), *dbt = dev(NAS_BUF_PARAM, vec(b.c), NULL);
    check_rc(be->bn_bwd(be, !training, b.n, b.c, b.hw, b.x, b.y, b.res, dy, b.gamma, b.beta, b.sm,
                        b.si, act, dx, false, with_residual ? dres : NULL, false, dg, dbt, &err),
             &err, "bn_bwd");
    float *gx = download(dx, b.count), *gg = download(dg, b.c), *gb = download(dbt, b.c);
    float *gr = download(dres, b.count);
    /* the running stats move on every training forward but do not enter the objective */
    char what[96];
    snprintf(what, sizeof what, "bn (training %d, act %d, residual %d) dx", training, (int)act,
             with_residual);
    gradcheck(what, x, b.x, b.count, gx, bn_objective, &b);
    snprintf(what, sizeof what, "bn (training %d, act %d) dgamma", training, (int)act);
    gradcheck(what, gamma, b.gamma, b.c, gg, bn_objective, &b);
    snprintf(what, sizeof what, "bn (training %d, act %d) dbeta", training, (int)act);
    gradcheck(what, beta, b.beta, b.c, gb, bn_objective, &b);
    if (with_residual)
        gradcheck("bn dresidual", res, b.res, b.count, gr, bn_objective, &b);
    free(gx);
    free(gg);
    free(gb);
    free(gr);
    free(x);
    free(res);
    free(gamma);
    free(beta);
    free(rm);
    free(rv);
    free(b.r);
    nas_buf *bufs[] = {b.x, b.res, b.gamma, b.beta, b.rm, b.rv, b.y, b.sm, b.si, dy, dx, dres,
                       dg, dbt};
    for (size_t i = 0; i < sizeof bufs / sizeof bufs[0]; i++)
        be->buf_free(be, &bufs[i]);
}

static void test_bn_train(void **state)
{
    (void)state;
    run_bn_case(true, NAS_ACTFN_NONE, false);
    run_bn_case(true, NAS_ACTFN_RELU, false);
    run_bn_case(true, NAS_ACTFN_SWISH, false);
    run_bn_case(true, NAS_ACTFN_RELU, true); /* GENet: relu(bn(x) + shortcut) */
    run_bn_case(true, NAS_ACTFN_NONE, true); /* GPUNet IRB: bn(x) + x_in */
}

static void test_bn_frozen(void **state)
{
    (void)state;
    run_bn_case(false, NAS_ACTFN_NONE, false);
    run_bn_case(false, NAS_ACTFN_SWISH, true);
}

/* ---- activations, SE scaling, pooling, dropout, fc ---- */

typedef struct unary_ctx {
    nas_actfn act;
    size_t count;
    nas_buf *x, *y;
    float *r;
} unary_ctx;

static double act_objective(void *p)
{
    unary_ctx *u = p;
    nas_err err;
    check_rc(be->act_fwd(be, u->act, u->count, u->x, u->y, &err), &err, "act_fwd");
    return dot_buf(u->y, u->r, u->count);
}

static void test_activations(void **state)
{
    (void)state;
    nas_err err;
    const nas_actfn acts[] = {NAS_ACTFN_RELU, NAS_ACTFN_SWISH, NAS_ACTFN_SIGMOID, NAS_ACTFN_NONE};
    for (int a = 0; a < 4; a++) {
        unary_ctx u = {.act = acts[a], .count = 40};
        float *x = host_random(u.count, 3.0);
        u.r = host_random(u.count, 1.0);
        u.x = dev(NAS_BUF_ACT, vec(u.count), x);
        u.y = dev(NAS_BUF_ACT, vec(u.count), NULL);
        nas_buf *dy = dev(NAS_BUF_ACT, vec(u.count), u.r), *dx = dev(NAS_BUF_ACT, vec(u.count), NULL);
        act_objective(&u);
        check_rc(be->act_bwd(be, u.act, u.count, u.x, u.y, dy, dx, false, &err), &err, "act_bwd");
        float *g = download(dx, u.count), *y = download(u.y, u.count);
        for (size_t i = 0; i < u.count; i++) { /* forward against the definitions */
            double v = x[i], want = v;
            if (u.act == NAS_ACTFN_RELU)
                want = v > 0 ? v : 0;
            else if (u.act == NAS_ACTFN_SWISH)
                want = v / (1 + exp(-v));
            else if (u.act == NAS_ACTFN_SIGMOID)
                want = 1 / (1 + exp(-v));
            assert_true(fabs(y[i] - want) < 1e-6);
        }
        gradcheck("activation", x, u.x, u.count, g, act_objective, &u);
        free(g);
        free(y);
        free(x);
        free(u.r);
        be->buf_free(be, &u.x);
        be->buf_free(be, &u.y);
        be->buf_free(be, &dy);
        be->buf_free(be, &dx);
    }
}

typedef struct se_ctx {
    int n, c, hw;
    nas_buf *x, *gate, *y;
    float *r;
} se_ctx;

static double se_objective(void *p)
{
    se_ctx *s = p;
    nas_err err;
    check_rc(be->se_scale_fwd(be, s->n, s->c, s->hw, s->x, s->gate, s->y, &err), &err, "se");
    return dot_buf(s->y, s->r, (size_t)s->n * s->c * s->hw);
}

static void test_se_scale(void **state)
{
    (void)state;
    nas_err err;
    se_ctx s = {.n = 2, .c = 3, .hw = 6};
    size_t count = (size_t)s.n * s.c * s.hw, gcount = (size_t)s.n * s.c;
    float *x = host_random(count, 1.0), *gate = host_random(gcount, 1.0);
    s.r = host_random(count, 1.0);
    nas_shape xs = {s.n, s.c, s.hw, 1}, gs = {s.n, s.c, 1, 1};
    s.x = dev(NAS_BUF_ACT, xs, x);
    s.gate = dev(NAS_BUF_ACT, gs, gate);
    s.y = dev(NAS_BUF_ACT, xs, NULL);
    nas_buf *dy = dev(NAS_BUF_ACT, xs, s.r), *dx = dev(NAS_BUF_ACT, xs, NULL);
    nas_buf *dg = dev(NAS_BUF_ACT, gs, NULL);
    check_rc(be->se_scale_bwd(be, s.n, s.c, s.hw, s.x, s.gate, dy, dx, false, dg, &err), &err,
             "se bwd");
    float *gx = download(dx, count), *gg = download(dg, gcount);
    gradcheck("se dx", x, s.x, count, gx, se_objective, &s);
    gradcheck("se dgate", gate, s.gate, gcount, gg, se_objective, &s);
    free(gx);
    free(gg);
    free(x);
    free(gate);
    free(s.r);
    nas_buf *bufs[] = {s.x, s.gate, s.y, dy, dx, dg};
    for (size_t i = 0; i < 6; i++)
        be->buf_free(be, &bufs[i]);
}

typedef struct pool_ctx {
    int n, c, hw;
    nas_buf *x, *y;
    float *r;
} pool_ctx;

static double pool_objective(void *p)
{
    pool_ctx *s = p;
    nas_err err;
    check_rc(be->pool_fwd(be, s->n, s->c, s->hw, s->x, s->y, &err), &err, "pool");
    return dot_buf(s->y, s->r, (size_t)s->n * s->c);
}

static void test_pool(void **state)
{
    (void)state;
    nas_err err;
    pool_ctx s = {.n = 2, .c = 3, .hw = 9};
    size_t count = (size_t)s.n * s.c * s.hw, pc = (size_t)s.n * s.c;
    float *x = host_random(count, 1.0);
    s.r = host_random(pc, 1.0);
    nas_shape xs = {s.n, s.c, 3, 3}, ps = {s.n, s.c, 1, 1};
    s.x = dev(NAS_BUF_ACT, xs, x);
    s.y = dev(NAS_BUF_ACT, ps, NULL);
    pool_objective(&s);
    float *y = download(s.y, pc);
    double mean0 = 0;
    for (int j = 0; j < s.hw; j++)
        mean0 += x[j];
    assert_true(fabs(y[0] - mean0 / s.hw) < 1e-6);
    nas_buf *dy = dev(NAS_BUF_ACT, ps, s.r), *dx = dev(NAS_BUF_ACT, xs, NULL);
    check_rc(be->pool_bwd(be, s.n, s.c, s.hw, dy, dx, false, &err), &err, "pool bwd");
    float *gx = download(dx, count);
    gradcheck("pool dx", x, s.x, count, gx, pool_objective, &s);
    free(y);
    free(gx);
    free(x);
    free(s.r);
    be->buf_free(be, &s.x);
    be->buf_free(be, &s.y);
    be->buf_free(be, &dy);
    be->buf_free(be, &dx);
}

static void test_dropout(void **state)
{
    (void)state;
    nas_err err;
    const size_t count = 20000;
    const float p = 0.2f;
    float *x = host_random(count, 1.0);
    nas_buf *bx = dev(NAS_BUF_ACT, vec(count), x), *by = dev(NAS_BUF_ACT, vec(count), NULL);
    nas_buf *mask = dev(NAS_BUF_F32, vec(count), NULL);
    check_rc(be->dropout_fwd(be, count, p, 42, bx, by, mask, &err), &err, "dropout");
    float *y = download(by, count), *m = download(mask, count);
    size_t dropped = 0;
    for (size_t i = 0; i < count; i++) {
        assert_true(m[i] == 0.0f || fabsf(m[i] - 1.0f / (1.0f - p)) < 1e-6f);
        assert_true(m[i] == nas_dropout_keep_scale(42, i, p)); /* the shared definition */
        assert_true(y[i] == x[i] * m[i]);
        dropped += m[i] == 0.0f;
    }
    /* binomial(20000, 0.2): mean 4000, sd ~57 */
    assert_true(dropped > 3700 && dropped < 4300);
    /* a different seed gives a different mask */
    assert_true(nas_dropout_keep_scale(43, 0, 0.5f) != nas_dropout_keep_scale(42, 0, 0.5f) ||
                nas_dropout_keep_scale(43, 1, 0.5f) != nas_dropout_keep_scale(42, 1, 0.5f) ||
                nas_dropout_keep_scale(43, 2, 0.5f) != nas_dropout_keep_scale(42, 2, 0.5f));
    /* backward: dx = dy * mask, accumulate adds */
    nas_buf *dx = dev(NAS_BUF_ACT, vec(count), x);
    check_rc(be->dropout_bwd(be, count, mask, bx, dx, true, &err), &err, "dropout bwd");
    float *g = download(dx, count);
    for (size_t i = 0; i < count; i++)
        assert_true(fabsf(g[i] - (x[i] + x[i] * m[i])) < 1e-6f);
    assert_int_equal(be->dropout_fwd(be, count, 1.0f, 1, bx, by, mask, &err), NAS_ERANGE);
    free(x);
    free(y);
    free(m);
    free(g);
    be->buf_free(be, &bx);
    be->buf_free(be, &by);
    be->buf_free(be, &mask);
    be->buf_free(be, &dx);
}

typedef struct fc_ctx {
    int n, in, out;
    nas_buf *x, *w, *b, *y;
    float *r;
} fc_ctx;

static double fc_objective(void *p)
{
    fc_ctx *f = p;
    nas_err err;
    check_rc(be->fc_fwd(be, f->n, f->in, f->out, f->x, f->w, f->b, f->y, &err), &err, "fc");
    return dot_buf(f->y, f->r, (size_t)f->n * f->out);
}

static void test_fc(void **state)
{
    (void)state;
    nas_err err;
    fc_ctx f = {.n = 3, .in = 7, .out = 5};
    size_t xc = (size_t)f.n * f.in, wc = (size_t)f.out * f.in, yc = (size_t)f.n * f.out;
    float *x = host_random(xc, 1.0), *w = host_random(wc, 1.0), *b = host_random(f.out, 1.0);
    f.r = host_random(yc, 1.0);
    nas_shape xs = {f.n, f.in, 1, 1}, ws = {f.out, f.in, 1, 1}, ys = {f.n, f.out, 1, 1};
    f.x = dev(NAS_BUF_ACT, xs, x);
    f.w = dev(NAS_BUF_PARAM, ws, w);
    f.b = dev(NAS_BUF_PARAM, vec(f.out), b);
    f.y = dev(NAS_BUF_ACT, ys, NULL);
    fc_objective(&f);
    float *y = download(f.y, yc);
    for (int i = 0; i < f.n; i++)
        for (int o = 0; o < f.out; o++) {
            double acc = b[o];
            for (int k = 0; k < f.in; k++)
                acc += (double)x[i * f.in + k] * w[o * f.in + k];
            assert_true(fabs(acc - y[i * f.out + o]) < 1e-5);
        }
    nas_buf *dy = dev(NAS_BUF_ACT, ys, f.r), *dx = dev(NAS_BUF_ACT, xs, NULL);
    nas_buf *dw = dev(NAS_BUF_PARAM, ws, NULL), *db = dev(NAS_BUF_PARAM, vec(f.out), NULL);
    check_rc(be->fc_bwd(be, f.n, f.in, f.out, f.x, f.w, dy, dx, false, dw, db, &err), &err,
             "fc bwd");
    float *gx = download(dx, xc), *gw = download(dw, wc), *gb = download(db, f.out);
    gradcheck("fc dx", x, f.x, xc, gx, fc_objective, &f);
    gradcheck("fc dw", w, f.w, wc, gw, fc_objective, &f);
    gradcheck("fc db", b, f.b, f.out, gb, fc_objective, &f);
    free(y);
    free(gx);
    free(gw);
    free(gb);
    free(x);
    free(w);
    free(b);
    free(f.r);
    nas_buf *bufs[] = {f.x, f.w, f.b, f.y, dy, dx, dw, db};
    for (size_t i = 0; i < 8; i++)
        be->buf_free(be, &bufs[i]);
}

/* ---- loss ---- */

typedef struct xent_ctx {
    int n, classes;
    float smoothing;
    nas_buf *logits, *labels, *stats;
} xent_ctx;

static double xent_objective(void *p)
{
    xent_ctx *x = p;
    nas_err err;
    check_rc(be->fill(be, x->stats, 0.0f, NAS_LOSS_STATS, &err), &err, "fill");
    check_rc(be->softmax_xent(be, x->n, x->classes, x->logits, x->labels, x->smoothing, 1.0f, NULL,
                              x->stats, &err),
             &err, "xent");
    float s[NAS_LOSS_STATS];
    check_rc(be->download(be, x->stats, s, NAS_LOSS_STATS, &err), &err, "download");
    return s[NAS_LOSS_STAT_LOSS_SUM] / x->n;
}

static void test_softmax_xent(void **state)
{
    (void)state;
    nas_err err;
    xent_ctx x = {.n = 4, .classes = 7, .smoothing = 0.1f};
    size_t count = (size_t)x.n * x.classes;
    float *z = host_random(count, 3.0);
    int32_t labels[4] = {0, 6, 3, 3};
    x.logits = dev(NAS_BUF_ACT, (nas_shape){x.n, x.classes, 1, 1}, z);
    x.labels = dev(NAS_BUF_I32, vec(x.n), labels);
    x.stats = dev(NAS_BUF_F32, vec(NAS_LOSS_STATS), NULL);
    /* loss against the definition: -sum_j t_j log softmax_j */
    double want = 0;
    for (int i = 0; i < x.n; i++) {
        double m = -1e30, s = 0;
        for (int j = 0; j < x.classes; j++)
            m = fmax(m, z[i * x.classes + j]);
        for (int j = 0; j < x.classes; j++)
            s += exp(z[i * x.classes + j] - m);
        for (int j = 0; j < x.classes; j++) {
            double t = x.smoothing / x.classes + (j == labels[i] ? 1.0 - x.smoothing : 0.0);
            want -= t * (z[i * x.classes + j] - m - log(s));
        }
    }
    want /= x.n;
    assert_true(fabs(xent_objective(&x) - want) < 1e-5);
    /* gradient of the mean loss */
    nas_buf *dz = dev(NAS_BUF_ACT, (nas_shape){x.n, x.classes, 1, 1}, NULL);
    check_rc(be->softmax_xent(be, x.n, x.classes, x.logits, x.labels, x.smoothing, 1.0f / x.n, dz,
                              x.stats, &err),
             &err, "xent grad");
    float *g = download(dz, count);
    gradcheck("xent dlogits", z, x.logits, count, g, xent_objective, &x);
    free(g);
    /* top-1 / top-5: label 0 is the max in row 0, rank 5 in row 1 (6th), ties count against */
    float crafted[2 * 7] = {9, 1, 2, 3, 4, 5, 6, /* label 0: rank 0 */
                            1, 9, 8, 7, 6, 5, 3}; /* label 6 (3): five larger + one smaller */
    int32_t cl[2] = {0, 6};
    check_rc(be->upload(be, x.logits, crafted, 14, &err), &err, "upload");
    check_rc(be->upload(be, x.labels, cl, 2, &err), &err, "upload");
    check_rc(be->fill(be, x.stats, 0.0f, NAS_LOSS_STATS, &err), &err, "fill");
    check_rc(be->softmax_xent(be, 2, 7, x.logits, x.labels, 0.0f, 1.0f, NULL, x.stats, &err), &err,
             "xent");
    float s[NAS_LOSS_STATS];
    check_rc(be->download(be, x.stats, s, NAS_LOSS_STATS, &err), &err, "download");
    assert_true(s[NAS_LOSS_STAT_TOP1] == 1.0f);
    assert_true(s[NAS_LOSS_STAT_TOP5] == 1.0f);
    assert_true(s[NAS_LOSS_STAT_COUNT] == 2.0f);
    /* label logit 3 -> 5 ties with the 5th largest: four larger + one tie = rank 5, out of
     * the top 5 because ties count against the label */
    crafted[7 + 6] = 5.0f;
    check_rc(be->upload(be, x.logits, crafted, 14, &err), &err, "upload");
    check_rc(be->fill(be, x.stats, 0.0f, NAS_LOSS_STATS, &err), &err, "fill");
    check_rc(be->softmax_xent(be, 2, 7, x.logits, x.labels, 0.0f, 1.0f, NULL, x.stats, &err), &err,
             "xent");
    check_rc(be->download(be, x.stats, s, NAS_LOSS_STATS, &err), &err, "download");
    assert_true(s[NAS_LOSS_STAT_TOP5] == 1.0f);
    /* a label out of range is an error with a message */
    int32_t badl[1] = {7};
    check_rc(be->upload(be, x.labels, badl, 1, &err), &err, "upload");
    assert_int_equal(be->softmax_xent(be, 1, 7, x.logits, x.labels, 0.0f, 1.0f, NULL, x.stats,
                                      &err),
                     NAS_ERANGE);
    assert_non_null(strstr(err.msg, "label 7"));
    free(z);
    be->buf_free(be, &x.logits);
    be->buf_free(be, &x.labels);
    be->buf_free(be, &x.stats);
    be->buf_free(be, &dz);
}

/* ---- optimiser ---- */

static void test_sgd_step(void **state)
{
    (void)state;
    nas_err err;
    const size_t n = 50;
    float *p = host_random(n, 1.0), *g = host_random(n, 1.0), *m = host_random(n, 1.0);
    for (int nesterov = 0; nesterov < 2; nesterov++)
        for (int decay = 0; decay < 2; decay++) {
            nas_buf *bp = dev(NAS_BUF_PARAM, vec(n), p), *bg = dev(NAS_BUF_PARAM, vec(n), g);
            nas_buf *bm = dev(NAS_BUF_PARAM, vec(n), m);
            nas_sgd_tensor t = {bp, bg, bm, n, decay != 0};
            nas_sgd_hparams hp = {.lr = 0.1f, .momentum = 0.9f, .weight_decay = 5e-4f,
                                  .nesterov = nesterov != 0};
            bool stepped = false;
            check_rc(be->sgd_step(be, &t, 1, &hp, &stepped, &err), &err, "sgd");
            assert_true(stepped);
            float *np = download(bp, n), *nm = download(bm, n);
            for (size_t i = 0; i < n; i++) {
                double gi = g[i] + (decay ? 5e-4 * p[i] : 0.0);
                double mi = 0.9 * m[i] + gi;
                double step = nesterov ? gi + 0.9 * mi : mi;
                assert_true(fabs(nm[i] - mi) < 1e-6);
                assert_true(fabs(np[i] - (p[i] - 0.1 * step)) < 1e-6);
            }
            free(np);
            free(nm);
            be->buf_free(be, &bp);
            be->buf_free(be, &bg);
            be->buf_free(be, &bm);
        }
    free(p);
    free(g);
    free(m);
}

static void test_buffers(void **state)
{
    (void)state;
    nas_err err;
    nas_buf *b = NULL;
    assert_int_equal(be->buf_new(be, NAS_BUF_ACT, (nas_shape){2, 0, 3, 3}, &b, &err), NAS_EINVAL);
    assert_null(b);
    b = dev(NAS_BUF_F32, vec(4), NULL);
    float four[5] = {1, 2, 3, 4, 5};
    assert_int_equal(be->upload(be, b, four, 5, &err), NAS_ERANGE); /* overflow refused */
    check_rc(be->fill(be, b, 2.5f, 4, &err), &err, "fill");
    float out[4];
    check_rc(be->download(be, b, out, 4, &err), &err, "download");
    for (int i = 0; i < 4; i++)
        assert_true(out[i] == 2.5f);
    be->buf_free(be, &b);
    assert_null(b);
    be->buf_free(be, &b); /* NULL is a no-op */
    assert_non_null(strstr(be->device_name(be), "threads"));
    check_rc(be->sync(be, &err), &err, "sync");
}

static int setup(void **state)
{
    (void)state;
    nas_err err;
    nas_rng_seed(&rng, 20261123);
    if (nas_backend_cpu_new(2, &be, &err) != 0) {
        fprintf(stderr, "%s\n", err.msg);
        return -1;
    }
    return 0;
}

static int teardown(void **state)
{
    (void)state;
    nas_backend_free(&be);
    return 0;
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_buffers),
        cmocka_unit_test(test_conv_full),
        cmocka_unit_test(test_conv_grouped_depthwise),
        cmocka_unit_test(test_conv_plan_rejects_bad_shapes),
        cmocka_unit_test(test_bn_train),
        cmocka_unit_test(test_bn_frozen),
        cmocka_unit_test(test_activations),
        cmocka_unit_test(test_se_scale),
        cmocka_unit_test(test_pool),
        cmocka_unit_test(test_dropout),
        cmocka_unit_test(test_fc),
        cmocka_unit_test(test_softmax_xent),
        cmocka_unit_test(test_sgd_step),
    };
    return cmocka_run_group_tests(tests, setup, teardown);
}
