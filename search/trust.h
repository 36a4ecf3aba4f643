/*
 * search/trust.h - a TuRBO-style trust region (Eriksson et al., NeurIPS 2019)
 * for lamcts-bo's local candidates.
 *
 * A box of side L * w_d around a centre, w_d the GP length-scales
 * normalised to geometric mean 1 (long length-scale: wide side), L in
 * [length_min, length_max] of the unit cube. L follows TuRBO's rule: after
 * succ_tol observations in a row that improve the best value (by more than
 * 1e-3 |best|) it doubles (up to length_max); after fail_tol in a row that do
 * not, it halves; when it falls below length_min it restarts at length_init.
 *
 * L is a pure function of the told values in the order they were told
 * (nas_trust_length replays the rule), so the strategy keeps no state for it:
 * save/load and a coordinator restart give the same L. That is why it is
 * replayed rather than updated at each tell.
 */
#ifndef NAS_SEARCH_TRUST_H
#define NAS_SEARCH_TRUST_H

#include "common/rng.h"

typedef struct nas_trust_options {
    double length_init, length_min, length_max;
    int succ_tol, fail_tol;
} nas_trust_options;

/* Replays the rule over values v[0..n) (maximised, in the order told); the
 * first `skip` values (the initial design) only set the starting best. */
double nas_trust_length(const double *v, int n, int skip, const nas_trust_options *o);

/* Side weights from log length-scales (dims entries): w_d proportional to
 * exp(log_ls[d]), geometric mean 1. */
void nas_trust_weights(const double *log_ls, int dims, double *w);

/* One point of the box centre +- L w_d / 2, clipped to [0,1]^dims: each
 * coordinate is moved (uniform in its side) with probability `perturb`, at
 * least one always, and the others keep the centre's value. perturb = 1 is
 * the plain uniform box; TuRBO uses min(1, 20 / dims). Moving a few
 * coordinates at a time lets the search improve a 20-d point coordinate by
 * coordinate, where a uniform box point changes all 20 at once. */
void nas_trust_point(const double *centre, double length, const double *w, double perturb,
                     int dims, nas_rng *rng, double *x);

#endif
