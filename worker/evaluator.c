/*
 * worker/evaluator.c - finds an evaluator by backend name.
 *
 * sim is always built in. cpu and cuda live in worker/eval_cpu.c and
 * worker/eval_cuda.c (the trainer engineers' files) and are referenced weakly
 * here, so nas-worker links whether or not they were built; a missing one is
 * reported as "not built into this nas-worker" rather than as unknown.
 */
#include "worker/evaluator.h"

#include <stddef.h>
#include <string.h>

extern const nas_evaluator_ops nas_eval_sim_ops;
extern const nas_evaluator_ops nas_eval_cpu_ops __attribute__((weak));
extern const nas_evaluator_ops nas_eval_cuda_ops __attribute__((weak));

const nas_evaluator_ops *nas_evaluator_find(const char *backend, nas_err *err) {
    if (!backend) {
        nas_err_set(err, NAS_EINVAL, "no backend named: use sim, cpu or cuda");
        return NULL;
    }
    if (strcmp(backend, "sim") == 0) return &nas_eval_sim_ops;
    if (strcmp(backend, "cpu") == 0) {
        if (&nas_eval_cpu_ops) return &nas_eval_cpu_ops;
        nas_err_set(err, NAS_EUNSUPPORTED, "the cpu backend is not built into this nas-worker");
        return NULL;
    }
    if (strcmp(backend, "cuda") == 0) {
        if (&nas_eval_cuda_ops) return &nas_eval_cuda_ops;
        nas_err_set(err, NAS_EUNSUPPORTED,
                    "the cuda backend is not built into this nas-worker (rebuild where nvcc is found)");
        return NULL;
    }
    nas_err_set(err, NAS_EINVAL, "unknown backend '%s': use sim, cpu or cuda", backend);
    return NULL;
}

bool nas_eval_error_retryable(int code) {
    return code != NAS_EINVAL && code != NAS_EOOM_DEVICE && code != NAS_EUNSUPPORTED;
}
