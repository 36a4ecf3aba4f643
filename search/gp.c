/*
 * search/gp.c - Matern-5/2 ARD Gaussian process (see gp.h).
 *
 * Storage: row-major; the Cholesky factor L lives in a cap x cap buffer
 * (leading dimension cap) so fantasies can extend it by one row in place.
 * Bounds follow TuRBO's (Eriksson et al. 2019) for unit-cube inputs and
 * standardised outputs: length-scales [0.005, 2], signal variance [0.05, 20],
 * noise [5e-4, 0.2]: wide enough for smooth and rugged functions, narrow
 * enough that the likelihood cannot run off to degenerate fits.
 */
#include <cblas.h>
#include <lapacke.h>
#include <math.h>
#include <nlopt.h>
#include <stdlib.h>
#include <string.h>

#include "search/fastexp.h"
#include "search/gp.h"

#define SQRT5 2.23606797749978969641
#define LS_MIN 0.005
#define LS_MAX 2.0
#define SF2_MIN 0.05
#define SF2_MAX 20.0
#define SN2_MIN 5e-4
#define SN2_MAX 0.2
#define LS_START 0.5
#define SF2_START 1.0
#define SN2_START 5e-3

struct nas_gp {
    int dims, n, cap;
    double *x;       /* cap x dims */
    double *xt;      /* dims x cap: x transposed, so that distance loops run over points
                      * (vectorised, no horizontal sums) */
    double *ys;      /* cap, standardised outputs */
    double y_mean, y_scale;
    double *theta;   /* dims + 2 */
    double *inv_ls2; /* 1 / l_d^2 */
    double sf2, sn2, jitter;
    double *L;       /* cap x cap, lower triangle used */
    double *alpha;   /* K^-1 ys */
    double *work;    /* cap: scratch vector */
    int factored;
};

static double clampd(double v, double lo, double hi) { return v < lo ? lo : (v > hi ? hi : v); }

int nas_gp_new(int dims, nas_gp **out, nas_err *err) {
    *out = NULL;
    nas_gp *gp = calloc(1, sizeof *gp);
    if (!gp) return nas_err_set(err, NAS_ENOMEM, "out of memory creating a Gaussian process");
    gp->dims = dims;
    gp->theta = malloc(sizeof(double) * (size_t)(dims + 2));
    gp->inv_ls2 = malloc(sizeof(double) * (size_t)dims);
    if (!gp->theta || !gp->inv_ls2) {
        nas_gp_free(&gp);
        return nas_err_set(err, NAS_ENOMEM, "out of memory creating a Gaussian process");
    }
    for (int d = 0; d < dims; d++) gp->theta[d] = log(LS_START);
    gp->theta[dims] = log(SF2_START);
    gp->theta[dims + 1] = log(SN2_START);
    nas_gp_set_theta(gp, gp->theta);
    gp->y_scale = 1.0;
    *out = gp;
    return 0;
}

void nas_gp_free(nas_gp **gp) {
    if (!gp || !*gp) return;
    nas_gp *g = *gp;
    free(g->x);
    free(g->xt);
    free(g->ys);
    free(g->theta);
    free(g->inv_ls2);
    free(g->L);
    free(g->alpha);
    free(g->work);
    free(g);
    *gp = NULL;
}

int nas_gp_dims(const nas_gp *gp) { return gp->dims; }
int nas_gp_size(const nas_gp *gp) { return gp->n; }
double nas_gp_y_mean(const nas_gp *gp) { return gp->y_mean; }
double nas_gp_y_scale(const nas_gp *gp) { return gp->y_scale; }

void nas_gp_theta_bounds(const nas_gp *gp, double *lower, double *upper) {
    for (int d = 0; d < gp->dims; d++) {
        lower[d] = log(LS_MIN);
        upper[d] = log(LS_MAX);
    }
    lower[gp->dims] = log(SF2_MIN);
    upper[gp->dims] = log(SF2_MAX);
    lower[gp->dims + 1] = log(SN2_MIN);
    upper[gp->dims + 1] = log(SN2_MAX);
}

