/*
 * worker/eval_cpu.c - the `cpu` evaluator: real train and measure jobs on
 * this machine's CPU cores through the native trainer (trainer/trainer.h,
 * the float32 reference backend).
 *
 * Runs inside the job's child process (worker/runner.c). train: build the
 * network from the job's architecture, fit the recipe, test top-1/top-5/loss,
 * optional checkpoint in the job's work folder, then latency. measure:
 * latency only, on freshly initialised weights (timing does not depend on
 * their values). Latency for each recipe batch uses trainer/latency.c (BN
 * folded, warm-up, 30 timed runs, trimmed mean, p50/p90).
 *
 * The CPU computes in fp32 only: a recipe asking for fp16/bf16 training or
 * latency is a final NAS_EINVAL (another attempt on a CPU would fail alike).
 *
 * Options (JSON object, optional): {"threads": N} caps the threads of every
 * job (0 or absent: the recipe's `threads`, else all cores).
 */
#include "worker/evaluator.h"

#include <cjson/cJSON.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "space/cost.h"
#include "trainer/trainer.h"
#include "worker/eval_trainer.h"

typedef struct eval_cpu {
    int threads; /* 0: as the recipe says */
} eval_cpu;

static int cpu_create(const char *options_json, void **self, nas_err *err) {
    *self = NULL;
    eval_cpu *e = calloc(1, sizeof *e);
    if (!e) return nas_err_set(err, NAS_ENOMEM, "cpu evaluator: out of memory");
    if (options_json && *options_json) {
        cJSON *root = cJSON_Parse(options_json);
        int rc = 0;
        if (!cJSON_IsObject(root)) {
            rc = nas_err_set(err, NAS_EPARSE, "cpu evaluator: options are not a JSON object");
        } else {
            const cJSON *threads = cJSON_GetObjectItemCaseSensitive(root, "threads");
            if (threads && (!cJSON_IsNumber(threads) || threads->valuedouble < 0 ||
                            threads->valuedouble > 1024 ||
                            threads->valuedouble != (double)(int)threads->valuedouble))
                rc = nas_err_set(err, NAS_EINVAL,
                                 "cpu evaluator: option threads must be an integer in [0, 1024]");
            else if (threads)
                e->threads = threads->valueint;
        }
        cJSON_Delete(root);
        if (rc) {
            free(e);
            return rc;
        }
    }
    *self = e;
    return 0;
}

static int cpu_run(void *self, const nas_eval_job *job, nas_eval_progress_fn progress, void *ctx,
                   nas_eval_result *out, nas_err *err) {
    eval_cpu *e = self;
    memset(out, 0, sizeof *out);
    nas_recipe recipe;
    int rc = nas_recipe_parse(job->recipe_json, &recipe, err);
    if (rc < 0) goto done;
    if (strcmp(recipe.latency_precision, "fp32") != 0) {
        rc = nas_err_set(err, NAS_EINVAL, "latency_precision %s: the cpu backend runs fp32 only",
                         recipe.latency_precision);
        goto done;
    }
    if (e->threads > 0) recipe.threads = e->threads;
    nas_cost cost;
    rc = nas_cost_compute(job->arch, job->arch->resolution, &cost, err);
    if (rc < 0) goto done;
    out->params = cost.params;
    out->macs = cost.macs;
    nas_cost_release(&cost);

    nas_eval_progress_bridge bridge = {progress, ctx};
    nas_trainer_opts opts = {.backend = "cpu", .progress = nas_eval_progress_forward, .progress_ctx = &bridge,
                             .quiet = true};
    nas_trainer *t = NULL;
    if (job->kind == NAS_JOB_MEASURE) {
        /* No training: skip the data, the optimiser's work and any init_from. */
        recipe.init_from[0] = '\0';
        recipe.has_train_only = false;
    }
    rc = nas_trainer_new(job->arch, &recipe, &opts, &t, err);
    if (!rc) snprintf(out->device, sizeof out->device, "%s", nas_trainer_device(t));
    if (!rc && job->kind == NAS_JOB_TRAIN) rc = nas_eval_train_and_test(t, job, &recipe, out, err);
    if (!rc) rc = nas_eval_measure_latencies(t, &recipe, out, err);
    nas_trainer_free(&t);
done:
    if (rc < 0) nas_err_prefix(err, "cpu evaluator, job %lld", (long long)job->job_id);
    return rc;
}

static void cpu_destroy(void *self) { free(self); }

const nas_evaluator_ops nas_eval_cpu_ops = {
    .name = "cpu",
    .create = cpu_create,
    .run = cpu_run,
    .destroy = cpu_destroy,
};
