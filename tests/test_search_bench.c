/*
 * tests/test_search_bench.c - the bench-search driver on tiny budgets.
 */
#include <math.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>

#include <cmocka.h>

#include "search/bench.h"

/* Every strategy, sequential and with 4 pending proposals: best-so-far is
 * monotone, finite, and no better than the true minimum 0; the same seed
 * gives the same result. */
static void test_bench_smoke(void **state) {
    (void)state;
    const char *names[] = {"random", "evolution", "bo", "lamcts-bo"};
    const char *yaml = "bo: {init: 6, candidates: 100}\nlamcts-bo: {init: 6, candidates: 100, leaf_size: 4}\n";
    nas_err err = {0};
    nas_cfg *cfg;
    assert_int_equal(nas_cfg_load_string(yaml, strlen(yaml), "opts", &cfg, &err), 0);
    const nas_testfunc *tf = nas_testfunc_find("ackley");
    for (int k = 0; k < 4; k++) {
        for (int w = 1; w <= 4; w += 3) {
            nas_bench_result r = {0}, again = {0};
            const nas_cfg_node *o = nas_cfg_get(cfg->root, names[k]);
            if (nas_bench_run(names[k], tf, 3, 16, w, 5, cfg, o, &r, &err)) fail_msg("%s", err.msg);
            assert_true(isfinite(r.best_final) && r.best_final >= 0);
            assert_true(r.best_final <= r.best_half && r.best_half <= r.best_quarter);
            assert_true(r.ms_per_proposal >= 0 && r.cpu_ms_per_proposal >= 0);
            assert_int_equal(nas_bench_run(names[k], tf, 3, 16, w, 5, cfg, o, &again, &err), 0);
            assert_true(again.best_final == r.best_final);
        }
    }
    nas_bench_result r;
    assert_int_equal(nas_bench_run("random", tf, 0, 16, 1, 5, NULL, NULL, &r, &err), NAS_EINVAL);
    assert_int_equal(nas_bench_run("nope", tf, 2, 16, 1, 5, NULL, NULL, &r, &err), NAS_EINVAL);
    nas_cfg_free(&cfg);
}

int main(void) {
    const struct CMUnitTest tests[] = {cmocka_unit_test(test_bench_smoke)};
    return cmocka_run_group_tests(tests, NULL, NULL);
}