void nas_gp_set_theta(nas_gp *gp, const double *theta) {
    int D = gp->dims;
    for (int d = 0; d < D; d++) {
        gp->theta[d] = clampd(theta[d], log(LS_MIN), log(LS_MAX));
        gp->inv_ls2[d] = exp(-2.0 * gp->theta[d]);
    }
    gp->theta[D] = clampd(theta[D], log(SF2_MIN), log(SF2_MAX));
    gp->theta[D + 1] = clampd(theta[D + 1], log(SN2_MIN), log(SN2_MAX));
    gp->sf2 = exp(gp->theta[D]);
    gp->sn2 = exp(gp->theta[D + 1]);
    gp->factored = 0;
}

void nas_gp_get_theta(const nas_gp *gp, double *theta) {
    memcpy(theta, gp->theta, sizeof(double) * (size_t)(gp->dims + 2));
}

/* Column i of the transposed inputs. */
static void set_column(nas_gp *gp, int i, const double *x) {
    for (int d = 0; d < gp->dims; d++) gp->xt[(size_t)d * (size_t)gp->cap + (size_t)i] = x[d];
}

/* r[i] = scaled distance between a and the data point i < n. Every loop runs
 * over points, so all of them vectorise (the sum over d is in the same order
 * as a loop over d per point). */
static void scaled_dists(const nas_gp *gp, const double *a, int n, double *r) {
    for (int i = 0; i < n; i++) r[i] = 0.0;
    for (int d = 0; d < gp->dims; d++) {
        const double *col = gp->xt + (size_t)d * (size_t)gp->cap;
        double ad = a[d], w = gp->inv_ls2[d];
        for (int i = 0; i < n; i++) {
            double t = ad - col[i];
            r[i] += t * t * w;
        }
    }
    for (int i = 0; i < n; i++) r[i] = sqrt(r[i]);
}

/* k[i] = sf2 (1 + sqrt5 r + 5/3 r^2) e^{-sqrt5 r}, the Matern-5/2 kernel of
 * the scaled distances r[i] (in place allowed). */
static void matern52_row(double sf2, const double *r, int n, double *k) {
    for (int i = 0; i < n; i++)
        k[i] = sf2 * (1.0 + SQRT5 * r[i] + (5.0 / 3.0) * r[i] * r[i]) * nas_exp(-SQRT5 * r[i]);
}

static int reserve(nas_gp *gp, int cap, nas_err *err) {
    if (cap <= gp->cap) return 0;
    double *x = realloc(gp->x, sizeof(double) * (size_t)cap * (size_t)gp->dims);
    if (x) gp->x = x;
    double *ys = realloc(gp->ys, sizeof(double) * (size_t)cap);
    if (ys) gp->ys = ys;
    double *alpha = realloc(gp->alpha, sizeof(double) * (size_t)cap);
    if (alpha) gp->alpha = alpha;
    double *work = realloc(gp->work, sizeof(double) * (size_t)cap);
    if (work) gp->work = work;
    double *L = malloc(sizeof(double) * (size_t)cap * (size_t)cap);
    double *xt = malloc(sizeof(double) * (size_t)cap * (size_t)gp->dims);
    if (!x || !ys || !alpha || !work || !L || !xt) {
        free(L);
        free(xt);
        return nas_err_set(err, NAS_ENOMEM, "out of memory growing a Gaussian process to %d points",
                           cap);
    }
    if (gp->L) /* keep the factor (rows 0..n-1) under the new leading dimension */
        for (int i = 0; i < gp->n; i++)
            memcpy(L + (size_t)i * (size_t)cap, gp->L + (size_t)i * (size_t)gp->cap,
                   sizeof(double) * (size_t)(i + 1));
    for (int d = 0; d < gp->dims; d++)
        if (gp->xt) memcpy(xt + (size_t)d * (size_t)cap, gp->xt + (size_t)d * (size_t)gp->cap,
                           sizeof(double) * (size_t)gp->n);
    free(gp->xt);
    gp->xt = xt;
    free(gp->L);
    gp->L = L;
    gp->cap = cap;
    return 0;
}

