/*
 * search/trust.c - TuRBO-style trust-region length and box (see trust.h).
 */
#include <math.h>
#include <stdbool.h>
#include <stdint.h>

#include "search/trust.h"

double nas_trust_length(const double *v, int n, int skip, const nas_trust_options *o) {
    double length = o->length_init, best = -INFINITY;
    int succ = 0, fail = 0;
    for (int i = 0; i < n; i++) {
        bool improved = v[i] > best + 1e-3 * fabs(best);
        if (v[i] > best) best = v[i];
        if (i < skip) continue;
        if (improved) {
            succ++;
            fail = 0;
        } else {
            fail++;
            succ = 0;
        }
        if (succ >= o->succ_tol) {
            length = fmin(2.0 * length, o->length_max);
            succ = 0;
        } else if (fail >= o->fail_tol) {
            length /= 2.0;
            fail = 0;
            if (length < o->length_min) length = o->length_init;
        }
    }
    return length;
}

void nas_trust_weights(const double *log_ls, int dims, double *w) {
    double mean_log = 0;
    for (int d = 0; d < dims; d++) mean_log += log_ls[d];
    mean_log /= dims;
    for (int d = 0; d < dims; d++) w[d] = exp(log_ls[d] - mean_log);
}

void nas_trust_point(const double *centre, double length, const double *w, double perturb,
                     int dims, nas_rng *rng, double *x) {
    int forced = (int)nas_rng_below(rng, (uint64_t)dims); /* moved whatever perturb says */
    for (int d = 0; d < dims; d++) {
        x[d] = centre[d];
        if (d != forced && perturb < 1 && nas_rng_uniform(rng) >= perturb) continue;
        double half = 0.5 * length * w[d];
        double lo = centre[d] - half < 0 ? 0 : centre[d] - half;
        double hi = centre[d] + half > 1 ? 1 : centre[d] + half;
        x[d] = lo + (hi - lo) * nas_rng_uniform(rng);
    }
}
