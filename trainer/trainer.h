/*
 * trainer/trainer.h - train, evaluate, checkpoint and time one architecture.
 *
 * The high-level API that `nas train`, `nas latency` and the worker's cpu
 * (and cuda) evaluator call. A nas_trainer owns a backend, the network built
 * from the architecture (graph.h), the optimiser (optim.h) and, once needed,
 * the data sets and loaders (data/). Its steps are separate so each caller
 * takes what it needs:
 *
 *     nas_recipe r;  nas_recipe_parse(json, &r, err);
 *     nas_trainer_new(&arch, &r, &opts, &t, err);       // init_from, train_only applied
 *     nas_trainer_resume(t, "ckpt.safetensors", err);   // optional
 *     nas_trainer_fit(t, err);                          // remaining epochs
 *     nas_trainer_evaluate(t, &metrics, err);           // test top-1/top-5/loss
 *     nas_trainer_save(t, "out.safetensors", err);
 *     nas_trainer_latency(t, 64, &summary, err);
 *     nas_trainer_free(&t);
 *
 * Recipe (a JSON object, see worker/evaluator.h; every key optional):
 *   dataset "fashion-mnist"   epochs 3        batch 128      lr 0.1
 *   momentum 0.9 (Nesterov)   weight_decay 5e-4 (conv/fc weights only)
 *   label_smoothing 0.1       warmup_epochs 0.3 (linear, then cosine to lr_min 0)
 *   train_subset 0 (all)      seed 1          threads 0 (all cores)
 *   precision "fp32"          latency_batches [1, 8, 64]   latency_precision "fp32"
 *   init_from ""              train_only (absent: train everything)
 *   save_checkpoint false
 * dataset also takes "jpeg:DIR": ImageNet-style folders DIR/train/<class>/ and
 * DIR/val/<class>/ of JPEGs (trainer/data/jpeg_folder.h), RGB at the
 * architecture's resolution.
 * Plus keys of this trainer: lr_min 0, nesterov true, test_subset 0 (all),
 * crop_padding 0 and hflip false (training augmentation), data_threads are not
 * configurable (one preparing thread). Keys this trainer does not know are
 * ignored, as evaluator.h says, so one experiment recipe can serve several
 * evaluators; known keys with a wrong type or range are errors that name the
 * key. train_only lists stage indices to train; all other stages are frozen
 * (weights fixed, BN on running statistics); the classifier stays trainable.
 */
#ifndef NAS_TRAINER_TRAINER_H
#define NAS_TRAINER_TRAINER_H

#include <stdbool.h>
#include <stdint.h>

#include "common/error.h"
#include "space/arch.h"
#include "trainer/graph.h"
#include "trainer/latency.h"

#define NAS_RECIPE_PATH_MAX 1024
#define NAS_RECIPE_MAX_LATENCY_BATCHES 8

typedef struct nas_recipe {
    char dataset[NAS_RECIPE_PATH_MAX];
    int epochs, batch;
    double lr, lr_min, momentum, weight_decay, label_smoothing, warmup_epochs;
    bool nesterov;
    int train_subset, test_subset;
    uint64_t seed;
    int threads;
    char precision[8];
    int n_latency_batches;
    int latency_batches[NAS_RECIPE_MAX_LATENCY_BATCHES];
    char latency_precision[8];
    char init_from[NAS_RECIPE_PATH_MAX];
    bool has_train_only;
    int n_train_only;
    int train_only[NAS_ARCH_MAX_STAGES];
    bool save_checkpoint;
    int crop_padding;
    bool hflip;
} nas_recipe;

/* Fills r with the defaults listed above. */
void nas_recipe_defaults(nas_recipe *r);

/* Parses a recipe JSON object over the defaults. NULL or "" means defaults. */
int nas_recipe_parse(const char *json, nas_recipe *out, nas_err *err);

/* Progress of training, handed to the callback. */
typedef struct nas_train_progress {
    int epoch, epochs;             /* current epoch (0-based) and the total */
    int step_in_epoch, steps_per_epoch;
    int64_t step, total_steps;     /* over the whole run, resumed epochs included */
    double loss;                   /* mean training loss of this epoch so far */
    double top1;                   /* training top-1 of this epoch so far */
    double lr;                     /* learning rate of the last step */
    double images_per_sec;         /* this run's training throughput so far */
    double elapsed_s, eta_s;       /* since fit started; estimate to the end of training */
    bool epoch_end;                /* this call closes an epoch */
} nas_train_progress;

typedef void (*nas_train_progress_fn)(void *ctx, const nas_train_progress *p);

typedef struct nas_trainer_opts {
    const char *backend;            /* "cpu" (default) or "cuda" (when built with the CUDA backend) */
    int device;                     /* cuda: device ordinal (after CUDA_VISIBLE_DEVICES) */
    nas_train_progress_fn progress; /* may be NULL */
    void *progress_ctx;
    int progress_every;             /* steps between progress calls (0 = 20); epoch ends always */
    const char *checkpoint_path;    /* if set, fit saves here (with optimiser state) after every epoch */
    bool quiet;                     /* no log lines (init_from / resume summaries) */
} nas_trainer_opts;

typedef struct nas_eval_metrics {
    double top1, top5, loss;        /* fractions; loss = mean cross-entropy, no smoothing */
    int images;
} nas_eval_metrics;

typedef struct nas_trainer nas_trainer;

/* Builds backend and network (parameters seeded from recipe->seed), applies
 * init_from (names matched) and train_only. Data is loaded later, on first
 * use, so a latency-only caller never reads it. */
int nas_trainer_new(const nas_arch *arch, const nas_recipe *recipe, const nas_trainer_opts *opts,
                    nas_trainer **out, nas_err *err);
void nas_trainer_free(nas_trainer **t);

/* Restores parameters, running statistics, momentum and the epoch count from a
 * checkpoint saved by this trainer for the same architecture (strict: every
 * parameter must match); fit then runs only the remaining epochs. */
int nas_trainer_resume(nas_trainer *t, const char *path, nas_err *err);

/* Trains from the current epoch to recipe->epochs. */
int nas_trainer_fit(nas_trainer *t, nas_err *err);
/* Trains from the current epoch up to epoch `until` (at most recipe->epochs)
 * on the full run's schedule: a run split into several calls, or stopped and
 * resumed from a checkpoint, takes exactly the steps of an unbroken one. */
int nas_trainer_fit_until(nas_trainer *t, int until, nas_err *err);

/* Top-1, top-5 and loss on the test split (recipe->test_subset images if set). */
int nas_trainer_evaluate(nas_trainer *t, nas_eval_metrics *out, nas_err *err);

/* Writes the weights, running statistics, optimiser state and metadata
 * (arch, recipe, epochs_done, input mean/std) as safetensors. */
int nas_trainer_save(nas_trainer *t, const char *path, nas_err *err);

/* Inference latency at this batch size (latency.h's method); a batch larger
 * than the training batch runs on a copy of the network built for it. */
int nas_trainer_latency(nas_trainer *t, int batch, nas_latency_summary *out, nas_err *err);

nas_net *nas_trainer_net(nas_trainer *t);
int nas_trainer_epochs_done(const nas_trainer *t);
/* Seconds spent in fit (all calls), images trained on, images per second. */
double nas_trainer_train_seconds(const nas_trainer *t);
double nas_trainer_images_per_sec(const nas_trainer *t);
/* The backend's device name, e.g. "cpu: AMD EPYC ... x 2 threads". */
const char *nas_trainer_device(const nas_trainer *t);

#endif
