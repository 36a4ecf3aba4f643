/*
 * tests/test_gradcheck_blocks.c - central-difference gradient checks of one
 * block of each kind, end to end through the graph (block -> pool -> fc ->
 * softmax cross-entropy with label smoothing, training-mode batch norm).
 *
 * Every parameter tensor of the block is checked at up to 12 coordinates:
 * the analytic gradient of the mean loss (nas_net_backward) against
 * (L(p+h) - L(p-h)) / 2h with h = 1e-3, where L is recomputed by a forward
 * pass in float32 and read back as the double loss sum. Tolerance per tensor:
 * |analytic - numeric| <= 3e-2 * max|numeric over the tensor| + 3e-4. The
 * additive part covers float32 rounding of the loss (~1e-7 relative, /2h);
 * a missing or wrong term in a backward is far above it.
 * Each block has two layers: the first strided (projection shortcut for
 * xx/bl/dw, no skip for irb/fused_irb), the second with the identity skip.
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
#include "trainer/graph.h"

#define BATCH 3
#define CLASSES 5
#define H 3e-4
#define SAMPLES 12
#define SMOOTHING 0.1f

static nas_backend *be;

static void check_rc(int rc, const nas_err *err, const char *what)
{
    if (rc != 0)
        fail_msg("%s failed: %s", what, err->msg);
}

static double mean_loss(nas_net *net)
{
    nas_err err;
    nas_loss_stats st;
    check_rc(nas_net_reset_stats(net, &err), &err, "reset");
    check_rc(nas_net_forward(net, BATCH, NAS_MODE_TRAIN, &err), &err, "forward");
    check_rc(nas_net_loss(net, SMOOTHING, false, &err), &err, "loss");
    check_rc(nas_net_read_stats(net, &st, &err), &err, "stats");
    return st.loss_sum / st.count;
}

static nas_arch one_block_arch(nas_block_kind kind, int resolution, double ratio, nas_act act,
                               bool se, nas_pad pad)
{
    nas_arch a = {.resolution = resolution, .in_channels = 3, .classes = CLASSES, .bn_eps = 1e-3,
                  .dropout = 0.0, .n_stages = 1};
    a.stages[0] = (nas_stage){.kind = kind, .depth = 2, .width = 8, .stride = 2, .kernel = 3,
                              .ratio = ratio, .act = act, .se = se, .pad = pad};
    return a;
}

static void gradcheck_arch(const nas_arch *arch, const char *label)
{
    nas_err err;
    nas_net *net = NULL;
    check_rc(nas_net_new(arch, be, BATCH, 7, &net, &err), &err, "nas_net_new");
    /* a fixed random batch */
    nas_rng rng;
    nas_rng_seed(&rng, 99);
    size_t image = (size_t)arch->in_channels * arch->resolution * arch->resolution;
    float *images = malloc(BATCH * image * sizeof(float));
    assert_non_null(images);
    for (size_t i = 0; i < BATCH * image; i++)
        images[i] = (float)nas_rng_normal(&rng);
    int32_t labels[BATCH] = {1, 4, 0};
    check_rc(nas_net_set_batch(net, images, labels, BATCH, &err), &err, "set_batch");

    /* analytic gradients */
    check_rc(nas_net_reset_stats(net, &err), &err, "reset");
    check_rc(nas_net_forward(net, BATCH, NAS_MODE_TRAIN, &err), &err, "forward");
    check_rc(nas_net_loss(net, SMOOTHING, true, &err), &err, "loss");
    check_rc(nas_net_backward(net, &err), &err, "backward");

    int checked = 0;
    for (int pi = 0; pi < nas_net_param_count(net); pi++) {
        const nas_param *p = nas_net_param(net, pi);
        if (!p->trainable)
            continue;
        float *value = malloc(p->count * sizeof(float)), *grad = malloc(p->count * sizeof(float));
        assert_non_null(value);
        assert_non_null(grad);
        check_rc(be->download(be, p->value, value, p->count, &err), &err, "download");
        check_rc(be->download(be, p->grad, grad, p->count, &err), &err, "download");
        size_t step = p->count > SAMPLES ? p->count / SAMPLES : 1;
        double max_err = 0.0, scale = 0.0, worst_a = 0.0, worst_n = 0.0;
        for (size_t i = 0; i < p->count; i += step) {
            float orig = value[i];
            value[i] = (float)(orig + H);
            check_rc(be->upload(be, p->value, value, p->count, &err), &err, "upload");
            double plus = mean_loss(net);
            value[i] = (float)(orig - H);
            check_rc(be->upload(be, p->value, value, p->count, &err), &err, "upload");
            double minus = mean_loss(net);
            value[i] = orig;
            check_rc(be->upload(be, p->value, value, p->count, &err), &err, "upload");
            double numeric = (plus - minus) / (2 * H);
            scale = fmax(scale, fabs(numeric));
            if (fabs(numeric - grad[i]) > max_err) {
                max_err = fabs(numeric - grad[i]);
                worst_a = grad[i];
                worst_n = numeric;
            }
        }
        if (max_err > 3e-2 * scale + 3e-4)
            fail_msg("%s: %s: analytic %g vs numeric %g (max error %g, scale %g)", label, p->name,
                     worst_a, worst_n, max_err, scale);
        checked++;
        free(value);
        free(grad);
    }
    assert_true(checked >= 6);
    free(images);
    nas_net_free(&net);
    assert_null(net);
}

