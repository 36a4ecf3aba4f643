/*
 * tests/test_search_strategy.c - the strategy API on a real space (mini),
 * and LLR-NAS through its phases.
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

#include "search/llr.h"
#include "search/strategy.h"

static nas_space *space;

static int setup(void **state) {
    (void)state;
    nas_err err = {0};
    if (nas_space_load("mini", &space, &err)) {
        fprintf(stderr, "%s\n", err.msg);
        return -1;
    }
    return 0;
}

static int teardown(void **state) {
    (void)state;
    nas_space_free(&space);
    return 0;
}

/* A smooth synthetic objective of the architecture. */
static double objective(const nas_arch *a) {
    double s = 0.5;
    for (int i = 0; i < a->n_stages; i++) s += 0.001 * a->stages[i].width + 0.01 * a->stages[i].depth;
    return s > 1 ? 1 : s;
}

static nas_strategy *make(const char *name, const char *yaml, uint64_t seed, nas_cfg **cfg) {
    nas_err err = {0};
    *cfg = NULL;
    if (yaml) assert_int_equal(nas_cfg_load_string(yaml, strlen(yaml), "exp.yaml", cfg, &err), 0);
    nas_strategy_params p = {.space = space, .seed = seed, .budget = 30, .cfg = *cfg,
                             .options = *cfg ? (*cfg)->root : NULL};
    nas_strategy *s = NULL;
    if (nas_strategy_new(name, &p, &s, &err)) fail_msg("%s: %s", name, err.msg);
    assert_string_equal(nas_strategy_name(s), name);
    return s;
}

static void tell(nas_strategy *s, const nas_candidate *c, nas_obs_status st, const char *ckpt) {
    nas_err err = {0};
    nas_observation o = {.arch = &c->arch, .tag = c->tag, .status = st,
                         .objective = objective(&c->arch), .latency_ms = 1.0, .checkpoint = ckpt};
    if (nas_strategy_tell(s, &o, &err)) fail_msg("%s", err.msg);
}

/* Every vector strategy: batches of distinct in-space architectures, never a
 * repeat of a pending or told one, and identical proposals after save/load. */
static void test_vector_strategies(void **state) {
    (void)state;
    const char *names[] = {"random", "evolution", "bo", "lamcts-bo"};
    const char *opts[] = {NULL, "population: 6\nsample: 2\n", "init: 6\ncandidates: 200\n",
                          "init: 6\ncandidates: 200\nleaf_size: 4\n"};
    for (int k = 0; k < 4; k++) {
        nas_cfg *cfg, *cfg2;
        nas_strategy *s = make(names[k], opts[k], 7, &cfg);
        nas_strategy *copy = make(names[k], opts[k], 99, &cfg2);
        uint64_t seen[64];
        int n_seen = 0;
        nas_err err = {0};
        for (int round = 0; round < 4; round++) {
            nas_candidate c[4];
            int n;
            if (nas_strategy_ask(s, 4, c, &n, &err)) fail_msg("%s: %s", names[k], err.msg);
            assert_int_equal(n, 4);
            for (int i = 0; i < n; i++) {
                assert_int_equal(nas_space_contains(space, &c[i].arch, &err), 0);
                uint64_t h = nas_arch_hash(&c[i].arch);
                for (int j = 0; j < n_seen; j++) assert_true(seen[j] != h);
                seen[n_seen++] = h;
            }
            /* three told (one of them infeasible), one left pending */
            for (int i = 0; i < 3; i++) tell(s, &c[i], i == 1 ? NAS_OBS_INFEASIBLE : NAS_OBS_OK, NULL);
            for (int i = 0; i < n; i++) nas_candidate_release(&c[i]);
        }
        char *json;
        assert_int_equal(nas_strategy_save(s, &json, &err), 0);
        if (nas_strategy_load(copy, json, &err)) fail_msg("%s: %s", names[k], err.msg);
        nas_candidate a[3], b[3];
        int na, nb;
        assert_int_equal(nas_strategy_ask(s, 3, a, &na, &err), 0);
        assert_int_equal(nas_strategy_ask(copy, 3, b, &nb, &err), 0);
        assert_int_equal(na, nb);
        for (int i = 0; i < na; i++) assert_true(nas_arch_equal(&a[i].arch, &b[i].arch));
        assert_false(nas_strategy_finished(s));
        free(json);
        nas_strategy_free(&s);
        nas_strategy_free(&copy);
        assert_null(s);
        nas_cfg_free(&cfg);
        nas_cfg_free(&cfg2);
    }
}

