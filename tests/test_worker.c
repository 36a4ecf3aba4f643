/*
 * tests/test_worker.c - the sim evaluator and the job runner: the documented
 * accuracy and latency formulas, determinism per architecture, failures and
 * crashes in the child process becoming job failures, and the registry.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include <math.h>
#include <string.h>
#include <unistd.h>

#include "worker/eval_sim.h"
#include "worker/runner.h"

static nas_arch preset(const char *name) {
    nas_arch a;
    nas_err err;
    if (nas_arch_load(name, &a, &err)) fail_msg("%s", err.msg);
    return a;
}

static void test_formulas(void **state) {
    (void)state;
    nas_arch light = preset("genet-light"), large = preset("genet-large");
    nas_cost cl, cg;
    nas_err err;
    assert_int_equal(nas_cost_compute(&light, 0, &cl, &err), 0);
    assert_int_equal(nas_cost_compute(&large, 0, &cg, &err), 0);
    /* the formula by hand for genet-light */
    int layers = 0;
    for (int i = 0; i < light.n_stages; i++) layers += light.stages[i].depth;
    double expect = 0.30 + 0.62 *
                               (0.5 * (1 - exp(-(double)cl.macs / 3e8)) + 0.3 * (1 - exp(-(double)cl.params / 5e6)) +
                                0.2 * (1 - exp(-layers / 16.0))) *
                               pow(fmin(1.0, light.resolution / 224.0), 0.25);
    assert_true(fabs(nas_sim_top1_clean(&light, &cl) - expect) < 1e-12);
    /* a bigger network is more accurate and slower */
    assert_true(nas_sim_top1_clean(&large, &cg) > nas_sim_top1_clean(&light, &cl));
    double l1, l64, g1, f32;
    assert_int_equal(nas_sim_latency_ms(&cl, "a100", 1, "fp16", &l1, &err), 0);
    assert_int_equal(nas_sim_latency_ms(&cl, "a100", 64, "fp16", &l64, &err), 0);
    assert_int_equal(nas_sim_latency_ms(&cg, "a100", 1, "fp16", &g1, &err), 0);
    assert_int_equal(nas_sim_latency_ms(&cl, "a100", 1, "fp32", &f32, &err), 0);
    assert_true(l64 > l1 && g1 > l1 && f32 >= l1);
    assert_int_equal(nas_sim_latency_ms(&cl, "tpu", 1, "fp16", &l1, &err), NAS_EINVAL);
    assert_int_equal(nas_sim_latency_ms(&cl, "a100", 1, "int8", &l1, &err), NAS_EINVAL);
    nas_cost_release(&cl);
    nas_cost_release(&cg);
}

/* Runs one job through the runner (a real child process) to its end. */
static int run_job(const char *options, nas_job_kind kind, int64_t job_id, int attempt, nas_eval_result *out,
                   bool *retryable, nas_err *err) {
    nas_arch a = preset("genet-light");
    nas_eval_job job = {.job_id = job_id, .attempt = attempt, .kind = kind, .arch = &a,
                        .recipe_json = "{\"latency_batches\":[1,8],\"latency_precision\":\"fp16\"}", .work_dir = "."};
    nas_runner *r = NULL;
    const nas_evaluator_ops *ops = nas_evaluator_find("sim", err);
    assert_non_null(ops);
    assert_int_equal(nas_runner_start(ops, options, &job, -1, &r, err), 0);
    while (!nas_runner_poll(r)) usleep(1000);
    int rc = nas_runner_outcome(r, out, retryable, err);
    nas_runner_free(&r);
    return rc;
}

static void test_runner_results_are_deterministic(void **state) {
    (void)state;
    nas_eval_result a, b;
    bool retry;
    nas_err err;
    assert_int_equal(run_job("{\"noise\":0.02,\"seed\":4}", NAS_JOB_TRAIN, 1, 1, &a, &retry, &err), 0);
    assert_int_equal(run_job("{\"noise\":0.02,\"seed\":4}", NAS_JOB_TRAIN, 2, 3, &b, &retry, &err), 0);
    assert_true(a.simulated && a.has_accuracy);
    assert_string_equal(a.device, "sim:a100");
    assert_true(a.top1 == b.top1); /* same architecture and seed: same accuracy, any job or attempt */
    assert_true(a.top5 >= a.top1);
    assert_int_equal(a.n_latency, 2);
    assert_int_equal(a.latency[1].batch, 8);
    assert_string_equal(a.latency[0].precision, "fp16");
    assert_true(a.params > 0 && a.macs > 0);
    nas_eval_result m;
    assert_int_equal(run_job(NULL, NAS_JOB_MEASURE, 3, 1, &m, &retry, &err), 0);
    assert_false(m.has_accuracy);
    assert_int_equal(m.n_latency, 2);
}

static void test_runner_failures(void **state) {
    (void)state;
    nas_eval_result r;
    bool retry = false;
    nas_err err = {0};
    assert_true(run_job("{\"failure_rate\":1}", NAS_JOB_TRAIN, 1, 1, &r, &retry, &err) < 0);
    assert_true(retry);
    assert_non_null(strstr(err.msg, "simulated failure"));
    /* a crash of the job process is that job's (retryable) failure, naming the signal */
    assert_true(run_job("{\"crash_rate\":1}", NAS_JOB_TRAIN, 1, 1, &r, &retry, &err) < 0);
    assert_true(retry);
    assert_non_null(strstr(err.msg, "signal"));
    /* bad options are final */
    assert_true(run_job("{\"device\":\"tpu\"}", NAS_JOB_TRAIN, 1, 1, &r, &retry, &err) < 0);
    assert_false(retry);
    assert_non_null(strstr(err.msg, "tpu"));
}

static void test_registry(void **state) {
    (void)state;
    nas_err err = {0};
    assert_ptr_equal(nas_evaluator_find("sim", &err), &nas_eval_sim_ops);
    assert_null(nas_evaluator_find("quantum", &err));
    assert_non_null(strstr(err.msg, "unknown backend"));
    const nas_evaluator_ops *cuda = nas_evaluator_find("cuda", &err);
    if (!cuda) assert_non_null(strstr(err.msg, "not built"));
    assert_false(nas_eval_error_retryable(NAS_EINVAL));
    assert_false(nas_eval_error_retryable(NAS_EOOM_DEVICE));
    assert_true(nas_eval_error_retryable(NAS_EIO));
}

int main(void) {
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_formulas),
        cmocka_unit_test(test_runner_results_are_deterministic),
        cmocka_unit_test(test_runner_failures),
        cmocka_unit_test(test_registry),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
