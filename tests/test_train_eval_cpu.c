/*
 * tests/test_train_eval_cpu.c - the worker's `cpu` evaluator (worker/eval_cpu.c)
 * running real train and measure jobs on a tiny network and the synthetic set.
 */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <cmocka.h>

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "tests/train_fixtures.h"
#include "worker/evaluator.h"

extern const nas_evaluator_ops nas_eval_cpu_ops;

typedef struct progress_seen {
    int calls;
    double last_fraction;
} progress_seen;

static void on_progress(void *ctx, double fraction, double loss) {
    progress_seen *p = ctx;
    assert_true(fraction >= p->last_fraction && fraction <= 1.0);
    assert_true(loss >= 0);
    p->last_fraction = fraction;
    p->calls++;
}

static void test_train_job(void **state) {
    (void)state;
    char dir[] = "/tmp/nas_test_eval_cpu_XXXXXX";
    assert_non_null(mkdtemp(dir));
    void *self = NULL;
    nas_err err = {0};
    assert_string_equal(nas_eval_cpu_ops.name, "cpu");
    assert_int_equal(nas_eval_cpu_ops.create("{\"threads\": 1}", &self, &err), 0);
    nas_arch a = tiny_arch(8, 16, 16);
    nas_eval_job job = {.job_id = 7, .attempt = 2, .kind = NAS_JOB_TRAIN, .arch = &a,
                        .recipe_json = "{\"dataset\": \"synthetic:600\", \"epochs\": 2, \"batch\": 32, "
                                       "\"latency_batches\": [1, 4], \"save_checkpoint\": true, "
                                       "\"label_smoothing\": 0}",
                        .work_dir = dir};
    nas_eval_result r;
    progress_seen seen = {0};
    if (nas_eval_cpu_ops.run(self, &job, on_progress, &seen, &r, &err)) fail_msg("%s", err.msg);
    print_message("cpu evaluator: top-1 %.3f top-5 %.3f loss %.3f, %d progress calls, latency b1 %.3f ms\n",
                  r.top1, r.top5, r.loss, seen.calls, r.latency[0].mean_ms);
    assert_true(r.has_accuracy);
    assert_false(r.simulated);
    assert_true(r.top1 > 0.5); /* chance is 0.1 */
    assert_true(r.top5 >= r.top1);
    assert_true(seen.calls > 0);
    assert_float_equal(seen.last_fraction, 1.0, 1e-9);
    assert_int_equal(r.n_latency, 2);
    assert_int_equal(r.latency[1].batch, 4);
    assert_string_equal(r.latency[1].precision, "fp32");
    assert_true(r.latency[0].mean_ms > 0 && r.latency[0].p50_ms <= r.latency[0].p90_ms);
    assert_true(r.params > 0 && r.macs > 0);
    assert_true(r.train_seconds > 0);
    assert_non_null(strstr(r.device, "cpu"));
    char want[128];
    snprintf(want, sizeof want, "%s/job-7-attempt-2.safetensors", dir);
    assert_string_equal(r.checkpoint, want);
    assert_int_equal(access(want, R_OK), 0);
    unlink(want);
    rmdir(dir);
    nas_eval_cpu_ops.destroy(self);
}

static void test_measure_job_and_errors(void **state) {
    (void)state;
    void *self = NULL;
    nas_err err = {0};
    assert_int_equal(nas_eval_cpu_ops.create(NULL, &self, &err), 0);
    nas_arch a = tiny_arch(8, 16, 16);
    /* A measure job never reads data: a missing data set does not matter. */
    nas_eval_job job = {.job_id = 1, .kind = NAS_JOB_MEASURE, .arch = &a,
                        .recipe_json = "{\"dataset\": \"idx:/nonexistent\", \"latency_batches\": [2]}"};
    nas_eval_result r;
    if (nas_eval_cpu_ops.run(self, &job, NULL, NULL, &r, &err)) fail_msg("%s", err.msg);
    assert_false(r.has_accuracy);
    assert_int_equal(r.n_latency, 1);
    assert_true(r.latency[0].mean_ms > 0);
    /* Half precision on a CPU is a final error. */
    job.recipe_json = "{\"latency_precision\": \"fp16\"}";
    assert_int_equal(nas_eval_cpu_ops.run(self, &job, NULL, NULL, &r, &err), NAS_EINVAL);
    assert_non_null(strstr(err.msg, "fp32 only"));
    job.kind = NAS_JOB_TRAIN;
    job.recipe_json = "{\"precision\": \"bf16\"}";
    assert_int_equal(nas_eval_cpu_ops.run(self, &job, NULL, NULL, &r, &err), NAS_EINVAL);
    job.recipe_json = "{\"dataset\": \"idx:/nonexistent\", \"epochs\": 1}";
    assert_int_equal(nas_eval_cpu_ops.run(self, &job, NULL, NULL, &r, &err), NAS_ENOTFOUND);
    assert_non_null(strstr(err.msg, "job 1"));
    nas_eval_cpu_ops.destroy(self);
    assert_int_equal(nas_eval_cpu_ops.create("{\"threads\": -1}", &self, &err), NAS_EINVAL);
    assert_int_equal(nas_eval_cpu_ops.create("[]", &self, &err), NAS_EPARSE);
}

int main(void) {
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_train_job),
        cmocka_unit_test(test_measure_job_and_errors),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
