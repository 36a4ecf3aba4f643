/*
 * search/lhs.c - Latin hypercube designs (see lhs.h).
 */
#include <stdlib.h>

#include "common/error.h"
#include "search/lhs.h"

int nas_lhs(nas_rng *rng, int n, int dims, double *out) {
    if (n <= 0) return 0;
    int *perm = malloc(sizeof(int) * (size_t)n);
    if (!perm) return NAS_ENOMEM;
    for (int d = 0; d < dims; d++) {
        for (int i = 0; i < n; i++) perm[i] = i;
        nas_rng_shuffle_int(rng, perm, n);
        for (int i = 0; i < n; i++) {
            double centre = (1.0 + 2.0 * perm[i]) / (2.0 * n);
            double jitter = (2.0 * nas_rng_uniform(rng) - 1.0) / (2.0 * n);
            double v = centre + jitter;
            out[(size_t)i * (size_t)dims + (size_t)d] = v < 0 ? 0 : (v > 1 ? 1 : v);
        }
    }
    free(perm);
    return 0;
}
