/*
 * search/bench.c - one benchmark run (see bench.h). The only file of search/
 * that reads clocks, and only to time proposals (wall and process CPU time).
 */
#include <math.h>
#include <stdlib.h>
#include <time.h>

#include "common/util.h"
#include "search/bench.h"
#include "search/vsearch.h"

/* CPU seconds of the whole process (all threads): on a shared machine wall
 * time mostly measures the neighbours. */
static double cpu_seconds(void) {
    struct timespec ts;
    if (clock_gettime(CLOCK_PROCESS_CPUTIME_ID, &ts)) return 0;
    return (double)ts.tv_sec + 1e-9 * (double)ts.tv_nsec;
}

int nas_bench_run(const char *strategy, const nas_testfunc *tf, int dims, int budget, int workers,
                  uint64_t seed, const nas_cfg *cfg, const nas_cfg_node *options,
                  nas_bench_result *out, nas_err *err) {
    if (dims < 1 || budget < 1 || workers < 1)
        return nas_err_set(err, NAS_EINVAL, "bench: dims, budget and workers must be positive");
    nas_vopt_params p = {.dims = dims, .budget = budget, .cfg = cfg, .options = options};
    nas_vsearch *vs = NULL;
    int rc = nas_vsearch_new(strategy, &p, seed, &vs, err);
    if (rc) return rc;
    double *x = malloc(sizeof(double) * (size_t)dims);
    double *queue = malloc(sizeof(double) * (size_t)dims * (size_t)workers);
    uint64_t *keys = malloc(sizeof(uint64_t) * (size_t)workers);
    if (!x || !queue || !keys) {
        rc = nas_err_set(err, NAS_ENOMEM, "out of memory in the benchmark");
        goto done;
    }
    int head = 0, n_queue = 0, proposed = 0, evaluated = 0;
    int last_from = budget - (budget + 9) / 10; /* proposals counted as "last 10%" */
    double ms_total = 0, ms_last = 0, cpu_total = 0, cpu_last = 0, best = INFINITY;
    int n_last = 0;
    while (evaluated < budget) {
        while (n_queue < workers && proposed < budget) {
            double t0 = nas_now_monotonic(), c0 = cpu_seconds();
            rc = nas_vsearch_propose(vs, x, err);
            double ms = (nas_now_monotonic() - t0) * 1e3, cpu_ms = (cpu_seconds() - c0) * 1e3;
            if (rc) goto done;
            ms_total += ms;
            cpu_total += cpu_ms;
            if (proposed >= last_from) {
                ms_last += ms;
                cpu_last += cpu_ms;
                n_last++;
            }
            uint64_t key = (uint64_t)proposed + 1;
            if ((rc = nas_vsearch_add_pending(vs, x, key, err))) goto done;
            int slot = (head + n_queue) % workers;
            for (int d = 0; d < dims; d++) queue[(size_t)slot * (size_t)dims + (size_t)d] = x[d];
            keys[slot] = key;
            n_queue++;
            proposed++;
        }
        const double *xe = queue + (size_t)head * (size_t)dims;
        double f = nas_testfunc_eval_unit(tf, xe, dims);
        if ((rc = nas_vsearch_tell(vs, xe, -f, NAS_VSTATUS_OK, keys[head], err))) goto done;
        head = (head + 1) % workers;
        n_queue--;
        evaluated++;
        if (f < best) best = f;
        if (evaluated == (budget + 3) / 4) out->best_quarter = best;
        if (evaluated == (budget + 1) / 2) out->best_half = best;
    }
    out->best_final = best;
    out->ms_per_proposal = ms_total / proposed;
    out->ms_per_proposal_last = n_last ? ms_last / n_last : 0;
    out->cpu_ms_per_proposal = cpu_total / proposed;
    out->cpu_ms_per_proposal_last = n_last ? cpu_last / n_last : 0;
done:
    free(x);
    free(queue);
    free(keys);
    nas_vsearch_free(&vs);
    return rc;
}
