/*
 * trainer/latency.h - inference latency the GENet paper's way.
 *
 * Method (the same on every backend): BN folded into the convolutions, a
 * warm-up of untimed runs, then NAS_LATENCY_RUNS timed forward passes of one
 * batch, each bracketed by a backend sync; the reported latency is the mean
 * after dropping the fastest and the slowest 10% of runs, plus the median and
 * 90th percentile of all runs.
 *
 * nas_latency_summarize is the statistic alone, a pure function over an array
 * of timings, so the CUDA backend (which times with CUDA graphs and events)
 * reports numbers computed exactly like the CPU's.
 */
#ifndef NAS_TRAINER_LATENCY_H
#define NAS_TRAINER_LATENCY_H

#include "common/error.h"
#include "trainer/graph.h"

#define NAS_LATENCY_RUNS 30
#define NAS_LATENCY_WARMUP 10
#define NAS_LATENCY_TRIM_FRACTION 0.10

typedef struct nas_latency_summary {
    int runs;        /* timings given */
    int kept;        /* timings left after trimming */
    double mean_ms;  /* mean of the kept timings */
    double p50_ms;   /* median of all timings */
    double p90_ms;   /* 90th percentile of all timings */
    double min_ms, max_ms;
} nas_latency_summary;

/* Summarises n >= 1 timings (milliseconds; the array is not modified):
 * drops floor(n * 0.1) from each end of the sorted timings for the mean;
 * percentiles interpolate linearly between order statistics (numpy's default:
 * rank q*(n-1)). Returns NAS_EINVAL for n < 1 or a negative or non-finite
 * timing. */
int nas_latency_summarize(const double *ms, int n, nas_latency_summary *out, nas_err *err);

/* Measures the net's folded inference latency for one batch of `batch`
 * images (1 <= batch <= nas_net_max_batch): folds BN (nas_net_fold_bn) from
 * the current weights, fills the input with a fixed pseudo-random batch,
 * runs `warmup` untimed and `runs` timed passes (0 = the defaults above).
 * Leaves the weights unchanged. */
int nas_latency_measure(nas_net *net, int batch, int warmup, int runs, nas_latency_summary *out,
                        nas_err *err);

#endif
