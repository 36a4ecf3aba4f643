/*
 * worker/eval_trainer.h - what the cpu and cuda evaluators share: both run a
 * job through the native trainer (trainer/trainer.h) and differ only in the
 * backend, precision defaults and how the timing network is built.
 */
#ifndef NAS_WORKER_EVAL_TRAINER_H
#define NAS_WORKER_EVAL_TRAINER_H

#include "trainer/trainer.h"
#include "worker/evaluator.h"

/* Turns the trainer's step progress into the evaluator's fraction + loss. */
typedef struct nas_eval_progress_bridge {
    nas_eval_progress_fn fn;
    void *ctx;
} nas_eval_progress_bridge;

/* nas_train_progress_fn for nas_trainer_opts.progress; ctx is a bridge. */
void nas_eval_progress_forward(void *ctx, const nas_train_progress *p);

/* Fits t, evaluates it on the test set and fills out's accuracy, loss and
 * train time; saves a checkpoint into job->work_dir when the recipe asks. */
int nas_eval_train_and_test(nas_trainer *t, const nas_eval_job *job, const nas_recipe *r,
                            nas_eval_result *out, nas_err *err);

/* Latency at every recipe batch on t, recorded with the recipe's
 * latency_precision (t must run in that precision). */
int nas_eval_measure_latencies(nas_trainer *t, const nas_recipe *r, nas_eval_result *out,
                               nas_err *err);

#endif
