/*
 * worker/runner.h - runs one job in a child process and watches it.
 *
 * The worker never runs an evaluator in its own address space: a crash, a
 * CUDA fault or an out-of-memory in a job must become that job's failure,
 * not the worker's. The child creates the evaluator, runs the job, and
 * writes fixed-size records to a pipe (progress, then a result or an error);
 * the parent polls the pipe's descriptor in its event loop, and reports the
 * child's exit: a signal or an exit without a result is a (retryable)
 * failure that names the signal. The child dies with its parent
 * (PR_SET_PDEATHSIG), so a killed worker leaves no job running behind it.
 */
#ifndef NAS_WORKER_RUNNER_H
#define NAS_WORKER_RUNNER_H

#include <stdbool.h>

#include "common/error.h"
#include "worker/evaluator.h"

typedef struct nas_runner nas_runner;

/* Forks the child for job (copied; the pointers need not outlive the call).
 * options_json is the backend's options object (or NULL); gpu >= 0 sets
 * CUDA_VISIBLE_DEVICES in the child. */
int nas_runner_start(const nas_evaluator_ops *ops, const char *options_json, const nas_eval_job *job, int gpu,
                     nas_runner **out, nas_err *err);

/* The descriptor to poll for input (the pipe from the child). */
int nas_runner_fd(const nas_runner *r);

/* Reads whatever the child wrote; updates the latest progress. Returns true
 * once the child has exited and its pipe is drained (the job is over). */
bool nas_runner_poll(nas_runner *r);

/* Latest progress fraction and training loss reported by the child. */
void nas_runner_progress(const nas_runner *r, double *fraction, double *loss);

/* Seconds since the job started. */
double nas_runner_elapsed(const nas_runner *r);

/* After nas_runner_poll returned true: 0 and *out filled, or the failure
 * code with err saying what happened; *retryable says whether another
 * attempt may succeed. */
int nas_runner_outcome(const nas_runner *r, nas_eval_result *out, bool *retryable, nas_err *err);

/* Kills the child (SIGKILL) and reaps it. */
void nas_runner_kill(nas_runner *r);

/* Kills the child if it still runs, reaps it and frees r. */
void nas_runner_free(nas_runner **r);

#endif
