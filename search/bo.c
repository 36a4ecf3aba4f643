/*
 * search/bo.c - the Bayesian-optimisation core (see bo.h).
 */
#include <assert.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "search/bo.h"
#include "search/jsonio.h"
#include "search/lhs.h"

const char *const nas_bo_option_keys[] = {"init",          "candidates",  "local_starts",
                                          "local_evals",   "xi",          "gp_restarts",
                                          "gp_evals",      "gp_max_points", "gp_optimiser",
                                          "refit_every",   "parallel",    "output_warp", "local_radius", "ls_scale",
                                          "faces", NULL};

static double norm_cdf(double z) { return 0.5 * erfc(-z / sqrt(2.0)); }

/* Phi^-1(p) for p in (0, 1) by bisection: exact to 1e-12 and only called n
 * times per fit, so no rational approximation is needed. */
static double norm_quantile(double p) {
    double lo = -10, hi = 10;
    for (int it = 0; it < 60; it++) {
        double mid = 0.5 * (lo + hi);
        if (norm_cdf(mid) < p) lo = mid;
        else hi = mid;
    }
    return 0.5 * (lo + hi);
}

typedef struct ranked {
    double y;
    int i;
} ranked;

static int by_value(const void *a, const void *b) {
    double ya = ((const ranked *)a)->y, yb = ((const ranked *)b)->y;
    return (ya > yb) - (ya < yb);
}

int nas_bo_warp(int warp, double *y, int n, nas_err *err) {
    if (warp == NAS_BO_WARP_NONE || n < 2) return 0;
    if (warp == NAS_BO_WARP_LOG) {
        double top = -INFINITY, mean = 0, var = 0;
        for (int i = 0; i < n; i++) {
            top = y[i] > top ? y[i] : top;
            mean += y[i];
        }
        mean /= n;
        for (int i = 0; i < n; i++) var += (y[i] - mean) * (y[i] - mean);
        double scale = var > 0 ? 0.01 * sqrt(var / (n - 1)) : 1.0;
        for (int i = 0; i < n; i++) y[i] = -log1p((top - y[i]) / scale);
        return 0;
    }
    ranked *r = malloc(sizeof *r * (size_t)n);
    if (!r) return nas_err_set(err, NAS_ENOMEM, "out of memory warping BO outputs");
    for (int i = 0; i < n; i++) r[i] = (ranked){y[i], i};
    qsort(r, (size_t)n, sizeof *r, by_value);
    for (int a = 0; a < n;) { /* ties (e.g. imputed infeasible values) share their mean rank */
        int b = a;
        while (b + 1 < n && r[b + 1].y == r[a].y) b++;
        double q = norm_quantile((0.5 * (a + b) + 0.5) / n);
        for (int k = a; k <= b; k++) y[r[k].i] = q;
        a = b + 1;
    }
    free(r);
    return 0;
}

