/*
 * tests/test_space.c - search spaces and the [0,1]^D encoding.
 *
 * Property tests over 10,000 random points per shipped space: every decoded
 * point validates and is contained, decode(encode(a)) == a, and encode puts
 * every coordinate at a cell centre. Plus: absent stages, contains messages,
 * clamping, uniform sampling, one-dimension mutation, the mini space's size.
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
#include "space/space.h"

#define PROPERTY_POINTS 10000

static nas_space *load_space(const char *name) {
    nas_space *sp = NULL;
    nas_err err;
    int rc = nas_space_load(name, &sp, &err);
    if (rc) fail_msg("%s: %s", name, err.msg);
    return sp;
}

static int dim_index(const nas_space *sp, const char *name) {
    for (int d = 0; d < nas_space_dims(sp); d++)
        if (strcmp(nas_space_dim_name(sp, d), name) == 0) return d;
    fail_msg("space %s has no dimension %s", nas_space_name(sp), name);
    return -1;
}

/* Field-by-field equality without canonicalising (struct padding may differ). */
static bool same_fields(const nas_arch *a, const nas_arch *b) {
    if (a->resolution != b->resolution || a->n_stages != b->n_stages) return false;
    for (int i = 0; i < a->n_stages; i++) {
        const nas_stage *x = &a->stages[i], *y = &b->stages[i];
        if (x->kind != y->kind || x->depth != y->depth || x->width != y->width ||
            x->stride != y->stride || x->kernel != y->kernel || x->ratio != y->ratio ||
            x->act != y->act || x->se != y->se || x->pad != y->pad)
            return false;
    }
    return true;
}

static void property_check(const char *name) {
    nas_space *sp = load_space(name);
    int D = nas_space_dims(sp);
    assert_true(D > 0 && D <= NAS_SPACE_MAX_DIMS);
    nas_rng rng;
    nas_rng_seed(&rng, 42);
    double x[NAS_SPACE_MAX_DIMS], y[NAS_SPACE_MAX_DIMS];
    for (int t = 0; t < PROPERTY_POINTS; t++) {
        for (int d = 0; d < D; d++) x[d] = nas_rng_uniform(&rng);
        nas_arch a, b;
        nas_err err;
        nas_space_decode(sp, x, &a);
        if (nas_arch_validate(&a, &err)) fail_msg("%s point %d: %s", name, t, err.msg);
        if (nas_space_contains(sp, &a, &err)) fail_msg("%s point %d: %s", name, t, err.msg);
        if (nas_space_encode(sp, &a, y, &err)) fail_msg("%s point %d: %s", name, t, err.msg);
        for (int d = 0; d < D; d++) {
            int k = nas_space_dim_choices(sp, d);
            double cell = y[d] * k - 0.5; /* an integer at a cell centre */
            assert_true(y[d] > 0.0 && y[d] < 1.0);
            assert_true(fabs(cell - nearbyint(cell)) < 1e-9);
        }
        nas_space_decode(sp, y, &b);
        if (!nas_arch_equal(&a, &b)) fail_msg("%s point %d: decode(encode(a)) != a", name, t);
        /* Decoded points are already canonical: canonicalising changes nothing. */
        nas_arch c = a;
        nas_arch_canonicalize(&c);
        assert_true(same_fields(&c, &a));
    }
    nas_space_free(&sp);
    assert_null(sp);
}

static void test_property_genet(void **state) { (void)state; property_check("genet"); }
static void test_property_gpunet(void **state) { (void)state; property_check("gpunet"); }
static void test_property_mini(void **state) { (void)state; property_check("mini"); }

static void test_dimensions(void **state) {
    (void)state;
    nas_space *sp = load_space("gpunet");
    assert_string_equal(nas_space_name(sp), "gpunet");
    int res = dim_index(sp, "resolution");
    assert_int_equal(nas_space_dim_choices(sp, res), 10); /* 224..512 step 32 */
    assert_int_equal(nas_space_dim_choices(sp, dim_index(sp, "stage5.depth")), 16); /* 0..15 */
    assert_int_equal(nas_space_dim_choices(sp, dim_index(sp, "stage6.width")), 10); /* 128..416/32 */
    assert_int_equal(nas_space_dim_choices(sp, dim_index(sp, "stage2.ratio")), 5);
    nas_space_free(&sp);
    sp = load_space("genet");
    assert_int_equal(nas_space_dim_choices(sp, dim_index(sp, "resolution")), 3);
    assert_int_equal(nas_space_dim_choices(sp, dim_index(sp, "stage3.ratio")), 2);
    assert_int_equal(nas_space_dim_choices(sp, dim_index(sp, "stage4.ratio")), 3);
    assert_int_equal(nas_space_dim_choices(sp, dim_index(sp, "stage2.depth")), 4); /* 1..4 */
    for (int d = 0; d < nas_space_dims(sp); d++) assert_true(nas_space_dim_choices(sp, d) >= 2);
    nas_space_free(&sp);
}

