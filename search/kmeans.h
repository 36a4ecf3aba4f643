/*
 * search/kmeans.h - k-means clustering (k-means++ seeding, Lloyd iterations).
 *
 * As sklearn's KMeans that LA-MCTS calls: k-means++ initialisation, at most
 * max_iter Lloyd iterations, stop when the centres move less than tol times
 * the mean per-feature variance (sklearn's relative tolerance), and the best
 * of n_init runs by inertia (sum of squared distances to the centres).
 */
#ifndef NAS_SEARCH_KMEANS_H
#define NAS_SEARCH_KMEANS_H

#include "common/error.h"
#include "common/rng.h"

/* x: n x dims. labels: n entries in [0, k). inertia may be NULL. */
int nas_kmeans(const double *x, int n, int dims, int k, int n_init, int max_iter, double tol,
               nas_rng *rng, int *labels, double *inertia, nas_err *err);

#endif