static void solve_alpha(nas_gp *gp) {
    memcpy(gp->alpha, gp->ys, sizeof(double) * (size_t)gp->n);
    cblas_dtrsv(CblasRowMajor, CblasLower, CblasNoTrans, CblasNonUnit, gp->n, gp->L, gp->cap,
                gp->alpha, 1);
    cblas_dtrsv(CblasRowMajor, CblasLower, CblasTrans, CblasNonUnit, gp->n, gp->L, gp->cap,
                gp->alpha, 1);
}

/* Builds K + (sn2 + jitter) I into L and factors it, growing the jitter on failure. */
static int factor(nas_gp *gp, nas_err *err) {
    int n = gp->n, ld = gp->cap;
    if (n == 0) {
        gp->factored = 1;
        return 0;
    }
    for (double jitter = 1e-10 * gp->sf2; jitter <= 1e-2 * gp->sf2 * 1.0001; jitter *= 10) {
        for (int i = 0; i < n; i++) {
            const double *xi = gp->x + (size_t)i * (size_t)gp->dims;
            double *row = gp->L + (size_t)i * (size_t)ld;
            scaled_dists(gp, xi, i, row);
            matern52_row(gp->sf2, row, i, row);
            row[i] = gp->sf2 + gp->sn2 + jitter;
        }
        /* row-major lower is column-major upper: no transposed copy in LAPACKE */
        if (LAPACKE_dpotrf(LAPACK_COL_MAJOR, 'U', n, gp->L, ld) == 0) {
            gp->jitter = jitter;
            solve_alpha(gp);
            gp->factored = 1;
            return 0;
        }
    }
    return nas_err_set(err, NAS_ERANGE,
                       "Gaussian process: the kernel matrix of %d points is not positive definite "
                       "even with jitter 1e-2 (duplicate points with very different values?)",
                       n);
}

int nas_gp_set_data(nas_gp *gp, const double *x, const double *y, int n, int standardise,
                    int room_for, nas_err *err) {
    gp->n = 0;
    int rc = reserve(gp, n + (room_for > 0 ? room_for : 0) + 1, err);
    if (rc) return rc;
    memcpy(gp->x, x, sizeof(double) * (size_t)n * (size_t)gp->dims);
    for (int i = 0; i < n; i++) set_column(gp, i, x + (size_t)i * (size_t)gp->dims);
    double mean = 0, var = 0;
    if (standardise && n > 0) {
        for (int i = 0; i < n; i++) mean += y[i];
        mean /= n;
        for (int i = 0; i < n; i++) var += (y[i] - mean) * (y[i] - mean);
        var = n > 1 ? var / (n - 1) : 0;
    }
    gp->y_mean = standardise ? mean : 0.0;
    gp->y_scale = standardise && var > 1e-24 ? sqrt(var) : 1.0;
    for (int i = 0; i < n; i++) gp->ys[i] = (y[i] - gp->y_mean) / gp->y_scale;
    gp->n = n;
    return factor(gp, err);
}