static void test_decode_clamps(void **state) {
    (void)state;
    nas_space *sp = load_space("gpunet");
    int D = nas_space_dims(sp);
    double lo[NAS_SPACE_MAX_DIMS], hi[NAS_SPACE_MAX_DIMS], odd[NAS_SPACE_MAX_DIMS];
    for (int d = 0; d < D; d++) {
        lo[d] = -3.0;
        hi[d] = 7.0;
        odd[d] = d % 2 ? NAN : 1.0;
    }
    nas_arch a, b, c;
    nas_err err;
    nas_space_decode(sp, lo, &a);
    nas_space_decode(sp, hi, &b);
    nas_space_decode(sp, odd, &c);
    assert_int_equal(nas_space_contains(sp, &a, &err), 0);
    assert_int_equal(nas_space_contains(sp, &b, &err), 0);
    assert_int_equal(nas_space_contains(sp, &c, &err), 0);
    assert_int_equal(a.resolution, 224);
    assert_int_equal(b.resolution, 512);
    assert_int_equal(a.stages[5].depth, 0); /* the smallest depth of stage 5 */
    assert_int_equal(b.stages[7].depth, 15);
    assert_int_equal(b.stages[7].width, 832);
    nas_space_free(&sp);
}

static void test_absent_stages_canonical(void **state) {
    (void)state;
    nas_space *sp = load_space("gpunet");
    nas_rng rng;
    nas_rng_seed(&rng, 7);
    int found = 0;
    for (int t = 0; t < 2000 && found < 20; t++) {
        nas_arch a;
        nas_space_sample(sp, &rng, &a);
        if (a.stages[5].depth != 0) continue;
        found++;
        /* Fields of an absent stage are pinned, and giving them other values
         * changes neither membership nor the encoding. */
        assert_int_equal(a.stages[5].width, 0);
        nas_arch b = a;
        b.stages[5].width = 160;
        b.stages[5].kernel = 5;
        b.stages[5].se = true;
        nas_err err;
        double xa[NAS_SPACE_MAX_DIMS], xb[NAS_SPACE_MAX_DIMS];
        assert_int_equal(nas_space_encode(sp, &a, xa, &err), 0);
        assert_int_equal(nas_space_encode(sp, &b, xb, &err), 0);
        assert_memory_equal(xa, xb, sizeof(double) * (size_t)nas_space_dims(sp));
        nas_arch back;
        nas_space_decode(sp, xb, &back);
        assert_true(nas_arch_equal(&back, &a));
        assert_true(nas_arch_hash(&back) == nas_arch_hash(&b));
    }
    assert_true(found > 0);
    nas_space_free(&sp);
}

static void test_contains_names_stage_and_field(void **state) {
    (void)state;
    nas_space *sp = load_space("gpunet");
    nas_arch a;
    nas_err err;
    assert_int_equal(nas_arch_load("gpunet-0", &a, &err), 0);
    /* Released GPUNet-0 lies outside the paper's table (stage 4 has 256 filters). */
    assert_int_equal(nas_space_contains(sp, &a, &err), NAS_ERANGE);
    assert_non_null(strstr(err.msg, "stage 4 (irb): width 256 is not in the space (allowed: 96..192 step 16)"));
    double x[NAS_SPACE_MAX_DIMS];
    assert_true(nas_space_encode(sp, &a, x, &err) < 0);
    assert_non_null(strstr(err.msg, "stage 4 (irb): width 256"));
    a.resolution = 300;
    assert_true(nas_space_contains(sp, &a, &err) < 0);
    assert_non_null(strstr(err.msg, "resolution 300 is not in the space (allowed: 224..512 step 32)"));
    nas_arch g;
    assert_int_equal(nas_arch_load("genet-light", &g, &err), 0);
    assert_true(nas_space_contains(sp, &g, &err) < 0);
    assert_non_null(strstr(err.msg, "7 stages; space 'gpunet' has 9"));
    nas_space_free(&sp);

    /* GENet-normal is the MasterNet of the genet space, so it is inside. */
    sp = load_space("genet");
    nas_arch n;
    assert_int_equal(nas_arch_load("genet-normal", &n, &err), 0);
    assert_int_equal(nas_space_contains(sp, &n, &err), 0);
    n.stages[3].ratio = 0.75;
    assert_true(nas_space_contains(sp, &n, &err) < 0);
    assert_non_null(strstr(err.msg, "stage 3 (bl): ratio 0.75 is not in the space (allowed: 0.25, 0.5)"));
    n.stages[3].ratio = 0.25;
    n.stages[1].kind = NAS_BLOCK_BL;
    n.stages[1].ratio = 0.25;
    assert_true(nas_space_contains(sp, &n, &err) < 0);
    assert_non_null(strstr(err.msg, "stage 1 (bl): kind bl is not in the space (allowed: xx)"));
    nas_space_free(&sp);
}

