/*
 * tests/test_cost.c - the cost model against the published figures of
 * shared/reference/models.md: totals of the presets, the per-block tables of
 * GENet (G4) and GPUNet-0 (P4, with its 79x79 Fused-IRB quirk), the MACs at
 * 224 px, and hand-derived formulas on small architectures built in code.
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

#include "space/arch.h"
#include "space/cost.h"

static nas_cost cost_of(const char *preset, int resolution) {
    nas_arch a;
    nas_err err;
    int rc = nas_arch_load(preset, &a, &err);
    if (rc) fail_msg("%s: %s", preset, err.msg);
    nas_cost c;
    rc = nas_cost_compute(&a, resolution, &c, &err);
    if (rc) fail_msg("%s: %s", preset, err.msg);
    return c;
}

static void assert_within(double got, double want, double rel, const char *what) {
    if (fabs(got - want) > rel * want)
        fail_msg("%s: got %.6g, want %.6g within %.2f%%", what, got, want, rel * 100);
}

/* Sums params/MACs of every layer whose name starts with prefix (a block). */
static void block_sum(const nas_cost *c, const char *prefix, int64_t *params, int64_t *macs,
                      const nas_layer_cost **last) {
    *params = *macs = 0;
    *last = NULL;
    size_t n = strlen(prefix);
    for (int i = 0; i < c->n_layers; i++) {
        const nas_layer_cost *l = &c->layers[i];
        if (strncmp(l->name, prefix, n) != 0) continue;
        *params += l->params;
        *macs += l->macs;
        if (!strstr(l->name, "shortcut")) *last = l;
    }
}

static void test_preset_totals(void **state) {
    (void)state;
    struct {
        const char *name;
        int64_t params;
        double gmacs;
    } targets[] = {
        {"genet-light", 8173761, 0.5472},
        {"genet-normal", 21142920, 2.2081},
        {"genet-large", 31078280, 4.5570},
        {"gpunet-0", 11885432, 3.2542},
    };
    for (size_t i = 0; i < sizeof targets / sizeof targets[0]; i++) {
        nas_cost c = cost_of(targets[i].name, 0);
        if (c.params != targets[i].params)
            fail_msg("%s: %lld params, want %lld", targets[i].name, (long long)c.params,
                     (long long)targets[i].params);
        assert_within((double)c.macs / 1e9, targets[i].gmacs, 0.005, targets[i].name);
        nas_cost_release(&c);
    }
}

static void test_macs_at_224(void **state) {
    (void)state;
    /* models.md G4 "MACs @224 (computed)". */
    struct {
        const char *name;
        double gmacs;
    } targets[] = {{"genet-light", 0.744}, {"genet-normal", 3.005}, {"genet-large", 3.490}};
    for (size_t i = 0; i < sizeof targets / sizeof targets[0]; i++) {
        nas_cost c = cost_of(targets[i].name, 224);
        assert_within((double)c.macs / 1e9, targets[i].gmacs, 0.005, targets[i].name);
        /* The resolution changes MACs, never parameters. */
        nas_cost native = cost_of(targets[i].name, 0);
        assert_true(c.params == native.params);
        nas_cost_release(&c);
        nas_cost_release(&native);
    }
}

static void test_genet_blocks(void **state) {
    (void)state;
    /* models.md G4 per-block tables: (preset, stage, params, MMACs, out HxW). The
     * table's stages 3..7 are super-blocks 1..5 here (stage 0 is the stem). */
    struct {
        const char *preset;
        int stage;
        int64_t params;
        double mmacs;
        int hw;
    } rows[] = {
        {"genet-light", 1, 27264, 62.2, 48},     {"genet-light", 2, 127392, 73.0, 24},
        {"genet-light", 3, 1091712, 157.9, 12},  {"genet-light", 4, 3729600, 203.3, 6},
        {"genet-light", 5, 781056, 28.0, 6},     {"genet-normal", 1, 189184, 434.1, 48},
        {"genet-normal", 2, 1243008, 714.9, 24}, {"genet-normal", 3, 2675200, 396.7, 12},
        {"genet-normal", 4, 10346240, 503.8, 6}, {"genet-normal", 5, 2483840, 89.1, 6},
        {"genet-large", 4, 12830080, 1054.1, 8}, {"genet-large", 5, 9935360, 633.6, 8},
    };
    for (size_t i = 0; i < sizeof rows / sizeof rows[0]; i++) {
        nas_cost c = cost_of(rows[i].preset, 0);
        char prefix[32];
        snprintf(prefix, sizeof prefix, "stages.%d.", rows[i].stage);
        int64_t params, macs;
        const nas_layer_cost *last;
        block_sum(&c, prefix, &params, &macs, &last);
        if (params != rows[i].params)
            fail_msg("%s stage %d: %lld params, want %lld", rows[i].preset, rows[i].stage,
                     (long long)params, (long long)rows[i].params);
        /* The table rounds to 0.1 MMAC. */
        if (fabs((double)macs / 1e6 - rows[i].mmacs) > 0.051)
            fail_msg("%s stage %d: %.2f MMACs, want %.1f", rows[i].preset, rows[i].stage,
                     (double)macs / 1e6, rows[i].mmacs);
        assert_non_null(last);
        assert_int_equal(last->h_out, rows[i].hw);
        nas_cost_release(&c);
    }
}

