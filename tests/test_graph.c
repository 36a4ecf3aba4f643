/*
 * tests/test_graph.c - the network graph on small architectures: parameter
 * names, shapes and flags; trainable count against the cost model; freezing
 * stages (no gradient, running statistics untouched); BN folding (folded
 * inference equals eval mode); training steps reduce the loss; error paths.
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
#include "space/cost.h"
#include "trainer/graph.h"

static nas_backend *be;

static void check_rc(int rc, const nas_err *err, const char *what)
{
    if (rc != 0)
        fail_msg("%s failed: %s", what, err->msg);
}

/* A 16x16 grey network touching every block kind (GENet then GPUNet style). */
static nas_arch mixed_arch(void)
{
    nas_arch a = {.resolution = 16, .in_channels = 1, .classes = 4, .bn_eps = 1e-5,
                  .dropout = 0.2, .n_stages = 7};
    a.stages[0] = (nas_stage){NAS_BLOCK_CONV, 1, 8, 1, 3, 1.0, NAS_ACT_RELU, false, NAS_PAD_SAME};
    a.stages[1] = (nas_stage){NAS_BLOCK_XX, 2, 8, 2, 3, 1.0, NAS_ACT_RELU, false, NAS_PAD_SAME};
    a.stages[2] = (nas_stage){NAS_BLOCK_BL, 1, 16, 1, 3, 0.5, NAS_ACT_RELU, false, NAS_PAD_SAME};
    a.stages[3] = (nas_stage){NAS_BLOCK_FUSED_IRB, 2, 16, 2, 3, 2.0, NAS_ACT_SWISH, true,
                              NAS_PAD_TIMM};
    a.stages[4] = (nas_stage){NAS_BLOCK_DW, 1, 24, 1, 5, 2.0, NAS_ACT_RELU, false, NAS_PAD_SAME};
    a.stages[5] = (nas_stage){NAS_BLOCK_IRB, 2, 24, 1, 3, 3.0, NAS_ACT_SWISH, true, NAS_PAD_SAME};
    a.stages[6] = (nas_stage){NAS_BLOCK_CONV, 1, 32, 1, 1, 1.0, NAS_ACT_RELU, false, NAS_PAD_SAME};
    return a;
}

static nas_net *build(const nas_arch *a, int max_batch)
{
    nas_err err;
    nas_net *net = NULL;
    check_rc(nas_net_new(a, be, max_batch, 1, &net, &err), &err, "nas_net_new");
    return net;
}

static float *random_images(const nas_arch *a, int n, uint64_t seed)
{
    nas_rng rng;
    nas_rng_seed(&rng, seed);
    size_t count = (size_t)n * a->in_channels * a->resolution * a->resolution;
    float *p = malloc(count * sizeof(float));
    assert_non_null(p);
    for (size_t i = 0; i < count; i++)
        p[i] = (float)nas_rng_normal(&rng);
    return p;
}

static const nas_param *param(const nas_net *net, const char *name)
{
    int i = nas_net_param_find(net, name);
    if (i < 0)
        fail_msg("no parameter named %s", name);
    return nas_net_param(net, i);
}

static void assert_shape(const nas_param *p, int ndim, int d0, int d1, int d2, int d3)
{
    int want[4] = {d0, d1, d2, d3};
    if (p->ndim != ndim)
        fail_msg("%s: ndim %d, expected %d", p->name, p->ndim, ndim);
    for (int i = 0; i < ndim; i++)
        if (p->shape[i] != want[i])
            fail_msg("%s: dim %d is %d, expected %d", p->name, i, p->shape[i], want[i]);
}

static float *download_param(const nas_param *p)
{
    nas_err err;
    float *v = malloc(p->count * sizeof(float));
    assert_non_null(v);
    check_rc(be->download(be, p->value, v, p->count, &err), &err, "download");
    return v;
}

static double sum_abs_grad(const nas_param *p)
{
    nas_err err;
    float *g = malloc(p->count * sizeof(float));
    assert_non_null(g);
    check_rc(be->download(be, p->grad, g, p->count, &err), &err, "download");
    double s = 0;
    for (size_t i = 0; i < p->count; i++)
        s += fabs(g[i]);
    free(g);
    return s;
}

