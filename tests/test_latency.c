/*
 * tests/test_latency.c - the trimmed-mean latency statistic and the timing
 * loop on a small network (CPU backend).
 */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <cmocka.h>

#include <math.h>
#include <string.h>

#include "tests/train_fixtures.h"
#include "trainer/backend.h"
#include "trainer/graph.h"
#include "trainer/latency.h"

static void test_summary_of_a_ramp(void **state) {
    (void)state;
    /* 30 timings 30, 29, ..., 1 (unsorted on purpose). Trimming 3 from each end
     * keeps 4..27, whose mean is 15.5; median of 1..30 is 15.5; the 0.9 quantile
     * sits at rank 0.9 * 29 = 26.1, between 27 and 28: 27.1. */
    double ms[30], copy[30];
    for (int i = 0; i < 30; i++) ms[i] = 30 - i;
    memcpy(copy, ms, sizeof ms);
    nas_latency_summary s;
    nas_err err = {0};
    assert_int_equal(nas_latency_summarize(ms, 30, &s, &err), 0);
    assert_memory_equal(ms, copy, sizeof ms); /* input untouched */
    assert_int_equal(s.runs, 30);
    assert_int_equal(s.kept, 24);
    assert_float_equal(s.mean_ms, 15.5, 1e-12);
    assert_float_equal(s.p50_ms, 15.5, 1e-12);
    assert_float_equal(s.p90_ms, 27.1, 1e-12);
    assert_float_equal(s.min_ms, 1, 0);
    assert_float_equal(s.max_ms, 30, 0);
}

static void test_trimming_removes_outliers(void **state) {
    (void)state;
    /* 27 runs of 2 ms, one of 0.5 ms and two of 100 ms (a preempted run):
     * the 3 dropped from each end take all outliers, so the mean is 2. */
    double ms[30];
    for (int i = 0; i < 30; i++) ms[i] = 2.0;
    ms[4] = 100;
    ms[17] = 100;
    ms[9] = 0.5;
    nas_latency_summary s;
    nas_err err = {0};
    assert_int_equal(nas_latency_summarize(ms, 30, &s, &err), 0);
    assert_float_equal(s.mean_ms, 2.0, 1e-12);
    assert_float_equal(s.p50_ms, 2.0, 1e-12);
    /* fewer than 10 runs trims nothing */
    double few[3] = {1, 2, 6};
    assert_int_equal(nas_latency_summarize(few, 3, &s, &err), 0);
    assert_int_equal(s.kept, 3);
    assert_float_equal(s.mean_ms, 3.0, 1e-12);
    assert_float_equal(s.p50_ms, 2.0, 1e-12);
}

static void test_summary_rejects_bad_input(void **state) {
    (void)state;
    nas_latency_summary s;
    nas_err err = {0};
    double bad[2] = {1.0, NAN};
    assert_int_equal(nas_latency_summarize(bad, 0, &s, &err), NAS_EINVAL);
    assert_int_equal(nas_latency_summarize(bad, 2, &s, &err), NAS_EINVAL);
    assert_non_null(strstr(err.msg, "timing 1"));
}

static void test_measure_small_net(void **state) {
    (void)state;
    nas_err err = {0};
    nas_backend *be = NULL;
    nas_net *net = NULL;
    assert_int_equal(nas_backend_cpu_new(1, &be, &err), 0);
    nas_arch a = tiny_arch(8, 16, 32);
    assert_int_equal(nas_net_new(&a, be, 4, 1, &net, &err), 0);
    nas_latency_summary s;
    if (nas_latency_measure(net, 4, 2, 12, &s, &err) != 0) fail_msg("%s", err.msg);
    assert_int_equal(s.runs, 12);
    assert_int_equal(s.kept, 10);
    assert_true(s.min_ms > 0);
    assert_true(s.min_ms <= s.p50_ms && s.p50_ms <= s.p90_ms && s.p90_ms <= s.max_ms);
    assert_true(s.mean_ms >= s.min_ms && s.mean_ms <= s.max_ms);
    assert_int_equal(nas_latency_measure(net, 5, 0, 0, &s, &err), NAS_EINVAL);
    assert_non_null(strstr(err.msg, "[1, 4]"));
    nas_net_free(&net);
    nas_backend_free(&be);
}

int main(void) {
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_summary_of_a_ramp),
        cmocka_unit_test(test_trimming_removes_outliers),
        cmocka_unit_test(test_summary_rejects_bad_input),
        cmocka_unit_test(test_measure_small_net),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