double nas_gp_log_likelihood(nas_gp *gp, double *grad, nas_err *err) {
    int n = gp->n, D = gp->dims;
    if (!gp->factored && factor(gp, err)) return -INFINITY;
    double lml = -0.5 * n * log(2.0 * M_PI);
    for (int i = 0; i < n; i++) {
        lml -= 0.5 * gp->ys[i] * gp->alpha[i];
        lml -= log(gp->L[(size_t)i * (size_t)gp->cap + (size_t)i]);
    }
    if (!grad) return lml;
    memset(grad, 0, sizeof(double) * (size_t)(D + 2));
    if (n == 0) return lml;
    /* W = alpha alpha^T - K^-1; dLML/dtheta_j = 0.5 tr(W dK/dtheta_j) */
    double *W = malloc(sizeof(double) * (size_t)n * (size_t)n);
    double *M = malloc(sizeof(double) * (size_t)n * (size_t)n);
    double *MX = malloc(sizeof(double) * (size_t)n * (size_t)D);
    double *rowsum = malloc(sizeof(double) * (size_t)n);
    if (!W || !M || !MX || !rowsum) {
        free(W), free(M), free(MX), free(rowsum);
        nas_err_set(err, NAS_ENOMEM, "out of memory in the likelihood gradient");
        return -INFINITY;
    }
    for (int i = 0; i < n; i++)
        memcpy(W + (size_t)i * (size_t)n, gp->L + (size_t)i * (size_t)gp->cap,
               sizeof(double) * (size_t)(i + 1));
    if (LAPACKE_dpotri(LAPACK_COL_MAJOR, 'U', n, W, n) != 0) { /* see factor() */
        free(W), free(M), free(MX), free(rowsum);
        nas_err_set(err, NAS_ERANGE, "Gaussian process: inverting the kernel matrix failed");
        return -INFINITY;
    }
    double grad_sf2 = 0, trace_w = 0;
    for (int i = 0; i < n; i++) {
        const double *xi = gp->x + (size_t)i * (size_t)D;
        double *r = rowsum, *e = MX; /* scratch until the row sums and M X are formed below */
        scaled_dists(gp, xi, i, r);
        r[i] = 0.0;
        for (int j = 0; j <= i; j++) e[j] = nas_exp(-SQRT5 * r[j]); /* one exp for both terms */
        for (int j = 0; j <= i; j++) {
            double w = gp->alpha[i] * gp->alpha[j] - W[(size_t)i * (size_t)n + (size_t)j];
            double kf = gp->sf2 * (1.0 + SQRT5 * r[j] + (5.0 / 3.0) * r[j] * r[j]) * e[j];
            double m = w * gp->sf2 * (5.0 / 3.0) * (1.0 + SQRT5 * r[j]) * e[j];
            double mult = i == j ? 1.0 : 2.0;
            grad_sf2 += mult * w * kf;
            if (i == j) trace_w += w;
            M[(size_t)i * (size_t)n + (size_t)j] = m;
            M[(size_t)j * (size_t)n + (size_t)i] = m;
        }
    }
    /* sum_ij M_ij (x_id - x_jd)^2 = 2 sum_i x_id^2 rowsum_i - 2 sum_i x_id (M X)_id */
    cblas_dgemm(CblasRowMajor, CblasNoTrans, CblasNoTrans, n, D, n, 1.0, M, n, gp->x, D, 0.0, MX, D);
    for (int i = 0; i < n; i++) {
        double s = 0;
        for (int j = 0; j < n; j++) s += M[(size_t)i * (size_t)n + (size_t)j];
        rowsum[i] = s;
    }
    for (int d = 0; d < D; d++) {
        double s = 0;
        for (int i = 0; i < n; i++) {
            double xid = gp->x[(size_t)i * (size_t)D + (size_t)d];
            s += 2.0 * xid * xid * rowsum[i] - 2.0 * xid * MX[(size_t)i * (size_t)D + (size_t)d];
        }
        grad[d] = 0.5 * s * gp->inv_ls2[d];
    }
    grad[D] = 0.5 * grad_sf2;
    grad[D + 1] = 0.5 * gp->sn2 * trace_w; /* dK/dlog sn2 = sn2 I (jitter is not a parameter) */
    free(W), free(M), free(MX), free(rowsum);
    return lml;
}

typedef struct fit_ctx {
    nas_gp *gp;
    double best;
    double *best_theta;
    int failed;
} fit_ctx;