int nas_bo_core_init(nas_bo_core *c, const nas_vopt_params *p, int default_init,
                     double default_xi, double default_local_radius, int default_faces,
                     nas_err *err) {
    static const char *const parallel_names[] = {"kb", "cl-min", "cl-mean", NULL};
    static const char *const optimisers[] = {"lbfgs", "slsqp", NULL};
    static const char *const warps[] = {"none", "rank", "log", NULL};
    static const char *const faces[] = {"allow", "discard", "revert", NULL};
    memset(c, 0, sizeof *c);
    c->dims = p->dims;
    c->last_fit_n = -1;
    long init, cands, starts, evals, restarts, gp_evals, max_points, refit;
    int rc;
    const nas_cfg *cfg = p->cfg;
    const nas_cfg_node *o = p->options;
    if ((rc = nas_cfg_get_int(cfg, o, "init", false, default_init, 2, 100000, &init, err)) ||
        (rc = nas_cfg_get_int(cfg, o, "candidates", false, 2000, 1, 1000000, &cands, err)) ||
        (rc = nas_cfg_get_int(cfg, o, "local_starts", false, 3, 0, 1000, &starts, err)) ||
        (rc = nas_cfg_get_int(cfg, o, "local_evals", false, 30, 0, 100000, &evals, err)) ||
        (rc = nas_cfg_get_double(cfg, o, "xi", false, default_xi, 0.0, 10.0, &c->opt.xi, err)) ||
        (rc = nas_cfg_get_int(cfg, o, "gp_restarts", false, 1, 0, 100, &restarts, err)) ||
        (rc = nas_cfg_get_int(cfg, o, "gp_evals", false, 50, 1, 100000, &gp_evals, err)) ||
        (rc = nas_cfg_get_int(cfg, o, "gp_max_points", false, 150, 0, 1000000, &max_points, err)) ||
        (rc = nas_cfg_get_enum(cfg, o, "gp_optimiser", false, optimisers, 0, &c->opt.fit.use_slsqp,
                               err)) ||
        (rc = nas_cfg_get_int(cfg, o, "refit_every", false, 5, 1, 100000, &refit, err)) ||
        (rc = nas_cfg_get_enum(cfg, o, "parallel", false, parallel_names, NAS_BO_PARALLEL_KB,
                               &c->opt.parallel, err)) ||
        (rc = nas_cfg_get_enum(cfg, o, "output_warp", false, warps, NAS_BO_WARP_NONE,
                               &c->opt.output_warp, err)) ||
        (rc = nas_cfg_get_double(cfg, o, "local_radius", false, default_local_radius, 1e-6, 1.0,
                                 &c->opt.local_radius, err)) ||
        (rc = nas_cfg_get_enum(cfg, o, "faces", false, faces, default_faces, &c->opt.faces,
                               err)) ||
        (rc = nas_cfg_get_double(cfg, o, "ls_scale", false, 1.0, 0.01, 100.0, &c->opt.ls_scale,
                                 err)))
        return rc;
    c->opt.init = (int)init;
    c->opt.candidates = (int)cands;
    c->opt.local_starts = (int)starts;
    c->opt.local_evals = (int)evals;
    c->opt.fit.restarts = (int)restarts;
    c->opt.fit.max_evals = (int)gp_evals;
    c->opt.fit.max_points = (int)max_points;
    c->opt.refit_every = (int)refit;
    c->init_design = malloc(sizeof(double) * (size_t)c->opt.init * (size_t)c->dims);
    c->theta_fit = malloc(sizeof(double) * (size_t)(c->dims + 2) * 2); /* + use_theta's scratch */
    if (!c->init_design || !c->theta_fit)
        return nas_err_set(err, NAS_ENOMEM, "out of memory creating BO");
    if ((rc = nas_gp_new(c->dims, &c->gp, err))) return rc;
    nas_gp_get_theta(c->gp, c->theta_fit);
    return 0;
}

void nas_bo_core_release(nas_bo_core *c) {
    nas_gp_free(&c->gp);
    free(c->init_design);
    free(c->theta_fit);
    free(c->y);
    free(c->xs);
    memset(c, 0, sizeof *c);
}

int nas_bo_core_initial(nas_bo_core *c, const nas_vhist *h, nas_rng *rng, double *x, bool *used,
                        nas_err *err) {
    *used = false;
    if (h->n + h->n_pending >= c->opt.init || c->init_used >= c->opt.init) return 0;
    if (c->init_used == 0) {
        c->init_seed = nas_rng_u64(rng);
        nas_rng design_rng;
        nas_rng_seed(&design_rng, c->init_seed);
        if (nas_lhs(&design_rng, c->opt.init, c->dims, c->init_design))
            return nas_err_set(err, NAS_ENOMEM, "out of memory drawing the initial design");
    }
    memcpy(x, c->init_design + (size_t)c->init_used * (size_t)c->dims,
           sizeof(double) * (size_t)c->dims);
    c->init_used++;
    *used = true;
    return 0;
}

int nas_bo_core_model(nas_bo_core *c, const nas_vhist *h, double ls_scale, nas_rng *rng,
                      nas_err *err) {
    return nas_bo_core_model_subset(c, h, NULL, h->n, ls_scale, rng, err);
}