static void test_param_names_shapes_and_count(void **state)
{
    (void)state;
    nas_err err;
    nas_arch a = mixed_arch();
    nas_net *net = build(&a, 2);
    /* names unique */
    for (int i = 0; i < nas_net_param_count(net); i++)
        for (int j = i + 1; j < nas_net_param_count(net); j++)
            assert_string_not_equal(nas_net_param(net, i)->name, nas_net_param(net, j)->name);
    assert_shape(param(net, "stages.0.0.conv.weight"), 4, 8, 1, 3, 3);
    assert_shape(param(net, "stages.0.0.bn.running_var"), 1, 8, 0, 0, 0);
    /* xx: layer 0 strided -> projection; layer 1 identity -> none */
    assert_shape(param(net, "stages.1.0.shortcut.weight"), 4, 8, 8, 1, 1);
    assert_true(param(net, "stages.1.0.bn_shortcut.running_mean")->kind == NAS_PARAM_BUFFER);
    assert_int_equal(nas_net_param_find(net, "stages.1.1.shortcut.weight"), -1);
    /* bl 8 -> 16: channel change -> projection; mid = round(16 * 0.5) */
    assert_shape(param(net, "stages.2.0.conv1.weight"), 4, 8, 8, 1, 1);
    assert_shape(param(net, "stages.2.0.conv2.weight"), 4, 8, 8, 3, 3);
    assert_shape(param(net, "stages.2.0.conv3.weight"), 4, 16, 8, 1, 1);
    assert_shape(param(net, "stages.2.0.shortcut.weight"), 4, 16, 8, 1, 1);
    /* fused_irb: mid = make_divisible(16 * 2) = 32; SE rd = round(32 * 0.25 / 2) = 4 */
    assert_shape(param(net, "stages.3.0.conv_exp.weight"), 4, 32, 16, 3, 3);
    assert_shape(param(net, "stages.3.0.se.conv_reduce.weight"), 4, 4, 32, 1, 1);
    assert_shape(param(net, "stages.3.0.se.conv_reduce.bias"), 1, 4, 0, 0, 0);
    assert_shape(param(net, "stages.3.0.se.conv_expand.weight"), 4, 32, 4, 1, 1);
    assert_shape(param(net, "stages.3.0.conv_pwl.weight"), 4, 16, 32, 1, 1);
    assert_int_equal(nas_net_param_find(net, "stages.3.0.shortcut.weight"), -1);
    /* dw: depthwise k5 over mid = round(24 * 2) = 48 */
    assert_shape(param(net, "stages.4.0.conv2.weight"), 4, 48, 1, 5, 5);
    /* irb: mid = make_divisible(24 * 3) = 72 */
    assert_shape(param(net, "stages.5.1.conv_pw.weight"), 4, 72, 24, 1, 1);
    assert_shape(param(net, "stages.5.1.conv_dw.weight"), 4, 72, 1, 3, 3);
    assert_shape(param(net, "stages.5.1.bn_dw.weight"), 1, 72, 0, 0, 0);
    assert_shape(param(net, "fc.weight"), 2, 4, 32, 0, 0);
    assert_shape(param(net, "fc.bias"), 1, 4, 0, 0, 0);
    /* flags: decay only on weights; BN gamma/beta trained without decay */
    assert_true(param(net, "fc.weight")->decay);
    assert_false(param(net, "fc.bias")->decay);
    assert_false(param(net, "stages.5.1.bn_dw.weight")->decay);
    assert_true(param(net, "stages.5.1.bn_dw.weight")->trainable);
    assert_false(param(net, "stages.5.1.bn_dw.running_mean")->trainable);
    assert_null(param(net, "stages.5.1.bn_dw.running_mean")->grad);
    assert_int_equal(param(net, "fc.weight")->stage, -1);
    assert_int_equal(param(net, "stages.5.1.conv_dw.weight")->stage, 5);
    /* BN initialised to identity */
    float *rv = download_param(param(net, "stages.4.0.bn2.running_var"));
    float *gamma = download_param(param(net, "stages.4.0.bn2.weight"));
    assert_true(rv[0] == 1.0f && gamma[47] == 1.0f);
    free(rv);
    free(gamma);
    /* trainable parameter count = the cost model's */
    nas_cost cost;
    check_rc(nas_cost_compute(&a, 0, &cost, &err), &err, "cost");
    assert_int_equal(nas_net_trainable_count(net), cost.params);
    nas_cost_release(&cost);
    nas_net_free(&net);
    assert_null(net);
    nas_net_free(&net); /* NULL-safe */
}

