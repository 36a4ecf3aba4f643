/*
 * cli/pareto.h - Pareto front, best-per-tier and hypervolume of (cost, score).
 *
 * Pure computation for `nas pareto` (no SQL, no I/O), so it is unit-tested on
 * hand-computed cases. A point has a cost x to MINIMISE (latency in ms, params,
 * MACs) and a score y to MAXIMISE (top-1). A point is on the front when no
 * other point has x <= its x and y >= its y with at least one strict; of exact
 * duplicates only the first (lowest index) is kept, so the front never lists
 * the same trade-off twice.
 *
 * Hypervolume (2-D): the area of the region dominated by the front and bounded
 * by the reference point (ref_x, ref_y), i.e. the union over front points p of
 * [p.x, ref_x] x [ref_y, p.y]. Points with x > ref_x or y < ref_y add nothing.
 * `nas pareto` uses ref_y = 0 (top-1 of 0) and ref_x = --hv-ref, else
 * --max-latency, else the experiment's largest latency budget, else the
 * largest latency among the results and
 * also prints it normalised by the reference box (ref_x - 0) x (1 - 0) when the
 * score is a fraction, so that runs with the same reference compare directly.
 */
#ifndef NAS_CLI_PARETO_H
#define NAS_CLI_PARETO_H

#include <stddef.h>
#include <stdint.h>

#include "common/error.h"

typedef struct nas_pareto_point {
    double x;   /* cost to minimise (e.g. latency ms) */
    double y;   /* score to maximise (e.g. top-1 in [0,1]) */
    int64_t id; /* caller's identity (job id); not used by the computation */
} nas_pareto_point;

/*
 * Computes the front of pts[0..n). Writes the indices of the front points into
 * front_idx (capacity n, caller-allocated) sorted by increasing x (hence
 * increasing y), and their count into *n_front. Points whose x or y is NaN are
 * ignored. Returns 0, or NAS_ENOMEM (err filled) when the sort buffer cannot be
 * allocated. O(n log n).
 */
int nas_pareto_front(const nas_pareto_point *pts, size_t n, size_t *front_idx, size_t *n_front,
                     nas_err *err);

/*
 * Hypervolume of a front (points sorted by increasing x as nas_pareto_front
 * returns them: front[i] = pts[front_idx[i]]) against (ref_x, ref_y).
 * Returns 0 for an empty front or when nothing dominates inside the box.
 */
double nas_pareto_hypervolume(const nas_pareto_point *pts, const size_t *front_idx, size_t n_front,
                              double ref_x, double ref_y);

/*
 * Best point with x <= bound among the front (sorted as above): returns its
 * position in front_idx, or -1 when no front point is within the bound. Since
 * the front is sorted by x with y increasing, that is the last one within it.
 */
long nas_pareto_best_within(const nas_pareto_point *pts, const size_t *front_idx, size_t n_front,
                            double bound);

#endif