/* note_pending (a restart) keeps an architecture from being proposed; state
 * saved by one strategy is refused by another. */
static void test_pending_and_wrong_state(void **state) {
    (void)state;
    nas_cfg *c1, *c2;
    nas_strategy *a = make("random", NULL, 3, &c1);
    nas_strategy *b = make("random", NULL, 3, &c2);
    nas_err err = {0};
    nas_candidate first;
    int n;
    assert_int_equal(nas_strategy_ask(a, 1, &first, &n, &err), 0);
    assert_int_equal(nas_strategy_note_pending(b, &first, &err), 0);
    nas_candidate next;
    assert_int_equal(nas_strategy_ask(b, 1, &next, &n, &err), 0);
    assert_int_equal(n, 1);
    assert_false(nas_arch_equal(&first.arch, &next.arch)); /* same seed, but first is pending */
    char *json;
    assert_int_equal(nas_strategy_save(a, &json, &err), 0);
    nas_cfg *c3;
    nas_strategy *evo = make("evolution", NULL, 3, &c3);
    assert_int_equal(nas_strategy_load(evo, json, &err), NAS_EINVAL);
    assert_non_null(strstr(err.msg, "random"));
    assert_int_equal(nas_strategy_load(evo, "{not json", &err), NAS_EPARSE);
    free(json);
    nas_strategy *bad = NULL;
    nas_strategy_params p = {.space = space, .seed = 1};
    assert_int_equal(nas_strategy_new("annealing", &p, &bad, &err), NAS_EINVAL);
    assert_null(bad);
    nas_strategy_free(&a);
    nas_strategy_free(&b);
    nas_strategy_free(&evo);
    nas_cfg_free(&c1);
    nas_cfg_free(&c2);
    nas_cfg_free(&c3);
}

/* A space of four architectures: each strategy proposes each once, then
 * nothing (distinctness holds when the space runs out). */
static void test_exhausted_space(void **state) {
    (void)state;
    const char *yaml = "in_channels: 1\nclasses: 10\nbn_eps: 1.0e-5\ndropout: 0.0\nresolution: 28\n"
                       "stages:\n"
                       "  - {kind: conv, depth: 1, width: [8, 16], stride: 1, kernel: 3, act: relu}\n"
                       "  - {kind: conv, depth: 1, width: 32, stride: 2, kernel: [3, 5], act: relu}\n";
    nas_err err = {0};
    nas_cfg *doc;
    assert_int_equal(nas_cfg_load_string(yaml, strlen(yaml), "tiny.yaml", &doc, &err), 0);
    nas_space *tiny;
    if (nas_space_from_cfg(doc, doc->root, "tiny", &tiny, &err)) fail_msg("%s", err.msg);
    assert_int_equal(nas_space_dims(tiny), 2);
    const char *names[] = {"random", "evolution", "bo", "lamcts-bo"};
    for (int k = 0; k < 4; k++) {
        nas_strategy_params p = {.space = tiny, .seed = 2};
        nas_strategy *s;
        assert_int_equal(nas_strategy_new(names[k], &p, &s, &err), 0);
        nas_candidate c[6];
        int n, total = 0;
        uint64_t seen[4];
        for (int round = 0; round < 3; round++) {
            assert_int_equal(nas_strategy_ask(s, 2, c, &n, &err), 0);
            for (int i = 0; i < n; i++) {
                uint64_t h = nas_arch_hash(&c[i].arch);
                for (int j = 0; j < total; j++) assert_true(seen[j] != h);
                assert_true(total < 4);
                seen[total++] = h;
                tell(s, &c[i], NAS_OBS_OK, NULL);
            }
        }
        assert_int_equal(total, 4);
        nas_strategy_free(&s);
    }
    nas_space_free(&tiny);
    nas_cfg_free(&doc);
}

