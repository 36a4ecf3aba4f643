/*
 * search/kmeans.c - k-means (see kmeans.h).
 */
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "search/kmeans.h"

static double sqdist(const double *a, const double *b, int dims) {
    double s = 0;
    for (int d = 0; d < dims; d++) s += (a[d] - b[d]) * (a[d] - b[d]);
    return s;
}

/* k-means++: first centre uniform, then each next one with probability
 * proportional to the squared distance to the nearest chosen centre. */
static void seed_centres(const double *x, int n, int dims, int k, nas_rng *rng, double *centres,
                         double *dmin) {
    int first = (int)nas_rng_below(rng, (uint64_t)n);
    memcpy(centres, x + (size_t)first * (size_t)dims, sizeof(double) * (size_t)dims);
    for (int i = 0; i < n; i++) dmin[i] = sqdist(x + (size_t)i * (size_t)dims, centres, dims);
    for (int c = 1; c < k; c++) {
        double total = 0;
        for (int i = 0; i < n; i++) total += dmin[i];
        int pick = (int)nas_rng_below(rng, (uint64_t)n);
        if (total > 0) {
            double r = nas_rng_uniform(rng) * total, acc = 0;
            for (int i = 0; i < n; i++) {
                acc += dmin[i];
                if (acc >= r) {
                    pick = i;
                    break;
                }
            }
        }
        double *cc = centres + (size_t)c * (size_t)dims;
        memcpy(cc, x + (size_t)pick * (size_t)dims, sizeof(double) * (size_t)dims);
        for (int i = 0; i < n; i++) {
            double d = sqdist(x + (size_t)i * (size_t)dims, cc, dims);
            if (d < dmin[i]) dmin[i] = d;
        }
    }
}

int nas_kmeans(const double *x, int n, int dims, int k, int n_init, int max_iter, double tol,
               nas_rng *rng, int *labels, double *inertia, nas_err *err) {
    if (n < 1 || k < 1 || dims < 1)
        return nas_err_set(err, NAS_EINVAL, "k-means needs points, dimensions and k >= 1");
    if (k > n) k = n;
    size_t cd = (size_t)k * (size_t)dims;
    double *centres = malloc(sizeof(double) * cd * 2);
    double *dmin = malloc(sizeof(double) * (size_t)n);
    int *lab = malloc(sizeof(int) * (size_t)n);
    int *count = malloc(sizeof(int) * (size_t)k);
    if (!centres || !dmin || !lab || !count) {
        free(centres), free(dmin), free(lab), free(count);
        return nas_err_set(err, NAS_ENOMEM, "out of memory in k-means");
    }
    double *sums = centres + cd;
    /* sklearn's tolerance: tol times the mean variance of the features */
    double var_mean = 0;
    for (int d = 0; d < dims; d++) {
        double m = 0, v = 0;
        for (int i = 0; i < n; i++) m += x[(size_t)i * (size_t)dims + (size_t)d];
        m /= n;
        for (int i = 0; i < n; i++) {
            double t = x[(size_t)i * (size_t)dims + (size_t)d] - m;
            v += t * t;
        }
        var_mean += v / n;
    }
    double shift_tol = tol * var_mean / dims;
    double best_inertia = INFINITY;
    for (int run = 0; run < (n_init > 0 ? n_init : 1); run++) {
        seed_centres(x, n, dims, k, rng, centres, dmin);
        double run_inertia = 0;
        for (int it = 0; it < (max_iter > 0 ? max_iter : 1); it++) {
            run_inertia = 0;
            for (int i = 0; i < n; i++) {
                const double *xi = x + (size_t)i * (size_t)dims;
                int arg = 0;
                double bd = INFINITY;
                for (int c = 0; c < k; c++) {
                    double d = sqdist(xi, centres + (size_t)c * (size_t)dims, dims);
                    if (d < bd) {
                        bd = d;
                        arg = c;
                    }
                }
                lab[i] = arg;
                run_inertia += bd;
            }
            memset(sums, 0, sizeof(double) * cd);
            memset(count, 0, sizeof(int) * (size_t)k);
            for (int i = 0; i < n; i++) {
                count[lab[i]]++;
                for (int d = 0; d < dims; d++)
                    sums[(size_t)lab[i] * (size_t)dims + (size_t)d] += x[(size_t)i * (size_t)dims + (size_t)d];
            }
            double shift = 0;
            for (int c = 0; c < k; c++) {
                if (count[c] == 0) continue; /* an empty cluster keeps its centre */
                for (int d = 0; d < dims; d++) {
                    double nv = sums[(size_t)c * (size_t)dims + (size_t)d] / count[c];
                    double *cv = &centres[(size_t)c * (size_t)dims + (size_t)d];
                    shift += (nv - *cv) * (nv - *cv);
                    *cv = nv;
                }
            }
            if (shift <= shift_tol) break;
        }
        if (run_inertia < best_inertia) {
            best_inertia = run_inertia;
            memcpy(labels, lab, sizeof(int) * (size_t)n);
        }
    }
    if (inertia) *inertia = best_inertia;
    free(centres), free(dmin), free(lab), free(count);
    return 0;
}