/* One SGD step over every trainable parameter with momentum buffers in bufs. */
static void sgd(nas_net *net, nas_buf **momentum, float lr)
{
    nas_err err;
    int np = nas_net_param_count(net), k = 0;
    nas_sgd_tensor *t = calloc((size_t)np, sizeof(*t));
    assert_non_null(t);
    for (int i = 0; i < np; i++) {
        const nas_param *p = nas_net_param(net, i);
        if (!p->trainable)
            continue;
        if (!momentum[i]) {
            nas_shape s = {(int)p->count, 1, 1, 1};
            check_rc(be->buf_new(be, NAS_BUF_PARAM, s, &momentum[i], &err), &err, "momentum");
        }
        t[k++] = (nas_sgd_tensor){p->value, p->grad, momentum[i], p->count, p->decay};
    }
    nas_sgd_hparams hp = {.lr = lr, .momentum = 0.9f, .weight_decay = 1e-4f, .nesterov = true};
    check_rc(be->sgd_step(be, t, k, &hp, NULL, &err), &err, "sgd");
    free(t);
}

static double train_step(nas_net *net, int n, nas_buf **momentum)
{
    nas_err err;
    nas_loss_stats st;
    check_rc(nas_net_reset_stats(net, &err), &err, "reset");
    check_rc(nas_net_forward(net, n, NAS_MODE_TRAIN, &err), &err, "forward");
    check_rc(nas_net_loss(net, 0.0f, true, &err), &err, "loss");
    check_rc(nas_net_backward(net, &err), &err, "backward");
    check_rc(nas_net_read_stats(net, &st, &err), &err, "stats");
    assert_true(st.count == n);
    if (momentum)
        sgd(net, momentum, 0.05f);
    return st.loss_sum / n;
}

static void test_training_reduces_loss(void **state)
{
    (void)state;
    nas_err err;
    nas_arch a = mixed_arch();
    nas_net *net = build(&a, 8);
    float *images = random_images(&a, 8, 3);
    int32_t labels[8] = {0, 1, 2, 3, 3, 2, 1, 0};
    check_rc(nas_net_set_batch(net, images, labels, 8, &err), &err, "set_batch");
    nas_buf **momentum = calloc((size_t)nas_net_param_count(net), sizeof(*momentum));
    double first = train_step(net, 8, momentum), last = first;
    for (int step = 0; step < 30; step++)
        last = train_step(net, 8, momentum);
    /* memorising 8 images: the loss must fall well below its start (~log 4) */
    if (!(last < 0.5 * first))
        fail_msg("loss went from %g to %g in 30 steps", first, last);
    /* eval mode on the same batch agrees with the labels more often than chance */
    nas_loss_stats st;
    check_rc(nas_net_reset_stats(net, &err), &err, "reset");
    check_rc(nas_net_forward(net, 8, NAS_MODE_EVAL, &err), &err, "eval");
    check_rc(nas_net_loss(net, 0.0f, false, &err), &err, "loss");
    check_rc(nas_net_read_stats(net, &st, &err), &err, "stats");
    assert_true(st.top1 >= 4);
    assert_true(st.top5 == 8); /* 4 classes: always within the top 5 */
    for (int i = 0; i < nas_net_param_count(net); i++)
        be->buf_free(be, &momentum[i]);
    free(momentum);
    free(images);
    nas_net_free(&net);
}

static void test_frozen_stages(void **state)
{
    (void)state;
    nas_err err;
    nas_arch a = mixed_arch();
    nas_net *net = build(&a, 4);
    int64_t all = nas_net_trainable_count(net);
    float *images = random_images(&a, 4, 5);
    int32_t labels[4] = {0, 1, 2, 3};
    check_rc(nas_net_set_batch(net, images, labels, 4, &err), &err, "set_batch");
    /* LLR-NAS train_only [3, 4]: freeze everything else but the classifier */
    for (int s = 0; s < a.n_stages; s++)
        check_rc(nas_net_set_trainable(net, s, s == 3 || s == 4, &err), &err, "freeze");
    assert_true(nas_net_trainable_count(net) < all);
    assert_false(param(net, "stages.1.0.conv1.weight")->trainable);
    assert_true(param(net, "stages.3.1.conv_exp.weight")->trainable);
    train_step(net, 4, NULL);
    /* frozen BN: running statistics untouched by a training forward */
    float *rm = download_param(param(net, "stages.1.0.bn1.running_mean"));
    float *rm_live = download_param(param(net, "stages.3.0.bn_exp.running_mean"));
    double frozen_sum = 0, live_sum = 0;
    for (int i = 0; i < 8; i++)
        frozen_sum += fabs(rm[i]);
    for (int i = 0; i < 32; i++)
        live_sum += fabs(rm_live[i]);
    assert_true(frozen_sum == 0.0);
    assert_true(live_sum > 0.0);
    free(rm);
    free(rm_live);
    /* gradients only where trainable (buffers start zeroed) */
    assert_true(sum_abs_grad(param(net, "stages.1.0.conv1.weight")) == 0.0);
    assert_true(sum_abs_grad(param(net, "stages.5.1.conv_dw.weight")) == 0.0);
    assert_true(sum_abs_grad(param(net, "stages.3.0.conv_exp.weight")) > 0.0);
    assert_true(sum_abs_grad(param(net, "stages.4.0.bn2.weight")) > 0.0);
    assert_true(sum_abs_grad(param(net, "fc.weight")) > 0.0);
    assert_int_equal(nas_net_set_trainable(net, 7, true, &err), NAS_ERANGE);
    assert_non_null(strstr(err.msg, "stage 7"));
    /* everything frozen: backward is a no-op, not an error */
    for (int s = -1; s < a.n_stages; s++)
        check_rc(nas_net_set_trainable(net, s, false, &err), &err, "freeze");
    assert_int_equal(nas_net_trainable_count(net), 0);
    train_step(net, 4, NULL);
    free(images);
    nas_net_free(&net);
}

