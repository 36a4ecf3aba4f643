/*
 * tests/test_search_trust.c - the TuRBO-style trust region of lamcts-bo
 * (search/trust.h): the length rule replayed over a history, the side
 * weights, the box, and lamcts-bo proposing inside the box when every
 * candidate comes from it.
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

#include "search/trust.h"
#include "search/vsearch.h"

static const nas_trust_options opts = {
    .length_init = 0.8, .length_min = 0.1, .length_max = 1.6, .succ_tol = 3, .fail_tol = 4};

/* Successes double L every succ_tol in a row, failures halve it every
 * fail_tol in a row, and below length_min it restarts at length_init. */
static void test_length_rule(void **state) {
    (void)state;
    double v[64];
    /* the initial design (first 5) only sets the best; then 3 improvements */
    for (int i = 0; i < 5; i++) v[i] = i;
    for (int i = 5; i < 8; i++) v[i] = 10 + i;
    assert_true(fabs((nas_trust_length(v, 5, 5, &opts)) - (0.8)) < 1e-12);
    assert_true(fabs((nas_trust_length(v, 7, 5, &opts)) - (0.8)) < 1e-12);
    assert_true(fabs((nas_trust_length(v, 8, 5, &opts)) - (1.6)) < 1e-12);
    /* 3 more improvements: capped at length_max */
    for (int i = 8; i < 11; i++) v[i] = 10 + i;
    assert_true(fabs((nas_trust_length(v, 11, 5, &opts)) - (1.6)) < 1e-12);
    /* failures: 4 in a row halve, a success in between resets the count */
    for (int i = 11; i < 64; i++) v[i] = 0;
    assert_true(fabs((nas_trust_length(v, 14, 5, &opts)) - (1.6)) < 1e-12);
    assert_true(fabs((nas_trust_length(v, 15, 5, &opts)) - (0.8)) < 1e-12);
    v[15] = 100; /* improvement: failure count starts over */
    assert_true(fabs((nas_trust_length(v, 19, 5, &opts)) - (0.8)) < 1e-12);
    assert_true(fabs((nas_trust_length(v, 20, 5, &opts)) - (0.4)) < 1e-12);
    /* 0.4 -> 0.2 -> 0.1 -> 0.05 < min: restart at 0.8 */
    assert_true(fabs((nas_trust_length(v, 24, 5, &opts)) - (0.2)) < 1e-12);
    assert_true(fabs((nas_trust_length(v, 28, 5, &opts)) - (0.1)) < 1e-12);
    assert_true(fabs((nas_trust_length(v, 32, 5, &opts)) - (0.8)) < 1e-12);
    /* a gain below 1e-3 |best| is not a success */
    double w[8] = {100, 100.05, 100.05, 100.05, 100.05};
    assert_true(fabs((nas_trust_length(w, 5, 1, &opts)) - (0.4)) < 1e-12);
}

/* Weights follow the length-scales and have geometric mean 1; points stay in
 * the clipped box. */
static void test_weights_and_box(void **state) {
    (void)state;
    enum { D = 3 };
    double log_ls[D] = {log(0.1), log(0.4), log(1.6)}, w[D];
    nas_trust_weights(log_ls, D, w);
    assert_true(fabs((w[0] * w[1] * w[2]) - (1.0)) < 1e-12);
    assert_true(fabs((w[1] / w[0]) - (4.0)) < 1e-12);
    assert_true(fabs((w[2] / w[1]) - (4.0)) < 1e-12);
    nas_rng rng;
    nas_rng_seed(&rng, 3);
    double centre[D] = {0.05, 0.5, 0.9}, lo[D] = {1, 1, 1}, hi[D] = {0, 0, 0};
    for (int i = 0; i < 2000; i++) {
        double x[D];
        nas_trust_point(centre, 0.2, w, 1.0, D, &rng, x);
        for (int d = 0; d < D; d++) {
            double half = 0.1 * w[d];
            assert_true(x[d] >= fmax(0, centre[d] - half) && x[d] <= fmin(1, centre[d] + half));
            lo[d] = fmin(lo[d], x[d]);
            hi[d] = fmax(hi[d], x[d]);
        }
    }
    /* the box is filled: extremes near the clipped edges */
    for (int d = 0; d < D; d++) {
        double half = 0.1 * w[d];
        assert_true(lo[d] < fmax(0, centre[d] - half) + 0.02 * half + 1e-9);
        assert_true(hi[d] > fmin(1, centre[d] + half) - 0.02 * half - 1e-9);
    }
}

