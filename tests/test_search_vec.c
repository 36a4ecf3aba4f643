/*
 * tests/test_search_vec.c - vector-level driver, random and evolution.
 */
#include <math.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "search/lhs.h"
#include "search/vsearch.h"

static double sphere_value(const double *x, int dims) {
    double s = 0;
    for (int d = 0; d < dims; d++) s += (x[d] - 0.3) * (x[d] - 0.3);
    return -s;
}

static nas_vsearch *make(const char *name, int dims, int budget, const char *yaml, uint64_t seed,
                         nas_cfg **cfg_out) {
    nas_err err = {0};
    nas_cfg *cfg = NULL;
    if (yaml) assert_int_equal(nas_cfg_load_string(yaml, strlen(yaml), "opts.yaml", &cfg, &err), 0);
    nas_vopt_params p = {.dims = dims, .budget = budget, .cfg = cfg, .options = cfg ? cfg->root : NULL};
    nas_vsearch *vs = NULL;
    int rc = nas_vsearch_new(name, &p, seed, &vs, &err);
    if (rc) fail_msg("%s", err.msg);
    *cfg_out = cfg;
    return vs;
}

static void test_lhs_stratified(void **state) {
    (void)state;
    enum { N = 17, D = 5 };
    double pts[N * D];
    nas_rng rng;
    nas_rng_seed(&rng, 7);
    assert_int_equal(nas_lhs(&rng, N, D, pts), 0);
    for (int d = 0; d < D; d++) {
        int count[N] = {0};
        for (int i = 0; i < N; i++) {
            int cell = (int)(pts[i * D + d] * N);
            if (cell == N) cell = N - 1;
            count[cell]++;
        }
        for (int c = 0; c < N; c++) assert_int_equal(count[c], 1);
    }
}

/* Infeasible/failed entries must model below every feasible value. */
static void test_imputation(void **state) {
    (void)state;
    nas_vhist h;
    nas_vhist_init(&h, 1);
    double x = 0.5, y[4];
    assert_int_equal(nas_vhist_add_told(&h, &x, 0.7, NAS_VSTATUS_OK, 1), 0);
    assert_int_equal(nas_vhist_add_told(&h, &x, 99.0, NAS_VSTATUS_INFEASIBLE, 2), 0);
    assert_int_equal(nas_vhist_add_told(&h, &x, 0.9, NAS_VSTATUS_OK, 3), 0);
    assert_int_equal(nas_vhist_add_told(&h, &x, 0.0, NAS_VSTATUS_FAILED, 4), 0);
    assert_int_equal(nas_vhist_model_values(&h, y), 2);
    assert_true(y[1] < 0.7 && y[3] < 0.7);
    assert_true(y[0] == 0.7 && y[2] == 0.9);
    assert_int_equal(nas_vhist_best(&h), 2);
    assert_true(nas_vhist_has_key(&h, 4));
    assert_false(nas_vhist_has_key(&h, 5));
    assert_int_equal(nas_vhist_add_pending(&h, &x, 5), 0);
    assert_true(nas_vhist_has_key(&h, 5));
    assert_true(nas_vhist_remove_pending(&h, 5));
    assert_false(nas_vhist_remove_pending(&h, 5));
    nas_vhist_release(&h);
}

/* The key index (a hash multiset) answers as a scan of the arrays would,
 * through growth, pending -> told moves, repeated keys and colliding keys;
 * and removing pending entries from either end or the middle keeps their
 * order and their points. */
static bool scan_has_key(const nas_vhist *h, uint64_t key) {
    for (int i = 0; i < h->n; i++)
        if (h->key[i] == key) return true;
    for (int i = 0; i < h->n_pending; i++)
        if (h->pending_key[i] == key) return true;
    return false;
}

