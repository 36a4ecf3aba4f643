/*
 * worker/eval_cuda.c - the `cuda` evaluator: real train and measure jobs on
 * one GPU through the native trainer's CUDA backend (trainer/cuda).
 *
 * Runs inside the job's child process (worker/runner.c), which has already
 * set CUDA_VISIBLE_DEVICES from `nas-worker --gpu N`, so the device ordinal
 * here is 0 unless the evaluator options say otherwise. A CUDA fault or an
 * out-of-memory ends this child only; out-of-memory comes back as
 * NAS_EOOM_DEVICE, which the worker reports as a final (non-retried) failure.
 *
 * train: nas_trainer with backend "cuda" in the recipe's precision (bf16,
 * fp16 with dynamic loss scaling, or fp32), fit, test top-1/top-5/loss,
 * optional checkpoint in the job's work folder. Latency (train and measure
 * jobs): for each recipe latency batch, BN folded, CUDA graph, 30 timed
 * replays (trainer/cuda/latency_cuda.c) in the recipe's latency_precision.
 * GPU timing does not depend on the weight values, so when the latency
 * precision differs from the training one the measurement runs on a fresh
 * network of the same architecture in that precision.
 *
 * Precision defaults differ from the CPU's: a recipe without "precision"
 * trains in bf16 (fp32 master weights) and one without "latency_precision"
 * times in fp16, the setting of the GENet paper's latency figures.
 *
 * Options (JSON object, optional): {"device": N}.
 */
#include "worker/evaluator.h"

#include <cjson/cJSON.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "space/cost.h"
#include "trainer/cuda/cuda_backend.h"
#include "trainer/trainer.h"
#include "worker/eval_trainer.h"

typedef struct eval_cuda {
    int device;
} eval_cuda;

static int cuda_create(const char *options_json, void **self, nas_err *err) {
    *self = NULL;
    eval_cuda *e = calloc(1, sizeof *e);
    if (!e) return nas_err_set(err, NAS_ENOMEM, "cuda evaluator: out of memory");
    if (options_json && *options_json) {
        cJSON *root = cJSON_Parse(options_json);
        if (!root || !cJSON_IsObject(root)) {
            cJSON_Delete(root);
            free(e);
            return nas_err_set(err, NAS_EPARSE, "cuda evaluator: options are not a JSON object");
        }
        const cJSON *dev = cJSON_GetObjectItemCaseSensitive(root, "device");
        if (dev) {
            if (!cJSON_IsNumber(dev) || dev->valuedouble < 0 || dev->valuedouble > 1023 ||
                dev->valuedouble != (double)(int)dev->valuedouble) {
                cJSON_Delete(root);
                free(e);
                return nas_err_set(err, NAS_EINVAL,
                                   "cuda evaluator: option device must be an integer in [0, 1023]");
            }
            e->device = dev->valueint;
        }
        cJSON_Delete(root);
    }
    if (nas_cuda_device_count() == 0) {
        free(e);
        return nas_err_set(err, NAS_EUNSUPPORTED,
                           "cuda evaluator: no CUDA device is visible to this job (check the "
                           "driver, nvidia-smi and nas-worker --gpu)");
    }
    *self = e;
    return 0;
}

/* Applies the GPU precision defaults for keys the recipe does not set. */
static int apply_gpu_defaults(const char *recipe_json, nas_recipe *r, nas_err *err) {
    cJSON *root = cJSON_Parse(recipe_json && *recipe_json ? recipe_json : "{}");
    if (!root || !cJSON_IsObject(root)) {
        cJSON_Delete(root);
        return nas_err_set(err, NAS_EPARSE, "cuda evaluator: the recipe is not a JSON object");
    }
    if (!cJSON_GetObjectItemCaseSensitive(root, "precision"))
        snprintf(r->precision, sizeof r->precision, "bf16");
    if (!cJSON_GetObjectItemCaseSensitive(root, "latency_precision"))
        snprintf(r->latency_precision, sizeof r->latency_precision, "fp16");
    cJSON_Delete(root);
    return 0;
}

static int cuda_run(void *self, const nas_eval_job *job, nas_eval_progress_fn progress, void *ctx,
                    nas_eval_result *out, nas_err *err) {
    eval_cuda *e = self;
    memset(out, 0, sizeof *out);
    nas_recipe recipe;
    int rc = nas_recipe_parse(job->recipe_json, &recipe, err);
    if (rc < 0) return rc;
    if ((rc = apply_gpu_defaults(job->recipe_json, &recipe, err)) < 0) return rc;
    nas_cost cost;
    rc = nas_cost_compute(job->arch, job->arch->resolution, &cost, err);
    if (rc < 0) return rc;
    out->params = cost.params;
    out->macs = cost.macs;
    nas_cost_release(&cost);

    nas_eval_progress_bridge bridge = {progress, ctx};
    nas_trainer_opts opts = {.backend = "cuda", .device = e->device, .progress = nas_eval_progress_forward,
                             .progress_ctx = &bridge, .quiet = true};
    nas_trainer *trained = NULL, *timing = NULL;
    if (job->kind == NAS_JOB_TRAIN) {
        rc = nas_trainer_new(job->arch, &recipe, &opts, &trained, err);
        if (!rc) snprintf(out->device, sizeof out->device, "%s", nas_trainer_device(trained));
        if (!rc) rc = nas_eval_train_and_test(trained, job, &recipe, out, err);
        if (rc < 0) goto done;
    }
    if (trained && strcmp(recipe.latency_precision, recipe.precision) == 0) {
        rc = nas_eval_measure_latencies(trained, &recipe, out, err);
    } else {
        nas_recipe timing_recipe = recipe;
        snprintf(timing_recipe.precision, sizeof timing_recipe.precision, "%s",
                 recipe.latency_precision);
        /* Buffers sized for the largest latency batch, not the training one. */
        timing_recipe.batch = 1;
        for (int i = 0; i < recipe.n_latency_batches; i++)
            if (recipe.latency_batches[i] > timing_recipe.batch)
                timing_recipe.batch = recipe.latency_batches[i];
        opts.progress = NULL;
        rc = nas_trainer_new(job->arch, &timing_recipe, &opts, &timing, err);
        if (!rc) rc = nas_eval_measure_latencies(timing, &timing_recipe, out, err);
        if (!rc && !out->device[0])
            snprintf(out->device, sizeof out->device, "%s", nas_trainer_device(timing));
    }
done:
    nas_trainer_free(&timing);
    nas_trainer_free(&trained);
    if (rc < 0) nas_err_prefix(err, "cuda evaluator, job %lld", (long long)job->job_id);
    return rc;
}

static void cuda_destroy(void *self) { free(self); }

const nas_evaluator_ops nas_eval_cuda_ops = {
    .name = "cuda",
    .create = cuda_create,
    .run = cuda_run,
    .destroy = cuda_destroy,
};