/* The pseudo-gradient regression recovers a linear target exactly. */
static void test_llr_regression(void **state) {
    (void)state;
    enum { N = 9 };
    double dd[N], dc[N], y[N], coef[3];
    nas_rng rng;
    nas_rng_seed(&rng, 12);
    for (int j = 0; j < N; j++) {
        dd[j] = (double)((int)nas_rng_below(&rng, 5) - 2);
        dc[j] = (double)((int)nas_rng_below(&rng, 200) - 100);
        y[j] = 0.004 * dd[j] + 0.0001 * dc[j];
    }
    nas_llr_fit(dd, dc, y, N, false, coef);
    assert_true(fabs(coef[0] - 0.004) < 1e-8 && fabs(coef[1] - 0.0001) < 1e-9 && coef[2] == 0);
    for (int j = 0; j < N; j++) y[j] += -0.02; /* another block type: an offset */
    nas_llr_fit(dd, dc, y, N, true, coef);
    assert_true(fabs(coef[0] - 0.004) < 1e-7 && fabs(coef[1] - 0.0001) < 1e-8 &&
                fabs(coef[2] + 0.02) < 1e-7);
    /* every variant at the same depth: the depth slope is not identified and stays 0 */
    for (int j = 0; j < N; j++) {
        dd[j] = 0;
        y[j] = 0.0001 * dc[j];
    }
    nas_llr_fit(dd, dc, y, N, false, coef);
    assert_true(fabs(coef[0]) < 1e-6 && fabs(coef[1] - 0.0001) < 1e-8);
}

static bool has_stage(const char *recipe, int stage) {
    char needle[16];
    snprintf(needle, sizeof needle, "%d", stage);
    const char *t = strstr(recipe, "\"train_only\":[");
    return t && strstr(t, needle) != NULL;
}

/* LLR-NAS: master, then fine-tunes from its checkpoint, then finals; a
 * restarted instance replaying tells and pending jobs resumes mid-phase. */