static double fit_objective(unsigned n, const double *theta, double *grad, void *data) {
    fit_ctx *c = data;
    nas_err err = {0};
    nas_gp_set_theta(c->gp, theta);
    double lml = nas_gp_log_likelihood(c->gp, grad, &err);
    if (!isfinite(lml)) {
        if (grad) memset(grad, 0, sizeof(double) * n);
        c->failed = 1;
        return -1e300;
    }
    if (lml > c->best) {
        c->best = lml;
        memcpy(c->best_theta, theta, sizeof(double) * n);
    }
    return lml;
}

int nas_gp_fit(nas_gp *gp, const nas_gp_fit_options *opt, nas_rng *rng, nas_err *err) {
    int D = gp->dims, P = D + 2, n = gp->n, rc = 0;
    if (n < 2) return factor(gp, err);
    nas_gp *fit_gp = gp;
    nas_gp *subset = NULL;
    double *lower = malloc(sizeof(double) * (size_t)P * 4);
    if (!lower) return nas_err_set(err, NAS_ENOMEM, "out of memory fitting a Gaussian process");
    double *upper = lower + P, *theta = lower + 2 * P, *best_theta = lower + 3 * P;
    if (opt->max_points > 0 && n > opt->max_points) {
        /* a random subset keeps the O(n^3) likelihood cheap; theta transfers */
        int m = opt->max_points;
        int *idx = malloc(sizeof(int) * (size_t)n);
        double *sx = malloc(sizeof(double) * (size_t)m * (size_t)D);
        double *sy = malloc(sizeof(double) * (size_t)m);
        if (!idx || !sx || !sy || nas_gp_new(D, &subset, err)) {
            free(idx), free(sx), free(sy), free(lower);
            return nas_err_set(err, NAS_ENOMEM, "out of memory fitting a Gaussian process");
        }
        for (int i = 0; i < n; i++) idx[i] = i;
        for (int i = 0; i < m; i++) {
            int j = i + (int)nas_rng_below(rng, (uint64_t)(n - i));
            int t = idx[i];
            idx[i] = idx[j];
            idx[j] = t;
            memcpy(sx + (size_t)i * (size_t)D, gp->x + (size_t)idx[i] * (size_t)D,
                   sizeof(double) * (size_t)D);
            sy[i] = gp->ys[idx[i]];
        }
        nas_gp_set_theta(subset, gp->theta);
        rc = nas_gp_set_data(subset, sx, sy, m, 0, 0, err);
        free(idx), free(sx), free(sy);
        if (rc) {
            nas_gp_free(&subset);
            free(lower);
            return rc;
        }
        fit_gp = subset;
    }
    nas_gp_theta_bounds(gp, lower, upper);
    fit_ctx ctx = {.gp = fit_gp, .best = -INFINITY, .best_theta = best_theta};
    nas_gp_get_theta(gp, best_theta);
    for (int start = 0; start <= opt->restarts; start++) {
        if (start == 0) {
            nas_gp_get_theta(gp, theta);
        } else {
            for (int p = 0; p < P; p++) theta[p] = lower[p] + (upper[p] - lower[p]) * nas_rng_uniform(rng);
        }
        nlopt_opt o = nlopt_create(opt->use_slsqp ? NLOPT_LD_SLSQP : NLOPT_LD_LBFGS, (unsigned)P);
        if (!o) {
            rc = nas_err_set(err, NAS_ENOMEM, "NLopt could not create an optimiser");
            break;
        }
        nlopt_set_lower_bounds(o, lower);
        nlopt_set_upper_bounds(o, upper);
        nlopt_set_max_objective(o, fit_objective, &ctx);
        nlopt_set_maxeval(o, opt->max_evals > 0 ? opt->max_evals : 50);
        nlopt_set_ftol_rel(o, 1e-6);
        double f;
        nlopt_optimize(o, theta, &f); /* failures just end this start; ctx keeps the best seen */
        nlopt_destroy(o);
    }
    nas_gp_free(&subset);
    if (!rc) {
        nas_gp_set_theta(gp, best_theta);
        rc = factor(gp, err);
    }
    free(lower);
    return rc;
}

