/*
 * search/acq.h - expected improvement and its maximisation over candidates.
 *
 * EI for maximisation: with imp = mu - best - xi and Z = imp / sigma,
 * EI = imp * Phi(Z) + sigma * phi(Z), and 0 where sigma is 0 (as LA-MCTS and
 * limbo). The maximiser scores a candidate set in one batch, then refines the
 * best few locally with NLopt L-BFGS on the analytic EI gradient inside
 * [0,1]^D, or inside the box start +- local_radius when that is below 1; a
 * refined point replaces its start only if its EI is higher and, when a
 * region is given, it still lies in the region. (In 20-d an unbounded
 * refinement often runs to a face of the cube, where the GP's variance is
 * largest, and a coordinate can stay stuck there: see bench/RESULTS.md.)
 */
#ifndef NAS_SEARCH_ACQ_H
#define NAS_SEARCH_ACQ_H

#include <stdbool.h>

#include "search/gp.h"

double nas_ei(double mean, double sd, double best, double xi);
/* dEI/dmean and dEI/dsd at the same point. */
void nas_ei_partials(double mean, double sd, double best, double xi, double *d_mean, double *d_sd);

/* What becomes of a refined point on a new face: kept (allow), dropped for
 * its start (discard), or its coordinates on new faces set back to the
 * start's and its EI recomputed (revert). */
enum { NAS_ACQ_FACES_ALLOW = 0, NAS_ACQ_FACES_DISCARD, NAS_ACQ_FACES_REVERT };

typedef bool (*nas_region_fn)(void *ctx, const double *x);

typedef struct nas_acq_options {
    double xi;        /* in the caller's units */
    int local_starts; /* candidates refined with L-BFGS (0 = none) */
    int local_evals;  /* EI evaluations per refinement */
    double local_radius; /* a refinement stays within +- this of its start in
                          * every coordinate (and in [0,1]); >= 1: anywhere */
    int faces;           /* NAS_ACQ_FACES_*: a refined point on a face of the
                          * cube (a coordinate at 0 or 1) its start was not on */
} nas_acq_options;

/* Picks the point of highest EI among m candidates (m x dims), refined as
 * above; in_region may be NULL. Writes the point to x_out and its EI. */
int nas_acq_maximise(const nas_gp *gp, const double *cands, int m, double best,
                     const nas_acq_options *opt, nas_region_fn in_region, void *region_ctx,
                     double *x_out, double *ei_out, nas_err *err);

#endif