static void test_llr_phases_and_resume(void **state) {
    (void)state;
    const char *yaml = "masternet: mini-fmnist\nvariants: 2\nsamples: 500\nfinetune_epochs: 1\n";
    nas_cfg *cfg, *cfg2;
    nas_strategy *s = make("llr", yaml, 5, &cfg);
    nas_err err = {0};
    nas_candidate c[256];
    int n;
    assert_int_equal(nas_strategy_ask(s, 8, c, &n, &err), 0);
    assert_int_equal(n, 1);
    assert_string_equal(c[0].tag, "llr:master");
    assert_non_null(strstr(c[0].recipe_json, "save_checkpoint"));
    nas_candidate master = c[0];
    assert_int_equal(nas_strategy_ask(s, 8, c, &n, &err), 0);
    assert_int_equal(n, 0); /* waits for the MasterNet */
    tell(s, &master, NAS_OBS_OK, "/runs/master.safetensors");
    /* fine-tune phase, in two asks; a restarted copy replays the tells */
    nas_candidate ft[256];
    int n_ft = 0;
    assert_int_equal(nas_strategy_ask(s, 5, ft, &n, &err), 0);
    assert_int_equal(n, 5);
    n_ft = n;
    nas_strategy *r = make("llr", yaml, 5, &cfg2);
    tell(r, &master, NAS_OBS_OK, "/runs/master.safetensors");
    for (int i = 0; i < n_ft; i++) assert_int_equal(nas_strategy_note_pending(r, &ft[i], &err), 0);
    int m;
    assert_int_equal(nas_strategy_ask(s, 250, ft + n_ft, &n, &err), 0);
    assert_int_equal(nas_strategy_ask(r, 250, c, &m, &err), 0);
    assert_int_equal(m, n); /* the same remaining plan, nothing already issued */
    for (int i = 0; i < m; i++) {
        assert_string_equal(c[i].tag, ft[n_ft + i].tag);
        nas_candidate_release(&c[i]);
    }
    n_ft += n;
    assert_true(n_ft >= 4);
    nas_strategy_free(&r);
    nas_cfg_free(&cfg2);
    for (int i = 0; i < n_ft; i++) {
        assert_int_equal(strncmp(ft[i].tag, "llr:ft:", 7), 0);
        assert_non_null(strstr(ft[i].recipe_json, "\"init_from\":\"/runs/master.safetensors\""));
        int stage = atoi(ft[i].tag + 7);
        assert_true(has_stage(ft[i].recipe_json, stage));
        assert_non_null(strstr(ft[i].recipe_json, "\"epochs\":1"));
        /* differs from the MasterNet in that stage only */
        for (int k = 0; k < master.arch.n_stages; k++)
            if (k != stage)
                assert_memory_equal(&ft[i].arch.stages[k], &master.arch.stages[k], sizeof(nas_stage));
        assert_false(nas_arch_equal(&ft[i].arch, &master.arch));
    }
    /* state mid-phase round-trips */
    char *json;
    assert_int_equal(nas_strategy_save(s, &json, &err), 0);
    nas_strategy *l2 = make("llr", yaml, 5, &cfg2);
    if (nas_strategy_load(l2, json, &err)) fail_msg("%s", err.msg);
    free(json);
    for (int i = 0; i < n_ft; i++) {
        tell(s, &ft[i], i == 0 ? NAS_OBS_FAILED : NAS_OBS_OK, NULL);
        tell(l2, &ft[i], i == 0 ? NAS_OBS_FAILED : NAS_OBS_OK, NULL);
    }
    nas_candidate fin[4], fin2[4];
    int nf, nf2;
    assert_int_equal(nas_strategy_ask(s, 4, fin, &nf, &err), 0);
    assert_int_equal(nas_strategy_ask(l2, 4, fin2, &nf2, &err), 0);
    assert_int_equal(nf, nf2);
    assert_true(nf >= 1);
    assert_false(nas_strategy_finished(s));
    for (int i = 0; i < nf; i++) {
        assert_int_equal(strncmp(fin[i].tag, "llr:final:", 10), 0);
        assert_true(nas_arch_equal(&fin[i].arch, &fin2[i].arch));
        assert_int_equal(nas_space_contains(space, &fin[i].arch, &err), 0);
        tell(s, &fin[i], NAS_OBS_OK, NULL);
        nas_candidate_release(&fin[i]);
        nas_candidate_release(&fin2[i]);
    }
    assert_true(nas_strategy_finished(s));
    assert_int_equal(nas_strategy_ask(s, 4, fin, &nf, &err), 0);
    assert_int_equal(nf, 0);
    for (int i = 0; i < n_ft; i++) nas_candidate_release(&ft[i]);
    nas_candidate_release(&master);
    nas_strategy_free(&s);
    nas_strategy_free(&l2);
    nas_cfg_free(&cfg);
    nas_cfg_free(&cfg2);
}

static void test_llr_option_errors(void **state) {
    (void)state;
    nas_err err = {0};
    const char *yaml = "masternet: mini-fmnist\nresolutions: [28, 224]\n";
    nas_cfg *cfg;
    assert_int_equal(nas_cfg_load_string(yaml, strlen(yaml), "exp.yaml", &cfg, &err), 0);
    nas_strategy_params p = {.space = space, .seed = 1, .cfg = cfg, .options = cfg->root};
    nas_strategy *s = NULL;
    assert_int_equal(nas_strategy_new("llr", &p, &s, &err), NAS_EINVAL);
    assert_non_null(strstr(err.msg, "exp.yaml:2:"));
    assert_non_null(strstr(err.msg, "224"));
    nas_cfg_free(&cfg);
    p.cfg = NULL;
    p.options = NULL;
    assert_int_equal(nas_strategy_new("llr", &p, &s, &err), NAS_EINVAL);
    assert_non_null(strstr(err.msg, "masternet"));
}

int main(void) {
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_vector_strategies), cmocka_unit_test(test_pending_and_wrong_state),
        cmocka_unit_test(test_exhausted_space),   cmocka_unit_test(test_llr_regression),    cmocka_unit_test(test_llr_phases_and_resume),
        cmocka_unit_test(test_llr_option_errors),
    };
    return cmocka_run_group_tests(tests, setup, teardown);
}