static void test_gpunet0_per_layer(void **state) {
    (void)state;
    /* models.md P4: GPUNet-0 at 320 px, one row per layer. */
    struct {
        const char *prefix;
        int64_t params;
        double mmacs;
        int hw;
    } rows[] = {
        {"stages.0.0.", 928, 22.12, 160},     {"stages.1.0.", 9280, 235.93, 160},
        {"stages.1.1.", 9280, 235.93, 160},   {"stages.2.0.", 51584, 319.54, 79},
        {"stages.2.1.", 51584, 319.54, 79},   {"stages.3.0.", 56768, 85.66, 39},
        {"stages.3.1.", 205568, 311.50, 39},  {"stages.3.2.", 205568, 311.50, 39},
        {"stages.4.0.", 107072, 65.07, 20},   {"stages.4.1.", 672512, 266.75, 20},
        {"stages.4.2.", 672512, 266.75, 20},  {"stages.6.0.", 1412032, 222.50, 10},
        {"stages.6.1.", 6246064, 500.02, 10},
    };
    nas_cost c = cost_of("gpunet-0", 0);
    for (size_t i = 0; i < sizeof rows / sizeof rows[0]; i++) {
        int64_t params, macs;
        const nas_layer_cost *last;
        block_sum(&c, rows[i].prefix, &params, &macs, &last);
        if (params != rows[i].params)
            fail_msg("%s: %lld params, want %lld", rows[i].prefix, (long long)params,
                     (long long)rows[i].params);
        if (fabs((double)macs / 1e6 - rows[i].mmacs) > 0.0051)
            fail_msg("%s: %.3f MMACs, want %.2f", rows[i].prefix, (double)macs / 1e6, rows[i].mmacs);
        assert_non_null(last);
        assert_int_equal(last->h_out, rows[i].hw);
        assert_int_equal(last->w_out, rows[i].hw);
    }
    /* The tail row: conv 1x1 704->1280 + BN, then fc 1280->1000. */
    int64_t tail_params, tail_macs, fc_params, fc_macs;
    const nas_layer_cost *last;
    block_sum(&c, "stages.8.", &tail_params, &tail_macs, &last);
    block_sum(&c, "fc", &fc_params, &fc_macs, &last);
    assert_true(tail_params + fc_params == 2184680);
    assert_within((double)(tail_macs + fc_macs) / 1e6, 91.39, 0.0005, "gpunet-0 tail");
    assert_true(c.macs == 3254209280LL);
    /* SE of layer 11 has rd = 64: 2*1280*64 + 64 + 1280. */
    for (int i = 0; i < c.n_layers; i++)
        if (strcmp(c.layers[i].name, "stages.6.0.se") == 0) assert_true(c.layers[i].params == 165184);
    nas_cost_release(&c);
}

static void test_other_gpunets_consistent(void **state) {
    (void)state;
    /* No published totals for these two in models.md; check what the structure
     * implies: the stride-2 Fused-IRB zero padding and the spatial chain. */
    nas_cost c1 = cost_of("gpunet-1", 0), c2 = cost_of("gpunet-2", 0);
    int seen = 0;
    for (int i = 0; i < c1.n_layers; i++)
        if (strcmp(c1.layers[i].name, "stages.2.0.conv_exp") == 0) {
            assert_int_equal(c1.layers[i].padding, 0);
            assert_int_equal(c1.layers[i].h_out, 71); /* (144 - 3) / 2 + 1 */
            seen++;
        }
    for (int i = 0; i < c2.n_layers; i++)
        if (strcmp(c2.layers[i].name, "stages.2.0.conv_exp") == 0) {
            assert_int_equal(c2.layers[i].kernel, 5);
            assert_int_equal(c2.layers[i].h_out, 94); /* (192 - 5) / 2 + 1 */
            seen++;
        }
    assert_int_equal(seen, 2);
    assert_true(c1.params > 0 && c2.params > c1.params);
    nas_cost_release(&c1);
    nas_cost_release(&c2);
}

