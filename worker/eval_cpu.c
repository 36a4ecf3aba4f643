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

typedef struct progress_bridge {
    nas_eval_progress_fn fn;
    void *ctx;
} progress_bridge;

static void on_progress(void *ctx, const nas_train_progress *p) {
    progress_bridge *b = ctx;
    if (!b->fn || p->total_steps <= 0) return;
    b->fn(b->ctx, (double)p->step / (double)p->total_steps, p->loss);
}

static int measure_latencies(nas_trainer *t, const nas_recipe *r, nas_eval_result *out,
                             nas_err *err) {
    int n = r->n_latency_batches < NAS_MAX_LATENCY_BATCHES ? r->n_latency_batches
                                                           : NAS_MAX_LATENCY_BATCHES;
    for (int i = 0; i < n; i++) {
        nas_latency_summary s;
        int rc = nas_trainer_latency(t, r->latency_batches[i], &s, err);
        if (rc < 0) return rc;
        nas_latency_stat *l = &out->latency[out->n_latency++];
        l->batch = r->latency_batches[i];
        snprintf(l->precision, sizeof l->precision, "fp32");
        l->mean_ms = s.mean_ms;
        l->p50_ms = s.p50_ms;
        l->p90_ms = s.p90_ms;
    }
    return 0;
}

static int save_checkpoint(nas_trainer *t, const nas_eval_job *job, nas_eval_result *out,
                           nas_err *err) {
    char path[sizeof out->checkpoint];
    int len = snprintf(path, sizeof path, "%s/job-%lld-attempt-%d.safetensors",
                       job->work_dir ? job->work_dir : ".", (long long)job->job_id, job->attempt);
    if (len < 0 || (size_t)len >= sizeof path)
        return nas_err_set(err, NAS_EINVAL, "the work folder path is too long for a checkpoint path");
    int rc = nas_trainer_save(t, path, err);
    if (!rc) snprintf(out->checkpoint, sizeof out->checkpoint, "%s", path);
    return rc;
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

    progress_bridge bridge = {progress, ctx};
    nas_trainer_opts opts = {.backend = "cpu", .progress = on_progress, .progress_ctx = &bridge,
                             .quiet = true};
    nas_trainer *t = NULL;
    if (job->kind == NAS_JOB_MEASURE) {
        /* No training: skip the data, the optimiser's work and any init_from. */
        recipe.init_from[0] = '\0';
        recipe.has_train_only = false;
    }
    rc = nas_trainer_new(job->arch, &recipe, &opts, &t, err);
    if (!rc) snprintf(out->device, sizeof out->device, "%s", nas_trainer_device(t));
    if (!rc && job->kind == NAS_JOB_TRAIN) {
        nas_eval_metrics m;
        rc = nas_trainer_fit(t, err);
        if (!rc) rc = nas_trainer_evaluate(t, &m, err);
        if (!rc) {
            out->has_accuracy = true;
            out->top1 = m.top1;
            out->top5 = m.top5;
            out->loss = m.loss;
            out->train_seconds = nas_trainer_train_seconds(t);
        }
        if (!rc && recipe.save_checkpoint) rc = save_checkpoint(t, job, out, err);
    }
    if (!rc) rc = measure_latencies(t, &recipe, out, err);
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