static void test_key_index_matches_scan(void **state) {
    (void)state;
    nas_vhist h;
    nas_vhist_init(&h, 2);
    nas_rng rng;
    nas_rng_seed(&rng, 7);
    /* shadow of the pending list: removal must keep proposal order, and
     * each point must stay with its key */
    enum { MAX_SHADOW = 5000 };
    uint64_t *shadow = malloc(sizeof *shadow * MAX_SHADOW);
    int n_shadow = 0;
    for (int step = 0; step < 5000; step++) {
        /* small key range: many repeats; multiples of 2^32: equal low bits */
        uint64_t key = nas_rng_below(&rng, 400);
        if (key % 3 == 0) key <<= 32;
        uint64_t r = nas_rng_below(&rng, 10);
        if (r < 4) {
            double x[2] = {(double)key, -(double)key};
            assert_int_equal(nas_vhist_add_pending(&h, x, key), 0);
            shadow[n_shadow++] = key;
        } else if (r < 8 && h.n_pending > 0) {
            int at = (int)nas_rng_below(&rng, (uint64_t)h.n_pending);
            uint64_t k = h.pending_key[at];
            double x[2] = {(double)k, -(double)k};
            assert_true(nas_vhist_remove_pending(&h, k));
            assert_int_equal(nas_vhist_add_told(&h, x, 0.5, NAS_VSTATUS_OK, k), 0);
            for (int i = 0; i < n_shadow; i++) /* the first entry with that key goes */
                if (shadow[i] == k) {
                    memmove(shadow + i, shadow + i + 1, sizeof *shadow * (size_t)(n_shadow - i - 1));
                    n_shadow--;
                    break;
                }
        } else { /* remove a key that may or may not be pending */
            bool was_pending = false;
            for (int i = 0; i < n_shadow; i++) was_pending |= shadow[i] == key;
            assert_int_equal(nas_vhist_remove_pending(&h, key), was_pending);
            for (int i = 0; was_pending && i < n_shadow; i++)
                if (shadow[i] == key) {
                    memmove(shadow + i, shadow + i + 1, sizeof *shadow * (size_t)(n_shadow - i - 1));
                    n_shadow--;
                    break;
                }
        }
        assert_int_equal(h.n_pending, n_shadow);
        for (int i = 0; i < n_shadow; i++) {
            assert_true(h.pending_key[i] == shadow[i]);
            assert_true(h.pending_x[2 * i] == (double)shadow[i] && h.pending_x[2 * i + 1] == -(double)shadow[i]);
        }
        for (uint64_t k = 0; k < 400; k++) {
            uint64_t probe_key = k % 3 == 0 ? k << 32 : k;
            assert_int_equal(nas_vhist_has_key(&h, probe_key), scan_has_key(&h, probe_key));
        }
    }
    assert_true(h.n + h.n_pending > 1000); /* the index grew many times */
    free(shadow);
    nas_vhist_release(&h);
}

/* Runs `steps` sequential evaluations of the sphere through vs. */
static void drive(nas_vsearch *vs, int steps, uint64_t *next_key) {
    nas_err err = {0};
    int dims = nas_vsearch_dims(vs);
    double x[64];
    for (int i = 0; i < steps; i++) {
        if (nas_vsearch_propose(vs, x, &err)) fail_msg("%s", err.msg);
        for (int d = 0; d < dims; d++) assert_true(x[d] >= 0 && x[d] <= 1);
        assert_int_equal(nas_vsearch_add_pending(vs, x, *next_key, &err), 0);
        assert_int_equal(nas_vsearch_tell(vs, x, sphere_value(x, dims), NAS_VSTATUS_OK, *next_key, &err), 0);
        (*next_key)++;
    }
}

/* After save + load into a fresh optimiser, the next proposals are identical. */
static void check_save_load(const char *name, const char *yaml, int warmup) {
    nas_cfg *cfg1, *cfg2;
    enum { D = 4 };
    nas_vsearch *a = make(name, D, 40, yaml, 11, &cfg1);
    nas_vsearch *b = make(name, D, 40, yaml, 999, &cfg2); /* other seed: load must overwrite it */
    uint64_t key = 1;
    drive(a, warmup, &key);
    /* one pending proposal must survive too */
    nas_err err = {0};
    double xp[D];
    assert_int_equal(nas_vsearch_propose(a, xp, &err), 0);
    assert_int_equal(nas_vsearch_add_pending(a, xp, 777, &err), 0);
    cJSON *st = cJSON_CreateObject();
    assert_int_equal(nas_vsearch_save(a, st, &err), 0);
    char *text = cJSON_PrintUnformatted(st);
    cJSON_Delete(st);
    cJSON *parsed = cJSON_Parse(text);
    if (nas_vsearch_load(b, parsed, &err)) fail_msg("%s", err.msg);
    cJSON_Delete(parsed);
    free(text);
    assert_int_equal(nas_vsearch_history(b)->n_pending, 1);
    for (int i = 0; i < 5; i++) {
        double xa[D], xb[D];
        assert_int_equal(nas_vsearch_propose(a, xa, &err), 0);
        assert_int_equal(nas_vsearch_propose(b, xb, &err), 0);
        assert_memory_equal(xa, xb, sizeof xa);
        double v = sphere_value(xa, D);
        assert_int_equal(nas_vsearch_tell(a, xa, v, NAS_VSTATUS_OK, key, &err), 0);
        assert_int_equal(nas_vsearch_tell(b, xb, v, NAS_VSTATUS_OK, key, &err), 0);
        key++;
    }
    nas_vsearch_free(&a);
    nas_vsearch_free(&b);
    nas_cfg_free(&cfg1);
    nas_cfg_free(&cfg2);
}