int nas_gp_predict(const nas_gp *gp, const double *xq, int m, double *mean, double *var,
                   nas_err *err) {
    int n = gp->n, D = gp->dims;
    if (n == 0) {
        for (int j = 0; j < m; j++) {
            mean[j] = gp->y_mean;
            if (var) var[j] = gp->sf2 * gp->y_scale * gp->y_scale;
        }
        return 0;
    }
    /* Many queries: r^2 = |q|_w^2 + |x_i|_w^2 - 2 q.W.x_i with the cross terms
     * from one dgemm per chunk (|.|_w the length-scale weighted norm). The
     * expansion loses digits when r is tiny, where the kernel is flat (1 -
     * 5/6 r^2), so predictions move by ~1e-10 at most; the kernel matrix
     * itself (factor) keeps the exact difference form. */
    enum { CHUNK = 256 };
    int rows = m < CHUNK ? m : CHUNK;
    double *Ks = malloc(sizeof(double) * (size_t)rows * (size_t)n);
    double *xw = malloc(sizeof(double) * ((size_t)n * (size_t)D + (size_t)n +
                                          (size_t)rows * (size_t)D + (size_t)rows + (size_t)D));
    if (!Ks || !xw) {
        free(Ks), free(xw);
        return nas_err_set(err, NAS_ENOMEM, "out of memory predicting with a Gaussian process");
    }
    double *xn = xw + (size_t)n * (size_t)D, *qw = xn + n, *qn = qw + (size_t)rows * (size_t)D;
    double *sw = qn + rows; /* 1 / l_d */
    for (int d = 0; d < D; d++) sw[d] = sqrt(gp->inv_ls2[d]);
    for (int i = 0; i < n; i++) {
        double nn = 0;
        for (int d = 0; d < D; d++) {
            double t = gp->x[(size_t)i * (size_t)D + (size_t)d] * sw[d];
            xw[(size_t)i * (size_t)D + (size_t)d] = t;
            nn += t * t;
        }
        xn[i] = nn;
    }
    for (int start = 0; start < m; start += CHUNK) {
        int cnt = m - start < CHUNK ? m - start : CHUNK;
        for (int j = 0; j < cnt; j++) {
            double nn = 0;
            for (int d = 0; d < D; d++) {
                double t = xq[(size_t)(start + j) * (size_t)D + (size_t)d] * sw[d];
                qw[(size_t)j * (size_t)D + (size_t)d] = t;
                nn += t * t;
            }
            qn[j] = nn;
        }
        cblas_dgemm(CblasRowMajor, CblasNoTrans, CblasTrans, cnt, n, D, -2.0, qw, D, xw, D, 0.0,
                    Ks, n);
        for (int j = 0; j < cnt; j++) {
            double *row = Ks + (size_t)j * (size_t)n, mu = 0;
            for (int i = 0; i < n; i++) {
                double r2 = row[i] + qn[j] + xn[i];
                row[i] = sqrt(r2 > 0 ? r2 : 0);
            }
            matern52_row(gp->sf2, row, n, row);
            for (int i = 0; i < n; i++) mu += row[i] * gp->alpha[i];
            mean[start + j] = gp->y_mean + gp->y_scale * mu;
        }
        if (!var) continue;
        /* rows of Ks L^-T are (L^-1 k_j)^T */
        cblas_dtrsm(CblasRowMajor, CblasRight, CblasLower, CblasTrans, CblasNonUnit, cnt, n, 1.0,
                    gp->L, gp->cap, Ks, n);
        for (int j = 0; j < cnt; j++) {
            const double *row = Ks + (size_t)j * (size_t)n;
            double s = 0;
            for (int i = 0; i < n; i++) s += row[i] * row[i];
            double v = gp->sf2 - s;
            var[start + j] = (v > 1e-12 ? v : 1e-12) * gp->y_scale * gp->y_scale;
        }
    }
    free(Ks);
    free(xw);
    return 0;
}

