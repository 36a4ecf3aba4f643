/*
 * trainer/latency.c - the trimmed-mean latency statistic and the timing loop
 * over a network's BN-folded forward pass; see latency.h for the method.
 */
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "common/rng.h"
#include "common/util.h"
#include "trainer/latency.h"

static int compare_double(const void *a, const void *b) {
    double x = *(const double *)a, y = *(const double *)b;
    return x < y ? -1 : x > y;
}

/* Percentile q in [0,1] of sorted values, linear between order statistics. */
static double percentile(const double *sorted, int n, double q) {
    double rank = q * (n - 1);
    int lo = (int)floor(rank);
    int hi = lo + 1 < n ? lo + 1 : lo;
    double frac = rank - lo;
    return sorted[lo] + (sorted[hi] - sorted[lo]) * frac;
}

int nas_latency_summarize(const double *ms, int n, nas_latency_summary *out, nas_err *err) {
    if (n < 1) return nas_err_set(err, NAS_EINVAL, "latency: no timings to summarise");
    for (int i = 0; i < n; i++)
        if (!isfinite(ms[i]) || ms[i] < 0)
            return nas_err_set(err, NAS_EINVAL, "latency: timing %d is %g ms", i, ms[i]);
    double *sorted = malloc(sizeof *sorted * (size_t)n);
    if (!sorted) return nas_err_set(err, NAS_ENOMEM, "latency: out of memory");
    memcpy(sorted, ms, sizeof *sorted * (size_t)n);
    qsort(sorted, (size_t)n, sizeof *sorted, compare_double);
    int trim = (int)floor(n * NAS_LATENCY_TRIM_FRACTION);
    double sum = 0;
    for (int i = trim; i < n - trim; i++) sum += sorted[i];
    out->runs = n;
    out->kept = n - 2 * trim;
    out->mean_ms = sum / out->kept;
    out->p50_ms = percentile(sorted, n, 0.5);
    out->p90_ms = percentile(sorted, n, 0.9);
    out->min_ms = sorted[0];
    out->max_ms = sorted[n - 1];
    free(sorted);
    return 0;
}

int nas_latency_measure(nas_net *net, int batch, int warmup, int runs, nas_latency_summary *out,
                        nas_err *err) {
    if (batch < 1 || batch > nas_net_max_batch(net))
        return nas_err_set(err, NAS_EINVAL, "latency batch %d must be in [1, %d] for this network",
                           batch, nas_net_max_batch(net));
    if (warmup <= 0) warmup = NAS_LATENCY_WARMUP;
    if (runs <= 0) runs = NAS_LATENCY_RUNS;
    const nas_arch *arch = nas_net_arch(net);
    const nas_backend *be = nas_net_backend(net);
    size_t image = (size_t)arch->in_channels * arch->resolution * arch->resolution;
    float *input = malloc(sizeof(float) * image * (size_t)batch);
    double *timings = malloc(sizeof(double) * (size_t)runs);
    int rc = 0;
    if (!input || !timings) {
        rc = nas_err_set(err, NAS_ENOMEM, "latency: out of memory for a batch of %d", batch);
        goto done;
    }
    /* The values do not change the work done; a fixed seed keeps runs comparable. */
    nas_rng rng;
    nas_rng_seed(&rng, 12345);
    for (size_t i = 0; i < image * (size_t)batch; i++) input[i] = (float)nas_rng_normal(&rng);
    rc = nas_net_fold_bn(net, err);
    if (!rc) rc = nas_net_set_batch(net, input, NULL, batch, err);
    for (int i = 0; i < warmup && !rc; i++) rc = nas_net_forward(net, batch, NAS_MODE_FOLDED, err);
    if (!rc) rc = be->sync(be, err);
    for (int i = 0; i < runs && !rc; i++) {
        double start = nas_now_monotonic();
        rc = nas_net_forward(net, batch, NAS_MODE_FOLDED, err);
        if (!rc) rc = be->sync(be, err);
        timings[i] = (nas_now_monotonic() - start) * 1e3;
    }
    if (!rc) rc = nas_latency_summarize(timings, runs, out, err);
    if (rc) nas_err_prefix(err, "latency at batch %d", batch);
done:
    free(input);
    free(timings);
    return rc;
}
