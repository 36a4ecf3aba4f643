/*
 * worker/evaluator.h - what turns a job into a result: sim, cpu or cuda.
 *
 * The worker process never runs an evaluator in its own address space: it
 * forks a child per job, the child calls ops->run, reports progress through
 * the callback (the worker turns it into heartbeats) and the result at the
 * end. A crash of the child is that job's failure, not the worker's.
 *
 * Recipe (JSON object; the experiment's `recipe` section merged with a
 * candidate's override). Keys, all optional:
 *   dataset          "fashion-mnist" | "mnist" | "synthetic" | "cifar:DIR" | "idx:DIR"
 *   epochs, batch, lr, momentum, weight_decay, label_smoothing, warmup_epochs,
 *   train_subset     use only the first N training images (0 = all)
 *   test_subset      evaluate on the first N test images (0 = all)
 *   lr_min, nesterov, crop_padding, hflip   schedule floor, momentum kind, augmentation
 *   seed, threads
 *   precision        "fp32" | "bf16" | "fp16"  (training)
 *   latency_batches  [1, 8, 64];  latency_precision "fp32"|"fp16"|"bf16"
 *   init_from        checkpoint path to start from (layer names matched)
 *   train_only       [stage indices] trained; all other stages frozen
 *   save_checkpoint  true to keep the trained weights (path in the result)
 * Evaluators ignore keys that do not apply to them (sim ignores all but seed).
 */
#ifndef NAS_WORKER_EVALUATOR_H
#define NAS_WORKER_EVALUATOR_H

#include <stdbool.h>
#include <stdint.h>

#include "common/error.h"
#include "space/arch.h"

#define NAS_MAX_LATENCY_BATCHES 8

typedef enum { NAS_JOB_MEASURE = 0, NAS_JOB_TRAIN = 1 } nas_job_kind;

typedef struct nas_latency_stat {
    int batch;
    char precision[8];  /* "fp32", "fp16", "bf16" */
    double mean_ms;     /* per batch: mean of the 30 timed runs less top/bottom 10% */
    double p50_ms, p90_ms;
} nas_latency_stat;

typedef struct nas_eval_job {
    int64_t job_id;
    int attempt;
    nas_job_kind kind;
    const nas_arch *arch;
    const char *recipe_json;  /* never NULL ("{}" at least) */
    const char *work_dir;     /* a folder the job may write into (checkpoints) */
} nas_eval_job;

typedef struct nas_eval_result {
    bool has_accuracy;        /* false for measure jobs */
    double top1, top5, loss;  /* fractions in [0,1]; loss = test loss */
    int n_latency;
    nas_latency_stat latency[NAS_MAX_LATENCY_BATCHES];
    int64_t params, macs;
    double train_seconds;
    char device[128];         /* "sim", "cpu: <model name> x N threads", "cuda: NVIDIA H100 ..." */
    bool simulated;           /* true only for the sim evaluator; shown as `sim` everywhere */
    char checkpoint[512];     /* path of saved weights, or "" */
} nas_eval_result;

/* Progress callback: fraction done in [0,1] and the latest training loss. */
typedef void (*nas_eval_progress_fn)(void *ctx, double fraction, double loss);

typedef struct nas_evaluator_ops {
    const char *name; /* "sim", "cpu", "cuda" */
    /* Creates the evaluator's state from its options (JSON object or NULL). */
    int (*create)(const char *options_json, void **self, nas_err *err);
    /* Runs one job. Returns 0 and fills out, or a negative NAS_E* code; the
     * code decides retryability: NAS_EINVAL and NAS_EOOM_DEVICE are final. */
    int (*run)(void *self, const nas_eval_job *job, nas_eval_progress_fn progress, void *ctx,
               nas_eval_result *out, nas_err *err);
    void (*destroy)(void *self);
} nas_evaluator_ops;

/* The evaluator ops by backend name, or NULL (with a message saying whether
 * the backend is unknown or just not built here). */
const nas_evaluator_ops *nas_evaluator_find(const char *backend, nas_err *err);

/* True if a failure with this code is worth retrying on another attempt. */
bool nas_eval_error_retryable(int code);

#endif