int nas_gp_predict_grad(const nas_gp *gp, const double *x, double *mean, double *var,
                        double *dmean, double *dvar, nas_err *err) {
    int n = gp->n, D = gp->dims;
    double *k = malloc(sizeof(double) * (size_t)(3 * n + 1));
    if (!k) return nas_err_set(err, NAS_ENOMEM, "out of memory predicting with a Gaussian process");
    double *v = k + n, *g = k + 2 * n;
    double mu = 0;
    scaled_dists(gp, x, n, k);
    for (int i = 0; i < n; i++) {
        double r = k[i], e = nas_exp(-SQRT5 * r);
        k[i] = gp->sf2 * (1.0 + SQRT5 * r + (5.0 / 3.0) * r * r) * e;
        g[i] = gp->sf2 * (5.0 / 3.0) * (1.0 + SQRT5 * r) * e; /* dk_i/dx_d = -g_i (x_d - x_id) / l_d^2 */
    }
    for (int i = 0; i < n; i++) mu += k[i] * gp->alpha[i];
    memcpy(v, k, sizeof(double) * (size_t)n);
    double s = 0;
    if (n > 0) {
        cblas_dtrsv(CblasRowMajor, CblasLower, CblasNoTrans, CblasNonUnit, n, gp->L, gp->cap, v, 1);
        for (int i = 0; i < n; i++) s += v[i] * v[i];
        /* v <- K^-1 k */
        cblas_dtrsv(CblasRowMajor, CblasLower, CblasTrans, CblasNonUnit, n, gp->L, gp->cap, v, 1);
    }
    double vs = gp->sf2 - s;
    double sc = gp->y_scale;
    *mean = gp->y_mean + sc * mu;
    *var = (vs > 1e-12 ? vs : 1e-12) * sc * sc;
    for (int d = 0; d < D; d++) {
        double dm = 0, dv = 0;
        for (int i = 0; i < n; i++) {
            double dk = -g[i] * (x[d] - gp->xt[(size_t)d * (size_t)gp->cap + (size_t)i]) * gp->inv_ls2[d];
            dm += gp->alpha[i] * dk;
            dv += v[i] * dk;
        }
        dmean[d] = sc * dm;
        dvar[d] = vs > 1e-12 ? -2.0 * dv * sc * sc : 0.0;
    }
    free(k);
    return 0;
}

int nas_gp_add_fantasy(nas_gp *gp, const double *x, double y, nas_err *err) {
    int n = gp->n, D = gp->dims;
    if (!gp->factored) {
        int rc = factor(gp, err);
        if (rc) return rc;
    }
    if (n + 1 > gp->cap) {
        int rc = reserve(gp, 2 * gp->cap + 1, err);
        if (rc) return rc;
    }
    double *row = gp->L + (size_t)n * (size_t)gp->cap;
    double s = 0;
    scaled_dists(gp, x, n, row);
    matern52_row(gp->sf2, row, n, row);
    if (n > 0) {
        cblas_dtrsv(CblasRowMajor, CblasLower, CblasNoTrans, CblasNonUnit, n, gp->L, gp->cap, row, 1);
        for (int i = 0; i < n; i++) s += row[i] * row[i];
    }
    double d2 = gp->sf2 + gp->sn2 + gp->jitter - s;
    row[n] = sqrt(d2 > 1e-12 * gp->sf2 ? d2 : 1e-12 * gp->sf2);
    memcpy(gp->x + (size_t)n * (size_t)D, x, sizeof(double) * (size_t)D);
    set_column(gp, n, x);
    gp->ys[n] = (y - gp->y_mean) / gp->y_scale;
    gp->n = n + 1;
    solve_alpha(gp);
    return 0;
}