/* perturb 0 moves exactly one coordinate; perturb 0.25 in 20-d moves one
 * forced plus a quarter of the other 19 on average. */
static void test_perturb(void **state) {
    (void)state;
    enum { D = 20, N = 4000 };
    double centre[D], w[D], x[D];
    for (int d = 0; d < D; d++) centre[d] = 0.5, w[d] = 1.0;
    nas_rng rng;
    nas_rng_seed(&rng, 11);
    for (int i = 0; i < 200; i++) {
        nas_trust_point(centre, 0.5, w, 0.0, D, &rng, x);
        int moved = 0;
        for (int d = 0; d < D; d++) moved += x[d] != centre[d];
        assert_int_equal(moved, 1);
    }
    long moved = 0;
    for (int i = 0; i < N; i++) {
        nas_trust_point(centre, 0.5, w, 0.25, D, &rng, x);
        for (int d = 0; d < D; d++) moved += x[d] != centre[d];
    }
    double mean = (double)moved / N, want = 1 + 0.25 * (D - 1);
    assert_true(fabs(mean - want) < 0.1); /* sd of the mean ~ 0.03 */
}

/* With every candidate from a small trust region (tr_fraction 1, two failures
 * halving it, no L-BFGS refinement), lamcts-bo's later proposals stay close to the
 * best point told so far; the official sampler alone (tr_fraction 0) does not
 * keep them that close. */
static double max_late_distance(const char *yaml) {
    enum { D = 4 };
    nas_err err = {0};
    nas_cfg *cfg;
    assert_int_equal(nas_cfg_load_string(yaml, strlen(yaml), "t.yaml", &cfg, &err), 0);
    nas_vopt_params p = {.dims = D, .budget = 40, .cfg = cfg, .options = cfg->root};
    nas_vsearch *vs;
    if (nas_vsearch_new("lamcts-bo", &p, 5, &vs, &err)) fail_msg("%s", err.msg);
    double x[D], best_x[D] = {0}, best = -INFINITY, far = 0;
    for (int i = 0; i < 40; i++) {
        if (nas_vsearch_propose(vs, x, &err)) fail_msg("%s", err.msg);
        if (i >= 30) { /* L <= 0.8 / 2^5 by now: the box side is small */
            double dist = 0;
            for (int d = 0; d < D; d++) dist = fmax(dist, fabs(x[d] - best_x[d]));
            far = fmax(far, dist);
        }
        /* only the initial design's points differ (a bowl), then all are bad */
        double f = -10.0;
        for (int d = 0; i < 10 && d < D; d++) f += 10.0 - (x[d] - 0.7) * (x[d] - 0.7) / D;
        if (f > best) {
            best = f;
            memcpy(best_x, x, sizeof x);
        }
        assert_int_equal(nas_vsearch_tell(vs, x, f, NAS_VSTATUS_OK, (uint64_t)i + 1, &err), 0);
    }
    nas_vsearch_free(&vs);
    nas_cfg_free(&cfg);
    return far;
}

static void test_lamcts_bo_trust_region(void **state) {
    (void)state;
    double trust = max_late_distance("init: 10\nleaf_size: 50\ncandidates: 200\n"
                                     "tr_fraction: 1\ntr_fail_tol: 2\ntr_length_min: 1e-6\nlocal_starts: 0\n");
    double plain = max_late_distance("init: 10\nleaf_size: 50\ncandidates: 200\n"
                                     "tr_fraction: 0\nlocal_starts: 0\n");
    /* 20 failures by step 30 halve L ten times: L <= 0.8 / 1024, and a side
     * weight is at most (2 / 0.005)^(3/4) < 90 in 4-d (the GP's length-scale
     * bounds), so every later point is within 0.04 of the best one */
    assert_true(trust < 0.04);
    assert_true(plain > 0.1);
}

int main(void) {
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_length_rule),
        cmocka_unit_test(test_weights_and_box),
        cmocka_unit_test(test_perturb),
        cmocka_unit_test(test_lamcts_bo_trust_region),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
