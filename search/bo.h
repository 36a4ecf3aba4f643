/*
 * search/bo.h - the Bayesian-optimisation core shared by `bo` and `lamcts-bo`.
 *
 * One object holds the GP and the BO options; a proposal goes: initial
 * design (a Latin hypercube of `init` points) while fewer than `init` points
 * are told or pending; then the GP is fitted to every told point (model
 * values, vhist.c), its hyperparameters refitted every `refit_every` new
 * observations (warm start + `gp_restarts` random starts), pending points are
 * added as fantasies (`parallel`: kb = kriging believer, the GP mean, the
 * default because it needs no constant; cl-min / cl-mean = constant liar),
 * and the caller's candidates are scored by EI and refined (acq.h).
 *
 * Options (all optional): init, candidates, local_starts, local_evals, xi
 * (in standardised output units), gp_restarts, gp_evals, gp_max_points,
 * gp_optimiser (lbfgs | slsqp), refit_every, parallel (kb | cl-min | cl-mean),
 * output_warp (none | rank | log; see nas_bo_warp), local_radius,
 * faces (allow | discard | revert; acq.h), ls_scale.
 *
 * ls_scale (default 1): the GP that scores candidates uses the fitted
 * length-scales times this factor; the fit itself, its warm starts and the
 * saved state keep the likelihood's values. Below 1 the posterior variance
 * grows faster away from the data, so EI takes shorter steps from the
 * samples and each pending point's fantasy covers a smaller neighbourhood
 * (lamcts-bo's reasons and measurements are in opt_lamcts.c).
 */
#ifndef NAS_SEARCH_BO_H
#define NAS_SEARCH_BO_H

#include <stdbool.h>

#include "search/acq.h"
#include "search/gp.h"
#include "search/vopt.h"

enum { NAS_BO_PARALLEL_KB = 0, NAS_BO_PARALLEL_CL_MIN, NAS_BO_PARALLEL_CL_MEAN };
enum { NAS_BO_WARP_NONE = 0, NAS_BO_WARP_RANK, NAS_BO_WARP_LOG };

typedef struct nas_bo_options {
    int init;
    int candidates;
    int local_starts, local_evals;
    double local_radius;
    int faces; /* NAS_ACQ_FACES_* */
    double xi;
    nas_gp_fit_options fit;
    int refit_every;
    int parallel;
    int output_warp; /* NAS_BO_WARP_* */
    double ls_scale; /* the scoring GP's length-scales = fitted ones x this */
} nas_bo_options;

typedef struct nas_bo_core {
    int dims;
    nas_bo_options opt;
    nas_gp *gp;
    int last_fit_n;     /* observations at the last hyperparameter fit; -1 = never */
    double *theta_fit;  /* the likelihood's hyperparameters (dims + 2; gp.h), unscaled;
                         * followed by dims + 2 of scratch */
    uint64_t init_seed; /* the initial design is regenerated from this */
    int init_used;      /* points of the initial design handed out */
    double *init_design;
    double *y;          /* scratch: model values (y_cap entries) */
    double *xs;         /* scratch: a subset's inputs (y_cap / 2 rows; a subset has at most n) */
    int y_cap;
} nas_bo_core;

/* The option keys the core reads (NULL-terminated), for callers that merge
 * them with their own before nas_cfg_check_keys. */
extern const char *const nas_bo_option_keys[];

/* Reads the core's options from p (keys are not checked here); the caller
 * gives the defaults that differ between bo and lamcts-bo. */
int nas_bo_core_init(nas_bo_core *c, const nas_vopt_params *p, int default_init,
                     double default_xi, double default_local_radius, int default_faces,
                     nas_err *err);
void nas_bo_core_release(nas_bo_core *c);

/* Transforms the n model values the GP is fitted to, in place (maximised;
 * order kept): rank = the Gaussian copula Phi^-1((rank + 1/2) / n), ties
 * sharing their mean rank; log = -log(1 + (max - y) / (0.01 sd)), which
 * stretches the differences among the best values; none leaves them. Both
 * make the GP resolve the top of the distribution instead of fitting its
 * extremes. Returns 0 or NAS_ENOMEM. */
int nas_bo_warp(int warp, double *y, int n, nas_err *err);

/* If the initial design is not finished, writes its next point and sets *used. */
int nas_bo_core_initial(nas_bo_core *c, const nas_vhist *h, nas_rng *rng, double *x, bool *used,
                        nas_err *err);
/* Fits the GP to h (refitting hyperparameters when due), sets its
 * length-scales to the fitted ones times ls_scale (the option's value, or the
 * caller's own choice, > 0) and adds the pending points as fantasies. Fails
 * with NAS_ESTATE when fewer than 2 points are told. */
int nas_bo_core_model(nas_bo_core *c, const nas_vhist *h, double ls_scale, nas_rng *rng,
                      nas_err *err);
/* The same with the GP fitted to the told points idx[0..m) only (m >= 2;
 * idx NULL = all, m = h->n): a local model around part of the space. */
int nas_bo_core_model_subset(nas_bo_core *c, const nas_vhist *h, const int *idx, int m,
                             double ls_scale, nas_rng *rng, nas_err *err);
/* Incumbent for EI: the largest posterior mean over told points idx[0..m)
 * (all told points when idx is NULL), as LA-MCTS and limbo use. */
int nas_bo_core_incumbent(nas_bo_core *c, const nas_vhist *h, const int *idx, int m, double *best,
                          nas_err *err);
/* The acquisition options of the core's own settings (xi in the GP's
 * current output units), for a caller that changes some before select. */
void nas_bo_core_acq_options(const nas_bo_core *c, nas_acq_options *a);
/* EI maximisation over candidates (see acq.h) with the options acq, or the
 * core's own (nas_bo_core_acq_options) when acq is NULL. */
int nas_bo_core_select(nas_bo_core *c, const double *cands, int m, double best,
                       const nas_acq_options *acq, nas_region_fn in_region, void *region_ctx,
                       double *x, nas_err *err);

int nas_bo_core_save(const nas_bo_core *c, cJSON *obj, nas_err *err);
int nas_bo_core_load(nas_bo_core *c, const cJSON *obj, nas_err *err);

#endif