static void test_sample_uniform(void **state) {
    (void)state;
    nas_space *sp = load_space("genet");
    nas_rng rng;
    nas_rng_seed(&rng, 123);
    int counts[3] = {0, 0, 0};
    const int n = 6000;
    for (int t = 0; t < n; t++) {
        nas_arch a;
        nas_space_sample(sp, &rng, &a);
        int ratio = (int)a.stages[4].ratio; /* {3, 6, 9} */
        assert_true(ratio == 3 || ratio == 6 || ratio == 9);
        counts[ratio / 3 - 1]++;
    }
    for (int i = 0; i < 3; i++) assert_true(abs(counts[i] - n / 3) < n / 3 / 10);
    /* Same seed, same samples. */
    nas_rng r1, r2;
    nas_rng_seed(&r1, 99);
    nas_rng_seed(&r2, 99);
    for (int t = 0; t < 20; t++) {
        nas_arch a, b;
        nas_space_sample(sp, &r1, &a);
        nas_space_sample(sp, &r2, &b);
        assert_true(nas_arch_equal(&a, &b));
    }
    nas_space_free(&sp);
}

static void test_mutate_moves_one_dimension(void **state) {
    (void)state;
    nas_space *sp = load_space("genet"); /* no absent stages: exactly one coordinate moves */
    int D = nas_space_dims(sp);
    nas_rng rng;
    nas_rng_seed(&rng, 5);
    for (int t = 0; t < 500; t++) {
        nas_arch a, b;
        nas_err err;
        nas_space_sample(sp, &rng, &a);
        nas_space_mutate(sp, &rng, &a, &b);
        assert_int_equal(nas_space_contains(sp, &b, &err), 0);
        assert_false(nas_arch_equal(&a, &b));
        double xa[NAS_SPACE_MAX_DIMS], xb[NAS_SPACE_MAX_DIMS];
        assert_int_equal(nas_space_encode(sp, &a, xa, &err), 0);
        assert_int_equal(nas_space_encode(sp, &b, xb, &err), 0);
        int moved = 0;
        for (int d = 0; d < D; d++) moved += xa[d] != xb[d];
        assert_int_equal(moved, 1);
    }
    nas_space_free(&sp);
    /* With absent stages a mutation still always changes the network. */
    sp = load_space("gpunet");
    for (int t = 0; t < 500; t++) {
        nas_arch a, b;
        nas_err err;
        nas_space_sample(sp, &rng, &a);
        nas_space_mutate(sp, &rng, &a, &b);
        assert_int_equal(nas_space_contains(sp, &b, &err), 0);
        assert_false(nas_arch_equal(&a, &b));
    }
    nas_space_free(&sp);
}

static void test_mini_is_small(void **state) {
    (void)state;
    nas_space *sp = load_space("mini");
    nas_rng rng;
    nas_rng_seed(&rng, 11);
    double ones[NAS_SPACE_MAX_DIMS];
    for (int d = 0; d < nas_space_dims(sp); d++) ones[d] = 1.0;
    for (int t = 0; t <= 2000; t++) {
        nas_arch a;
        if (t == 0)
            nas_space_decode(sp, ones, &a); /* the widest, deepest corner */
        else
            nas_space_sample(sp, &rng, &a);
        assert_int_equal(a.in_channels, 1);
        assert_int_equal(a.classes, 10);
        assert_int_equal(a.resolution, 28);
        nas_cost c;
        nas_err err;
        assert_int_equal(nas_cost_compute(&a, 0, &c, &err), 0);
        if (c.params > 1000000) fail_msg("a mini network has %lld params", (long long)c.params);
        if (c.macs > 50000000) fail_msg("a mini network has %lld MACs", (long long)c.macs);
        nas_cost_release(&c);
    }
    nas_space_free(&sp);
}

int main(void) {
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_property_genet),
        cmocka_unit_test(test_property_gpunet),
        cmocka_unit_test(test_property_mini),
        cmocka_unit_test(test_dimensions),
        cmocka_unit_test(test_decode_clamps),
        cmocka_unit_test(test_absent_stages_canonical),
        cmocka_unit_test(test_contains_names_stage_and_field),
        cmocka_unit_test(test_sample_uniform),
        cmocka_unit_test(test_mutate_moves_one_dimension),
        cmocka_unit_test(test_mini_is_small),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
