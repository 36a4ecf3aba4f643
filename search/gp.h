/*
 * search/gp.h - Gaussian process regression for Bayesian optimisation.
 *
 * Matern-5/2 kernel with one length-scale per dimension (ARD) on unit-cube
 * inputs, signal variance sf2 and Gaussian noise sn2; outputs are
 * standardised (zero mean, unit variance) when the data is set, and
 * predictions come back in the caller's units. Hyperparameters live in log
 * space, theta = [log l_1..log l_D, log sf2, log sn2], and are fitted by
 * maximising the log marginal likelihood with its analytic gradient through
 * NLopt's L-BFGS (SLSQP as an option) from the current values plus random
 * restarts inside the bounds. The Cholesky factor comes from LAPACKE; when it
 * fails the diagonal jitter grows tenfold from 1e-10*sf2 up to 1e-2*sf2.
 *
 * Fantasies (for asynchronous proposals): nas_gp_add_fantasy appends a point
 * with an assumed value and extends the factor by one row (O(n^2)) without
 * refitting anything, as the kriging believer / constant liar heuristics do.
 */
#ifndef NAS_SEARCH_GP_H
#define NAS_SEARCH_GP_H

#include "common/error.h"
#include "common/rng.h"

typedef struct nas_gp nas_gp;

typedef struct nas_gp_fit_options {
    int restarts;      /* random starts besides the current hyperparameters */
    int max_evals;     /* likelihood evaluations per start */
    int max_points;    /* fit on a random subset of at most this many points (0 = all) */
    int use_slsqp;     /* 0: NLOPT_LD_LBFGS, 1: NLOPT_LD_SLSQP */
} nas_gp_fit_options;

int nas_gp_new(int dims, nas_gp **out, nas_err *err);
void nas_gp_free(nas_gp **gp);
int nas_gp_dims(const nas_gp *gp);
int nas_gp_size(const nas_gp *gp); /* points including fantasies */

/* theta has dims + 2 entries (see top); values are clipped to the bounds. */
void nas_gp_set_theta(nas_gp *gp, const double *theta);
void nas_gp_get_theta(const nas_gp *gp, double *theta);
/* Bounds in log space (dims + 2 entries each). */
void nas_gp_theta_bounds(const nas_gp *gp, double *lower, double *upper);

/* Copies the data (x: n x dims in [0,1], y: n values), standardises y and
 * factors the kernel matrix with the current hyperparameters. room_for is how
 * many fantasies may follow without reallocation (more is allowed). With
 * standardise = 0 the outputs are used as given (mean 0, scale 1). */
int nas_gp_set_data(nas_gp *gp, const double *x, const double *y, int n, int standardise,
                    int room_for, nas_err *err);

/* Log marginal likelihood of the current data (standardised units) and, if
 * grad is not NULL, its gradient with respect to theta. Needs set_data. */
double nas_gp_log_likelihood(nas_gp *gp, double *grad, nas_err *err);

/* Maximises the log marginal likelihood over theta (see top); refactors. */
int nas_gp_fit(nas_gp *gp, const nas_gp_fit_options *opt, nas_rng *rng, nas_err *err);

/* Posterior mean and variance of the latent function at m points (caller's
 * units). var may be NULL. */
int nas_gp_predict(const nas_gp *gp, const double *xq, int m, double *mean, double *var,
                   nas_err *err);
/* Mean, variance and their gradients (dims entries each) at one point. */
int nas_gp_predict_grad(const nas_gp *gp, const double *x, double *mean, double *var,
                        double *dmean, double *dvar, nas_err *err);

/* Appends (x, y) (caller's units) without refitting; extends the factor. */
int nas_gp_add_fantasy(nas_gp *gp, const double *x, double y, nas_err *err);

/* Output standardisation, for callers working in standardised units. */
double nas_gp_y_mean(const nas_gp *gp);
double nas_gp_y_scale(const nas_gp *gp);

#endif
