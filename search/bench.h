/*
 * search/bench.h - one benchmark run of a vector-level strategy.
 *
 * Drives nas_vsearch on an analytic function (testfunc.h) for `budget`
 * evaluations with `workers` proposals outstanding: it keeps `workers`
 * points pending, and each step the oldest pending point completes (FIFO),
 * is told, and a new one is proposed, so W = 1 is plain sequential search and
 * W = 8 is eight asynchronous workers of equal speed.
 */
#ifndef NAS_SEARCH_BENCH_H
#define NAS_SEARCH_BENCH_H

#include <stdint.h>

#include "common/cfg.h"
#include "search/testfunc.h"

typedef struct nas_bench_result {
    double best_quarter, best_half, best_final; /* best f after N/4, N/2, N evaluations */
    double ms_per_proposal;                     /* wall: mean over all proposals */
    double ms_per_proposal_last;                /* wall: mean over the last 10% of proposals */
    double cpu_ms_per_proposal;                 /* process CPU time, same two means */
    double cpu_ms_per_proposal_last;
} nas_bench_result;

int nas_bench_run(const char *strategy, const nas_testfunc *tf, int dims, int budget, int workers,
                  uint64_t seed, const nas_cfg *cfg, const nas_cfg_node *options,
                  nas_bench_result *out, nas_err *err);

#endif