/* Puts the fitted hyperparameters into the GP, length-scales times scale. */
static void use_theta(nas_bo_core *c, double scale) {
    double *theta = c->theta_fit + c->dims + 2;
    memcpy(theta, c->theta_fit, sizeof(double) * (size_t)(c->dims + 2));
    for (int d = 0; d < c->dims; d++) theta[d] += log(scale);
    nas_gp_set_theta(c->gp, theta);
}

int nas_bo_core_model_subset(nas_bo_core *c, const nas_vhist *h, const int *idx, int m,
                             double ls_scale, nas_rng *rng, nas_err *err) {
    assert(ls_scale > 0);
    if (h->n < 2 || m < 2) return nas_err_set(err, NAS_ESTATE, "BO needs at least 2 observations");
    assert(m <= h->n);
    if (2 * h->n > c->y_cap) { /* y holds the values, then a subset's values */
        double *y = realloc(c->y, sizeof(double) * (size_t)h->n * 2);
        double *xs = y ? realloc(c->xs, sizeof(double) * (size_t)h->n * (size_t)c->dims) : NULL;
        if (y) c->y = y;
        if (xs) c->xs = xs;
        if (!y || !xs) return nas_err_set(err, NAS_ENOMEM, "out of memory in BO");
        c->y_cap = h->n * 2;
    }
    nas_vhist_model_values(h, c->y);
    int rc = nas_bo_warp(c->opt.output_warp, c->y, h->n, err);
    if (rc) return rc;
    const double *x = h->x;
    if (idx) { /* gather the subset, then move its values to the front */
        for (int j = 0; j < m; j++) {
            memcpy(c->xs + (size_t)j * (size_t)c->dims, h->x + (size_t)idx[j] * (size_t)c->dims,
                   sizeof(double) * (size_t)c->dims);
        }
        double *ys = c->y + h->n; /* the second half of the scratch */
        for (int j = 0; j < m; j++) ys[j] = c->y[idx[j]];
        memcpy(c->y, ys, sizeof(double) * (size_t)m);
        x = c->xs;
    }
    /* the fit starts from the fitted values; the scaled ones serve the proposal */
    bool refit = c->last_fit_n < 0 || h->n - c->last_fit_n >= c->opt.refit_every;
    use_theta(c, refit ? 1.0 : ls_scale);
    rc = nas_gp_set_data(c->gp, x, c->y, m, 1, h->n_pending, err);
    if (rc) return rc;
    if (refit) {
        rc = nas_gp_fit(c->gp, &c->opt.fit, rng, err);
        if (rc) return rc;
        nas_gp_get_theta(c->gp, c->theta_fit);
        c->last_fit_n = h->n;
        if (ls_scale != 1.0) { /* refactor with the scaled length-scales */
            use_theta(c, ls_scale);
            if ((rc = nas_gp_set_data(c->gp, x, c->y, m, 1, h->n_pending, err))) return rc;
        }
    }
    double liar = 0;
    if (c->opt.parallel != NAS_BO_PARALLEL_KB) {
        double lo = INFINITY, sum = 0;
        for (int i = 0; i < m; i++) {
            lo = c->y[i] < lo ? c->y[i] : lo;
            sum += c->y[i];
        }
        liar = c->opt.parallel == NAS_BO_PARALLEL_CL_MIN ? lo : sum / m;
    }
    for (int p = 0; p < h->n_pending; p++) {
        const double *xp = h->pending_x + (size_t)p * (size_t)c->dims;
        double value = liar;
        if (c->opt.parallel == NAS_BO_PARALLEL_KB &&
            (rc = nas_gp_predict(c->gp, xp, 1, &value, NULL, err)))
            return rc;
        if ((rc = nas_gp_add_fantasy(c->gp, xp, value, err))) return rc;
    }
    return 0;
}

