/*
 * server/experiment.h - the experiment file nasd runs (YAML).
 *
 *   name: sim-small                 # identity in the store; resume uses it
 *   space: tiny                     # configs/spaces/NAME.yaml or a path
 *   strategy: {name: random, seed: 1, options: {...}}   # options go to the strategy
 *   budget: {evaluations: 500, hours: 0}   # at least one; 0 = no limit
 *   objective: top1                 # maximised (the only objective so far)
 *   backend: sim                    # sim|cpu|cuda|any: workers of another backend are refused
 *   latency:                        # optional latency budget tiers
 *     - {ms: 2.5, batch: 1, precision: fp16}
 *   recipe: {...}                   # keys of worker/evaluator.h
 *   max_attempts: 3                 # per job, then it is failed
 *   lease_seconds: 60               # a job without a heartbeat for this long is re-queued
 *   heartbeat_seconds: 5            # how often workers report
 *   job_timeout_seconds: 0          # worker kills a job running longer (0 = none)
 *   prefetch: 4                     # queued jobs beyond the idle workers
 *   progress_seconds: 5             # period of nasd's progress line
 *   evaluator:
 *     sim: {delay_seconds: 0.05, delay_jitter: 0.5, failure_rate: 0, crash_rate: 0,
 *           noise: 0.01, device: a100, seed: 1}
 *
 * With latency tiers, every candidate first gets a cheap `measure` job; it is
 * feasible when it meets at least one tier (latency at the tier's batch and
 * precision <= ms), and only feasible candidates get a `train` job;
 * infeasible ones are told to the strategy as infeasible. All tiers share one
 * precision (the recipe's latency_precision), and every tier's batch is added
 * to the recipe's latency_batches. Unknown keys anywhere are errors with
 * file:line:column.
 */
#ifndef NAS_SERVER_EXPERIMENT_H
#define NAS_SERVER_EXPERIMENT_H

#include <stdint.h>

#include "common/cfg.h"
#include "common/error.h"
#include "space/space.h"

#define NAS_EXP_MAX_TIERS 8

typedef struct nas_latency_tier {
    double ms;
    int batch;
    char precision[8];
} nas_latency_tier;

typedef struct nas_experiment {
    nas_cfg *cfg;                 /* the parsed document (owns option nodes) */
    char *config_text;            /* the file as read, stored with the experiment */
    const char *name;             /* borrowed from cfg */
    const char *space_name;       /* as written */
    nas_space *space;
    const char *strategy_name;
    uint64_t seed;
    const nas_cfg_node *strategy_options; /* NULL if none */
    int64_t budget_evaluations;   /* 0 = no limit */
    double budget_hours;          /* 0 = no limit */
    const char *backend;          /* "sim", "cpu", "cuda" or "any" */
    int n_tiers;
    nas_latency_tier tiers[NAS_EXP_MAX_TIERS];
    char *recipe_json;            /* canonical JSON object */
    char *evaluator_json;         /* {"sim": {...}, ...} */
    int max_attempts;
    double lease_seconds, heartbeat_seconds, job_timeout_seconds, progress_seconds;
    int prefetch;
} nas_experiment;

/* Loads and checks an experiment file, including its space. */
int nas_experiment_load(const char *path, nas_experiment **out, nas_err *err);
/* Same from text (source_name names it in errors); used on resume from the store. */
int nas_experiment_load_string(const char *text, const char *source_name, nas_experiment **out,
                               nas_err *err);
void nas_experiment_free(nas_experiment **exp);

#endif