static void test_hand_formulas(void **state) {
    (void)state;
    /* One DW layer with projection + head, from the formulas in models.md G4:
     * c_in 16 -> width 24, r 3 (mid 72), k 5, stride 2, on a 10x10 grey input. */
    nas_arch a = {.resolution = 10, .in_channels = 16, .classes = 5, .bn_eps = 1e-5,
                  .dropout = 0.0, .n_stages = 1};
    a.stages[0] = (nas_stage){NAS_BLOCK_DW, 1, 24, 2, 5, 3.0, NAS_ACT_RELU, false, NAS_PAD_SAME};
    nas_cost c;
    nas_err err;
    assert_int_equal(nas_cost_compute(&a, 0, &c, &err), 0);
    int64_t mid = 72, hw_out = 5 * 5, hw_in = 10 * 10;
    int64_t p_expected = 16 * mid + 2 * mid        /* 1x1 expand + BN */
                         + 25 * mid + 2 * mid      /* depthwise 5x5 + BN */
                         + mid * 24 + 2 * 24       /* 1x1 project + BN */
                         + 16 * 24 + 2 * 24        /* shortcut 1x1 s2 + BN */
                         + 24 * 5 + 5;             /* fc */
    int64_t m_expected = 16 * mid * hw_in + 25 * mid * hw_out + mid * 24 * hw_out +
                         16 * 24 * hw_out + 24 * 5;
    assert_true(c.params == p_expected);
    assert_true(c.macs == m_expected);
    int64_t act = 0;
    for (int i = 0; i < c.n_layers; i++) act += c.layers[i].out_elems;
    assert_true(act == c.activation_elems);
    assert_string_equal(c.layers[c.n_layers - 1].op, "fc");
    assert_string_equal(c.layers[c.n_layers - 2].op, "avgpool");
    nas_cost_release(&c);

    /* An identity-shortcut XX layer has no projection entry; a conv stage never has one. */
    a.in_channels = 24;
    a.stages[0] = (nas_stage){NAS_BLOCK_XX, 2, 24, 1, 3, 1.0, NAS_ACT_RELU, false, NAS_PAD_SAME};
    assert_int_equal(nas_cost_compute(&a, 0, &c, &err), 0);
    for (int i = 0; i < c.n_layers; i++) assert_null(strstr(c.layers[i].name, "shortcut"));
    assert_true(c.params == 2 * (2 * (9 * 24 * 24 + 2 * 24)) + 24 * 5 + 5);
    nas_cost_release(&c);
}

static void test_invalid_arch_rejected(void **state) {
    (void)state;
    nas_arch a;
    nas_err err;
    assert_int_equal(nas_arch_load("gpunet-0", &a, &err), 0);
    nas_cost c;
    /* Too small for GPUNet-0's strides with zero padding. */
    int rc = nas_cost_compute(&a, 8, &c, &err);
    assert_true(rc < 0);
    assert_non_null(strstr(err.msg, "too small"));
    assert_null(c.layers);
    a.stages[3].kernel = 4;
    assert_true(nas_cost_compute(&a, 0, &c, &err) < 0);
    assert_non_null(strstr(err.msg, "stage 3 (fused_irb): kernel 4 must be odd"));
}

static void test_overflow_is_an_error(void **state) {
    (void)state;
    /* Valid IR at its limits: 24 stages of 64 huge layers would overflow the sums. */
    nas_arch a = {.resolution = NAS_ARCH_MAX_RESOLUTION, .in_channels = 3, .classes = 10,
                  .bn_eps = 1e-5, .dropout = 0.0, .n_stages = NAS_ARCH_MAX_STAGES};
    for (int i = 0; i < a.n_stages; i++)
        a.stages[i] = (nas_stage){NAS_BLOCK_XX, NAS_ARCH_MAX_DEPTH, NAS_ARCH_MAX_WIDTH, 1, 15, 4.0,
                                  NAS_ACT_RELU, false, NAS_PAD_SAME};
    nas_err err;
    assert_int_equal(nas_arch_validate(&a, &err), 0);
    nas_cost c;
    assert_int_equal(nas_cost_compute(&a, 0, &c, &err), NAS_ERANGE);
    assert_non_null(strstr(err.msg, "too large to count"));
    assert_null(c.layers);
}

int main(void) {
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_preset_totals),        cmocka_unit_test(test_macs_at_224),
        cmocka_unit_test(test_genet_blocks),         cmocka_unit_test(test_gpunet0_per_layer),
        cmocka_unit_test(test_other_gpunets_consistent), cmocka_unit_test(test_hand_formulas),
        cmocka_unit_test(test_invalid_arch_rejected), cmocka_unit_test(test_overflow_is_an_error),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
