/*
 * tests/test_cuda_eval.c - the worker's `cuda` evaluator (worker/eval_cuda.c).
 *
 * Here (any machine): option validation and the clean refusal when no GPU is
 * visible, which must be NAS_EUNSUPPORTED (a final failure: retrying on the
 * same worker cannot help) with a sentence that says what to check.
 * On a GPU: a real measure job (BN folded, CUDA graph, 30 timed runs) of
 * genet-light at batch 1 and 8, in fp16 by default (the recipe names no
 * latency_precision).
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>

#include <cmocka.h>

#include "space/arch.h"
#include "trainer/cuda/cuda_backend.h"
#include "worker/evaluator.h"

extern const nas_evaluator_ops nas_eval_cuda_ops;

static void test_bad_options(void **state) {
    (void)state;
    void *self = NULL;
    nas_err err;
    assert_int_equal(nas_eval_cuda_ops.create("[1,2]", &self, &err), NAS_EPARSE);
    assert_null(self);
    assert_int_equal(nas_eval_cuda_ops.create("{\"device\": -1}", &self, &err), NAS_EINVAL);
    assert_non_null(strstr(err.msg, "device"));
    assert_int_equal(nas_eval_cuda_ops.create("{\"device\": 1.5}", &self, &err), NAS_EINVAL);
    assert_null(self);
}

static void test_no_gpu_is_final(void **state) {
    (void)state;
    if (nas_cuda_device_count() > 0) {
        print_message("a GPU is present: the no-GPU refusal cannot be observed here\n");
        skip();
    }
    void *self = NULL;
    nas_err err;
    int rc = nas_eval_cuda_ops.create("{\"device\": 0}", &self, &err);
    assert_int_equal(rc, NAS_EUNSUPPORTED);
    assert_null(self);
    assert_non_null(strstr(err.msg, "no CUDA device"));
    assert_false(nas_eval_error_retryable(rc));
    /* The backend itself refuses the same way. */
    nas_backend *be = NULL;
    assert_int_equal(nas_backend_cuda_new(NULL, &be, &err), NAS_EUNSUPPORTED);
    assert_null(be);
}

static void test_measure_job_on_gpu(void **state) {
    (void)state;
    if (nas_cuda_device_count() == 0) {
        print_message("no CUDA device here: GPU measure job skipped\n");
        skip();
    }
    nas_arch arch;
    nas_err err;
    assert_int_equal(nas_arch_load("genet-light", &arch, &err), 0);
    void *self = NULL;
    assert_int_equal(nas_eval_cuda_ops.create(NULL, &self, &err), 0);
    nas_eval_job job = {.job_id = 1, .attempt = 1, .kind = NAS_JOB_MEASURE, .arch = &arch,
                        .recipe_json = "{\"latency_batches\": [1, 8]}",
                        .work_dir = "."};
    nas_eval_result res;
    int rc = nas_eval_cuda_ops.run(self, &job, NULL, NULL, &res, &err);
    if (rc < 0) fail_msg("%s", err.msg);
    assert_false(res.has_accuracy);
    assert_int_equal(res.n_latency, 2);
    for (int i = 0; i < 2; i++) {
        print_message("  genet-light fp16 batch %d: %.3f ms (p50 %.3f, p90 %.3f)\n",
                      res.latency[i].batch, res.latency[i].mean_ms, res.latency[i].p50_ms,
                      res.latency[i].p90_ms);
        assert_true(res.latency[i].mean_ms > 0.0);
        assert_true(res.latency[i].p90_ms >= res.latency[i].p50_ms);
        assert_string_equal(res.latency[i].precision, "fp16");
    }
    assert_true(res.latency[1].mean_ms > res.latency[0].mean_ms * 0.5); /* batch 8 is real work */
    assert_true(res.params > 0);
    assert_non_null(strstr(res.device, "cuda: "));
    nas_eval_cuda_ops.destroy(self);
}

int main(void) {
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_bad_options),
        cmocka_unit_test(test_no_gpu_is_final),
        cmocka_unit_test(test_measure_job_on_gpu),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