static void test_conv_stage(void **state)
{
    (void)state;
    nas_arch a = one_block_arch(NAS_BLOCK_CONV, 6, 1.0, NAS_ACT_SWISH, false, NAS_PAD_SAME);
    gradcheck_arch(&a, "conv");
}

static void test_xx_block(void **state)
{
    (void)state;
    nas_arch a = one_block_arch(NAS_BLOCK_XX, 6, 1.0, NAS_ACT_RELU, false, NAS_PAD_SAME);
    gradcheck_arch(&a, "xx");
}

static void test_bl_block(void **state)
{
    (void)state;
    nas_arch a = one_block_arch(NAS_BLOCK_BL, 6, 0.5, NAS_ACT_RELU, false, NAS_PAD_SAME);
    gradcheck_arch(&a, "bl");
}

static void test_dw_block(void **state)
{
    (void)state;
    nas_arch a = one_block_arch(NAS_BLOCK_DW, 6, 2.0, NAS_ACT_RELU, false, NAS_PAD_SAME);
    gradcheck_arch(&a, "dw");
}

static void test_fused_irb_block(void **state)
{
    (void)state;
    /* timm padding: the strided 3x3 has no padding, 7 -> 3 */
    nas_arch a = one_block_arch(NAS_BLOCK_FUSED_IRB, 7, 2.0, NAS_ACT_SWISH, false, NAS_PAD_TIMM);
    gradcheck_arch(&a, "fused_irb");
}

static void test_fused_irb_se_block(void **state)
{
    (void)state;
    nas_arch a = one_block_arch(NAS_BLOCK_FUSED_IRB, 7, 2.0, NAS_ACT_RELU, true, NAS_PAD_TIMM);
    gradcheck_arch(&a, "fused_irb+se");
}

static void test_irb_se_block(void **state)
{
    (void)state;
    nas_arch a = one_block_arch(NAS_BLOCK_IRB, 6, 4.0, NAS_ACT_SWISH, true, NAS_PAD_SAME);
    gradcheck_arch(&a, "irb+se");
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
        cmocka_unit_test(test_conv_stage),      cmocka_unit_test(test_xx_block),
        cmocka_unit_test(test_bl_block),        cmocka_unit_test(test_dw_block),
        cmocka_unit_test(test_fused_irb_block), cmocka_unit_test(test_fused_irb_se_block),
        cmocka_unit_test(test_irb_se_block),
    };
    return cmocka_run_group_tests(tests, setup, teardown);
}