static void test_fold_bn_matches_eval(void **state)
{
    (void)state;
    nas_err err;
    nas_arch a = mixed_arch();
    nas_net *net = build(&a, 4);
    float *images = random_images(&a, 4, 11);
    int32_t labels[4] = {3, 1, 0, 2};
    check_rc(nas_net_set_batch(net, images, labels, 4, &err), &err, "set_batch");
    nas_buf **momentum = calloc((size_t)nas_net_param_count(net), sizeof(*momentum));
    for (int step = 0; step < 3; step++) /* non-trivial running statistics and weights */
        train_step(net, 4, momentum);
    assert_int_equal(nas_net_forward(net, 4, NAS_MODE_FOLDED, &err), NAS_ESTATE);
    check_rc(nas_net_forward(net, 3, NAS_MODE_EVAL, &err), &err, "eval");
    float eval[12], folded[12];
    check_rc(nas_net_read_logits(net, eval, 3, &err), &err, "logits");
    check_rc(nas_net_fold_bn(net, &err), &err, "fold");
    check_rc(nas_net_forward(net, 3, NAS_MODE_FOLDED, &err), &err, "folded");
    check_rc(nas_net_read_logits(net, folded, 3, &err), &err, "logits");
    for (int i = 0; i < 12; i++)
        if (fabsf(eval[i] - folded[i]) > 1e-4f * (1.0f + fabsf(eval[i])))
            fail_msg("logit %d: eval %g, folded %g", i, (double)eval[i], (double)folded[i]);
    for (int i = 0; i < nas_net_param_count(net); i++)
        be->buf_free(be, &momentum[i]);
    free(momentum);
    free(images);
    nas_net_free(&net);
}

static void test_errors(void **state)
{
    (void)state;
    nas_err err;
    nas_arch a = mixed_arch();
    nas_net *net = build(&a, 2);
    float *images = random_images(&a, 3, 1);
    int32_t labels[3] = {0, 1, 9};
    assert_int_equal(nas_net_set_batch(net, images, labels, 3, &err), NAS_ERANGE);
    assert_non_null(strstr(err.msg, "at most 2"));
    assert_int_equal(nas_net_set_batch(net, images, labels + 1, 2, &err), NAS_ERANGE);
    assert_non_null(strstr(err.msg, "label 9"));
    assert_int_equal(nas_net_backward(net, &err), NAS_ESTATE);
    assert_int_equal(nas_net_loss(net, 0.0f, true, &err), NAS_ESTATE);
    check_rc(nas_net_forward(net, 2, NAS_MODE_EVAL, &err), &err, "eval");
    check_rc(nas_net_loss(net, 0.0f, true, &err), &err, "loss");
    assert_int_equal(nas_net_backward(net, &err), NAS_ESTATE); /* eval forward */
    nas_net_free(&net);
    free(images);
    /* a resolution the strides collapse to nothing names the layer */
    nas_arch tiny = mixed_arch();
    tiny.resolution = 4;
    net = NULL;
    int rc = nas_net_new(&tiny, be, 2, 1, &net, &err);
    assert_true(rc == NAS_EINVAL || rc == NAS_ERANGE);
    assert_null(net);
    assert_non_null(strstr(err.msg, "stage"));
    assert_int_equal(nas_net_new(&a, be, 0, 1, &net, &err), NAS_EINVAL);
}

static int setup(void **state)
{
    (void)state;
    nas_err err;
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
        cmocka_unit_test(test_param_names_shapes_and_count),
        cmocka_unit_test(test_training_reduces_loss),
        cmocka_unit_test(test_frozen_stages),
        cmocka_unit_test(test_fold_bn_matches_eval),
        cmocka_unit_test(test_errors),
    };
    return cmocka_run_group_tests(tests, setup, teardown);
}