static void test_random_save_load(void **state) {
    (void)state;
    check_save_load("random", NULL, 7);
    check_save_load("random", "design: uniform\n", 3);
}

static void test_random_deterministic_and_stratified(void **state) {
    (void)state;
    nas_cfg *c1, *c2;
    enum { D = 3, N = 10 };
    nas_vsearch *a = make("random", D, N, NULL, 5, &c1);
    nas_vsearch *b = make("random", D, N, NULL, 5, &c2);
    nas_err err = {0};
    int count[D][N];
    memset(count, 0, sizeof count);
    for (int i = 0; i < N; i++) {
        double xa[D], xb[D];
        assert_int_equal(nas_vsearch_propose(a, xa, &err), 0);
        assert_int_equal(nas_vsearch_propose(b, xb, &err), 0);
        assert_memory_equal(xa, xb, sizeof xa);
        for (int d = 0; d < D; d++) count[d][xa[d] >= 1 ? N - 1 : (int)(xa[d] * N)]++;
    }
    /* the budget is one Latin hypercube block */
    for (int d = 0; d < D; d++)
        for (int c = 0; c < N; c++) assert_int_equal(count[d][c], 1);
    nas_vsearch_free(&a);
    nas_vsearch_free(&b);
}

static void test_unknown_option_is_error(void **state) {
    (void)state;
    nas_err err = {0};
    nas_cfg *cfg = NULL;
    const char *yaml = "design: lhs\ndesgin: uniform\n";
    assert_int_equal(nas_cfg_load_string(yaml, strlen(yaml), "exp.yaml", &cfg, &err), 0);
    nas_vopt_params p = {.dims = 2, .budget = 10, .cfg = cfg, .options = cfg->root};
    nas_vsearch *vs = NULL;
    assert_int_equal(nas_vsearch_new("random", &p, 1, &vs, &err), NAS_EINVAL);
    assert_null(vs);
    assert_non_null(strstr(err.msg, "exp.yaml:2:1"));
    assert_non_null(strstr(err.msg, "desgin"));
    assert_int_equal(nas_vsearch_new("no-such", &p, 1, &vs, &err), NAS_EINVAL);
    nas_cfg_free(&cfg);
}

/* Children of regularised evolution differ from some population member in
 * exactly one coordinate, and the search improves on its random start. */
static void test_evolution_mutates_one_field(void **state) {
    (void)state;
    nas_cfg *cfg;
    enum { D = 6 };
    nas_vsearch *vs = make("evolution", D, 200, "population: 10\nsample: 3\n", 3, &cfg);
    uint64_t key = 1;
    drive(vs, 10, &key);
    nas_err err = {0};
    const nas_vhist *h = nas_vsearch_history(vs);
    double best_initial = h->value[nas_vhist_best(h)];
    for (int step = 0; step < 150; step++) {
        double x[D];
        assert_int_equal(nas_vsearch_propose(vs, x, &err), 0);
        bool one_away = false;
        for (int i = h->n - 10; i < h->n && !one_away; i++) {
            int differ = 0;
            for (int d = 0; d < D; d++) differ += h->x[i * D + d] != x[d];
            one_away = differ <= 1;
        }
        assert_true(one_away);
        assert_int_equal(nas_vsearch_tell(vs, x, sphere_value(x, D), NAS_VSTATUS_OK, key++, &err), 0);
    }
    assert_true(h->value[nas_vhist_best(h)] > best_initial);
    check_save_load("evolution", "population: 8\nsample: 2\n", 12);
    nas_vsearch_free(&vs);
    nas_cfg_free(&cfg);
}

int main(void) {
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_lhs_stratified),
        cmocka_unit_test(test_imputation),
        cmocka_unit_test(test_key_index_matches_scan),
        cmocka_unit_test(test_random_save_load),
        cmocka_unit_test(test_random_deterministic_and_stratified),
        cmocka_unit_test(test_unknown_option_is_error),
        cmocka_unit_test(test_evolution_mutates_one_field),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
