/*
 * search/acq.c - expected improvement and its maximisation (see acq.h).
 */
#include <math.h>
#include <nlopt.h>
#include <stdlib.h>
#include <string.h>

#include "search/acq.h"

static double norm_pdf(double z) { return exp(-0.5 * z * z) / sqrt(2.0 * M_PI); }
static double norm_cdf(double z) { return 0.5 * erfc(-z / sqrt(2.0)); }

double nas_ei(double mean, double sd, double best, double xi) {
    if (!(sd > 0)) return 0.0;
    double imp = mean - best - xi, z = imp / sd;
    double ei = imp * norm_cdf(z) + sd * norm_pdf(z);
    return ei > 0 ? ei : 0.0;
}

void nas_ei_partials(double mean, double sd, double best, double xi, double *d_mean, double *d_sd) {
    if (!(sd > 0)) {
        *d_mean = *d_sd = 0;
        return;
    }
    double z = (mean - best - xi) / sd;
    *d_mean = norm_cdf(z);
    *d_sd = norm_pdf(z);
}

typedef struct local_ctx {
    const nas_gp *gp;
    double best, xi;
    double *dmean, *dvar;
    int failed;
} local_ctx;

static double local_objective(unsigned n, const double *x, double *grad, void *data) {
    local_ctx *c = data;
    nas_err err = {0};
    double mean, var;
    if (nas_gp_predict_grad(c->gp, x, &mean, &var, c->dmean, c->dvar, &err)) {
        c->failed = 1;
        if (grad) memset(grad, 0, sizeof(double) * n);
        return 0;
    }
    double sd = sqrt(var);
    double ei = nas_ei(mean, sd, c->best, c->xi);
    if (grad) {
        double dm, ds;
        nas_ei_partials(mean, sd, c->best, c->xi, &dm, &ds);
        for (unsigned d = 0; d < n; d++) grad[d] = dm * c->dmean[d] + ds * c->dvar[d] / (2.0 * sd);
    }
    return ei;
}

int nas_acq_maximise(const nas_gp *gp, const double *cands, int m, double best,
                     const nas_acq_options *opt, nas_region_fn in_region, void *region_ctx,
                     double *x_out, double *ei_out, nas_err *err) {
    int D = nas_gp_dims(gp);
    if (m <= 0) return nas_err_set(err, NAS_EINVAL, "expected improvement: no candidates");
    int starts = opt->local_starts < m ? opt->local_starts : m;
    double *mean = malloc(sizeof(double) * (size_t)m * 2);
    int *top = malloc(sizeof(int) * (size_t)(starts + 1));
    double *work = malloc(sizeof(double) * (size_t)D * 3);
    if (!mean || !top || !work) {
        free(mean), free(top), free(work);
        return nas_err_set(err, NAS_ENOMEM, "out of memory maximising expected improvement");
    }
    double *var = mean + m;
    int rc = nas_gp_predict(gp, cands, m, mean, var, err);
    if (rc) goto done;
    double *ei = var; /* reuse: var is not needed after this loop */
    for (int j = 0; j < m; j++) ei[j] = nas_ei(mean[j], sqrt(var[j]), best, opt->xi);
    /* the `starts` best candidates by EI (ties: lowest index), by partial selection */
    int chosen = 0;
    for (int s = 0; s < (starts > 0 ? starts : 1); s++) {
        int arg = -1;
        for (int j = 0; j < m; j++) {
            bool used = false;
            for (int t = 0; t < chosen; t++) used |= top[t] == j;
            if (!used && (arg < 0 || ei[j] > ei[arg])) arg = j;
        }
        if (arg < 0) break;
        top[chosen++] = arg;
    }
    int best_j = top[0];
    memcpy(x_out, cands + (size_t)best_j * (size_t)D, sizeof(double) * (size_t)D);
    double best_ei = ei[best_j];
    double *x = work, *lower = work + D, *upper = work + 2 * D;
    double *dmean = malloc(sizeof(double) * (size_t)D * 2);
    if (!dmean) {
        rc = nas_err_set(err, NAS_ENOMEM, "out of memory maximising expected improvement");
        goto done;
    }
    local_ctx ctx = {.gp = gp, .best = best, .xi = opt->xi, .dmean = dmean, .dvar = dmean + D};
    for (int s = 0; s < starts && opt->local_evals > 0; s++) {
        memcpy(x, cands + (size_t)top[s] * (size_t)D, sizeof(double) * (size_t)D);
        double r = opt->local_radius > 0 && opt->local_radius < 1 ? opt->local_radius : 1.0;
        for (int d = 0; d < D; d++) {
            lower[d] = x[d] - r > 0 ? x[d] - r : 0;
            upper[d] = x[d] + r < 1 ? x[d] + r : 1;
        }
        nlopt_opt o = nlopt_create(NLOPT_LD_LBFGS, (unsigned)D);
        if (!o) break;
        nlopt_set_lower_bounds(o, lower);
        nlopt_set_upper_bounds(o, upper);
        nlopt_set_max_objective(o, local_objective, &ctx);
        nlopt_set_maxeval(o, opt->local_evals);
        nlopt_set_xtol_rel(o, 1e-6);
        double f = 0;
        nlopt_result res = nlopt_optimize(o, x, &f);
        nlopt_destroy(o);
        if (ctx.failed || (res < 0 && res != NLOPT_ROUNDOFF_LIMITED)) continue;
        bool new_face = false;
        for (int d = 0; opt->faces != NAS_ACQ_FACES_ALLOW && d < D; d++) {
            double x0 = cands[(size_t)top[s] * (size_t)D + (size_t)d];
            if ((x[d] <= 0 && x0 > 0) || (x[d] >= 1 && x0 < 1)) {
                new_face = true;
                if (opt->faces == NAS_ACQ_FACES_REVERT) x[d] = x0;
            }
        }
        if (new_face && opt->faces == NAS_ACQ_FACES_REVERT) {
            f = local_objective((unsigned)D, x, NULL, &ctx);
            new_face = ctx.failed != 0;
        }
        if (f > best_ei && !new_face && (!in_region || in_region(region_ctx, x))) {
            best_ei = f;
            memcpy(x_out, x, sizeof(double) * (size_t)D);
        }
    }
    free(dmean);
    if (ei_out) *ei_out = best_ei;
done:
    free(mean), free(top), free(work);
    return rc;
}
