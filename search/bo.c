/*
 * search/bo.c - the Bayesian-optimisation core (see bo.h).
 */
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "search/bo.h"
#include "search/jsonio.h"
#include "search/lhs.h"

const char *const nas_bo_option_keys[] = {"init",          "candidates",  "local_starts",
                                          "local_evals",   "xi",          "gp_restarts",
                                          "gp_evals",      "gp_max_points", "gp_optimiser",
                                          "refit_every",   "parallel",    NULL};

int nas_bo_core_init(nas_bo_core *c, const nas_vopt_params *p, int default_init,
                     double default_xi, nas_err *err) {
    static const char *const parallel_names[] = {"kb", "cl-min", "cl-mean", NULL};
    static const char *const optimisers[] = {"lbfgs", "slsqp", NULL};
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
                               &c->opt.parallel, err)))
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
    if (!c->init_design) return nas_err_set(err, NAS_ENOMEM, "out of memory creating BO");
    return nas_gp_new(c->dims, &c->gp, err);
}

void nas_bo_core_release(nas_bo_core *c) {
    nas_gp_free(&c->gp);
    free(c->init_design);
    free(c->y);
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

int nas_bo_core_model(nas_bo_core *c, const nas_vhist *h, nas_rng *rng, nas_err *err) {
    if (h->n < 2) return nas_err_set(err, NAS_ESTATE, "BO needs at least 2 observations");
    if (h->n > c->y_cap) {
        double *y = realloc(c->y, sizeof(double) * (size_t)h->n * 2);
        if (!y) return nas_err_set(err, NAS_ENOMEM, "out of memory in BO");
        c->y = y;
        c->y_cap = h->n * 2;
    }
    nas_vhist_model_values(h, c->y);
    int rc = nas_gp_set_data(c->gp, h->x, c->y, h->n, 1, h->n_pending, err);
    if (rc) return rc;
    if (c->last_fit_n < 0 || h->n - c->last_fit_n >= c->opt.refit_every) {
        rc = nas_gp_fit(c->gp, &c->opt.fit, rng, err);
        if (rc) return rc;
        c->last_fit_n = h->n;
    }
    double liar = 0;
    if (c->opt.parallel != NAS_BO_PARALLEL_KB) {
        double lo = INFINITY, sum = 0;
        for (int i = 0; i < h->n; i++) {
            lo = c->y[i] < lo ? c->y[i] : lo;
            sum += c->y[i];
        }
        liar = c->opt.parallel == NAS_BO_PARALLEL_CL_MIN ? lo : sum / h->n;
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

int nas_bo_core_select(nas_bo_core *c, const double *cands, int m, double best,
                       nas_region_fn in_region, void *region_ctx, double *x, nas_err *err) {
    nas_acq_options a = {.xi = c->opt.xi * nas_gp_y_scale(c->gp),
                         .local_starts = c->opt.local_starts,
                         .local_evals = c->opt.local_evals};
    double ei;
    return nas_acq_maximise(c->gp, cands, m, best, &a, in_region, region_ctx, x, &ei, err);
}

int nas_bo_core_save(const nas_bo_core *c, cJSON *obj, nas_err *err) {
    int P = c->dims + 2;
    double *theta = malloc(sizeof(double) * (size_t)P);
    if (!theta) return nas_err_set(err, NAS_ENOMEM, "out of memory saving BO state");
    nas_gp_get_theta(c->gp, theta);
    bool ok = nas_json_add_doubles(obj, "theta", theta, P) &&
              cJSON_AddNumberToObject(obj, "last_fit_n", c->last_fit_n) &&
              nas_json_add_u64(obj, "init_seed", c->init_seed) &&
              cJSON_AddNumberToObject(obj, "init_used", c->init_used);
    free(theta);
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
    nas_gp_set_theta(c->gp, theta);
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