int nas_bo_core_incumbent(nas_bo_core *c, const nas_vhist *h, const int *idx, int m, double *best,
                          nas_err *err) {
    int count = idx ? m : h->n;
    if (count <= 0) return nas_err_set(err, NAS_ESTATE, "BO incumbent: no observations");
    double *pts = malloc(sizeof(double) * (size_t)(count + 1) * (size_t)(c->dims + 1));
    if (!pts) return nas_err_set(err, NAS_ENOMEM, "out of memory in BO");
    double *mean = pts + (size_t)count * (size_t)c->dims;
    for (int j = 0; j < count; j++)
        memcpy(pts + (size_t)j * (size_t)c->dims, h->x + (size_t)(idx ? idx[j] : j) * (size_t)c->dims,
               sizeof(double) * (size_t)c->dims);
    int rc = nas_gp_predict(c->gp, pts, count, mean, NULL, err);
    if (!rc) {
        *best = -INFINITY;
        for (int j = 0; j < count; j++) *best = mean[j] > *best ? mean[j] : *best;
    }
    free(pts);
    return rc;
}

void nas_bo_core_acq_options(const nas_bo_core *c, nas_acq_options *a) {
    *a = (nas_acq_options){.xi = c->opt.xi * nas_gp_y_scale(c->gp),
                           .local_starts = c->opt.local_starts,
                           .local_evals = c->opt.local_evals,
                           .local_radius = c->opt.local_radius,
                           .faces = c->opt.faces};
}

int nas_bo_core_select(nas_bo_core *c, const double *cands, int m, double best,
                       const nas_acq_options *acq, nas_region_fn in_region, void *region_ctx,
                       double *x, nas_err *err) {
    nas_acq_options own;
    if (!acq) {
        nas_bo_core_acq_options(c, &own);
        acq = &own;
    }
    double ei;
    return nas_acq_maximise(c->gp, cands, m, best, acq, in_region, region_ctx, x, &ei, err);
}

int nas_bo_core_save(const nas_bo_core *c, cJSON *obj, nas_err *err) {
    int P = c->dims + 2;
    bool ok = nas_json_add_doubles(obj, "theta", c->theta_fit, P) &&
              cJSON_AddNumberToObject(obj, "last_fit_n", c->last_fit_n) &&
              nas_json_add_u64(obj, "init_seed", c->init_seed) &&
              cJSON_AddNumberToObject(obj, "init_used", c->init_used);
    return ok ? 0 : nas_err_set(err, NAS_ENOMEM, "out of memory saving BO state");
}

int nas_bo_core_load(nas_bo_core *c, const cJSON *obj, nas_err *err) {
    int P = c->dims + 2, rc, last_fit_n, init_used;
    uint64_t init_seed;
    double *theta = malloc(sizeof(double) * (size_t)P);
    if (!theta) return nas_err_set(err, NAS_ENOMEM, "out of memory loading BO state");
    if ((rc = nas_json_get_doubles(obj, "theta", theta, P, err)) ||
        (rc = nas_json_get_int(obj, "last_fit_n", &last_fit_n, err)) ||
        (rc = nas_json_get_u64(obj, "init_seed", &init_seed, err)) ||
        (rc = nas_json_get_int(obj, "init_used", &init_used, err))) {
        free(theta);
        return rc;
    }
    if (init_used < 0 || init_used > c->opt.init) {
        free(theta);
        return nas_err_set(err, NAS_EPARSE,
                           "strategy state: %d initial points used but the design has %d (was "
                           "'init' changed?)",
                           init_used, c->opt.init);
    }
    nas_gp_set_theta(c->gp, theta); /* clipped to the bounds, as a fit leaves them */
    nas_gp_get_theta(c->gp, c->theta_fit);
    free(theta);
    c->last_fit_n = last_fit_n;
    c->init_seed = init_seed;
    c->init_used = init_used;
    if (init_used > 0) {
        nas_rng design_rng;
        nas_rng_seed(&design_rng, init_seed);
        if (nas_lhs(&design_rng, c->opt.init, c->dims, c->init_design))
            return nas_err_set(err, NAS_ENOMEM, "out of memory drawing the initial design");
    }
    return 0;
}
