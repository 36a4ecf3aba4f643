/*
 * tests/test_search_gp.c - Gaussian process, expected improvement, bo.
 */
#include <math.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

/* cmocka 1.1 has no floating-point assertion */
#define assert_near(a, b, eps)                                                                  \
    do {                                                                                        \
        double a_ = (a), b_ = (b);                                                              \
        if (!(fabs(a_ - b_) <= (eps))) fail_msg("%s = %.12g, expected %.12g (+- %g)", #a, a_, b_, \
                                                (double)(eps));                                 \
    } while (0)

#include "search/acq.h"
#include "search/bo.h"
#include "search/fastexp.h"
#include "search/gp.h"
#include "search/jsonio.h"
#include "search/testfunc.h"
#include "search/vsearch.h"

/* Matern-5/2 by its textbook formula, independent of gp.c. */
static double k52(double r) { return (1 + sqrt(5) * r + 5.0 / 3.0 * r * r) * exp(-sqrt(5) * r); }

/* Two points in 1-D, length-scale 0.5, sf2 1, noise 1e-3, outputs as given:
 * the posterior at 0.25 by explicit 2x2 inversion. */
static void test_gp_posterior_by_hand(void **state) {
    (void)state;
    nas_err err = {0};
    nas_gp *gp;
    assert_int_equal(nas_gp_new(1, &gp, &err), 0);
    double theta[3] = {log(0.5), log(1.0), log(1e-3)};
    nas_gp_set_theta(gp, theta);
    double x[2] = {0.0, 0.5}, y[2] = {1.0, 0.0};
    assert_int_equal(nas_gp_set_data(gp, x, y, 2, 0, 0, &err), 0);
    double a = 1.0 + 1e-3, b = k52(0.5 / 0.5), det = a * a - b * b;
    double kq = k52(0.25 / 0.5); /* same distance to both points */
    /* K^-1 = [a -b; -b a] / det */
    double alpha0 = (a * y[0] - b * y[1]) / det, alpha1 = (-b * y[0] + a * y[1]) / det;
    double mean_expected = kq * alpha0 + kq * alpha1;
    double var_expected = 1.0 - (kq * kq * (a - b) * 2.0) / det;
    double q = 0.25, mean, var;
    assert_int_equal(nas_gp_predict(gp, &q, 1, &mean, &var, &err), 0);
    assert_near(mean, mean_expected, 1e-9);
    assert_near(var, var_expected, 1e-9);
    /* the values themselves, computed once by hand: 0.54338, 0.09945 */
    assert_near(mean, 0.54338, 1e-4);
    assert_near(var, 0.09945, 1e-4);
    /* log marginal likelihood: -1/2 y^T K^-1 y - 1/2 log det K - log 2 pi */
    double lml_expected = -0.5 * (y[0] * alpha0 + y[1] * alpha1) - 0.5 * log(det) - log(2 * M_PI);
    assert_near(nas_gp_log_likelihood(gp, NULL, &err), lml_expected, 1e-9);
    nas_gp_free(&gp);
}

static void random_data(nas_rng *rng, int n, int D, double *x, double *y) {
    for (int i = 0; i < n; i++) {
        double s = 0;
        for (int d = 0; d < D; d++) {
            x[i * D + d] = nas_rng_uniform(rng);
            s += sin(3 * x[i * D + d] * (d + 1));
        }
        y[i] = s;
    }
}

/* The analytic gradients match central differences. */
static void test_gp_gradients(void **state) {
    (void)state;
    enum { N = 25, D = 3, P = D + 2 };
    nas_err err = {0};
    nas_rng rng;
    nas_rng_seed(&rng, 3);
    double x[N * D], y[N];
    random_data(&rng, N, D, x, y);
    nas_gp *gp;
    assert_int_equal(nas_gp_new(D, &gp, &err), 0);
    double theta[P] = {log(0.3), log(0.7), log(1.2), log(1.5), log(0.01)};
    nas_gp_set_theta(gp, theta);
    assert_int_equal(nas_gp_set_data(gp, x, y, N, 1, 0, &err), 0);
    double grad[P];
    nas_gp_log_likelihood(gp, grad, &err);
    for (int p = 0; p < P; p++) {
        double t[P], h = 1e-5;
        memcpy(t, theta, sizeof t);
        t[p] += h;
        nas_gp_set_theta(gp, t);
        double up = nas_gp_log_likelihood(gp, NULL, &err);
        t[p] -= 2 * h;
        nas_gp_set_theta(gp, t);
        double down = nas_gp_log_likelihood(gp, NULL, &err);
        assert_near(grad[p], (up - down) / (2 * h), 1e-4 * (1 + fabs(grad[p])));
    }
    nas_gp_set_theta(gp, theta);
    double q[D] = {0.3, 0.6, 0.45}, mean, var, dmean[D], dvar[D];
    assert_int_equal(nas_gp_predict_grad(gp, q, &mean, &var, dmean, dvar, &err), 0);
    double m2, v2;
    assert_int_equal(nas_gp_predict(gp, q, 1, &m2, &v2, &err), 0);
    assert_near(mean, m2, 1e-9);
    assert_near(var, v2, 1e-9);
    for (int d = 0; d < D; d++) {
        double qp[D], qm[D], mp, mm, vp, vm, h = 1e-6;
        memcpy(qp, q, sizeof q);
        memcpy(qm, q, sizeof q);
        qp[d] += h;
        qm[d] -= h;
        nas_gp_predict(gp, qp, 1, &mp, &vp, &err);
        nas_gp_predict(gp, qm, 1, &mm, &vm, &err);
        assert_near(dmean[d], (mp - mm) / (2 * h), 1e-4 * (1 + fabs(dmean[d])));
        assert_near(dvar[d], (vp - vm) / (2 * h), 1e-4 * (1 + fabs(dvar[d])));
    }
    /* fitting raises the likelihood */
    double before = nas_gp_log_likelihood(gp, NULL, &err);
    nas_gp_fit_options fo = {.restarts = 1, .max_evals = 60};
    assert_int_equal(nas_gp_fit(gp, &fo, &rng, &err), 0);
    assert_true(nas_gp_log_likelihood(gp, NULL, &err) > before);
    nas_gp_free(&gp);
}

/* A fantasy gives the same posterior as refactoring with the point added. */
static void test_gp_fantasy(void **state) {
    (void)state;
    enum { N = 12, D = 2 };
    nas_err err = {0};
    nas_rng rng;
    nas_rng_seed(&rng, 5);
    double x[(N + 1) * D], y[N + 1];
    random_data(&rng, N + 1, D, x, y);
    nas_gp *a, *b;
    assert_int_equal(nas_gp_new(D, &a, &err), 0);
    assert_int_equal(nas_gp_new(D, &b, &err), 0);
    assert_int_equal(nas_gp_set_data(a, x, y, N, 1, 0, &err), 0);
    assert_int_equal(nas_gp_add_fantasy(a, x + N * D, y[N], &err), 0);
    /* b: same standardisation as a (of the first N), all N+1 points */
    double ys[N + 1];
    for (int i = 0; i <= N; i++) ys[i] = (y[i] - nas_gp_y_mean(a)) / nas_gp_y_scale(a);
    assert_int_equal(nas_gp_set_data(b, x, ys, N + 1, 0, 0, &err), 0);
    double q[D] = {0.2, 0.9}, ma, va, mb, vb;
    nas_gp_predict(a, q, 1, &ma, &va, &err);
    nas_gp_predict(b, q, 1, &mb, &vb, &err);
    assert_near(ma, nas_gp_y_mean(a) + nas_gp_y_scale(a) * mb, 1e-8);
    assert_near(va, vb * nas_gp_y_scale(a) * nas_gp_y_scale(a), 1e-8);
    nas_gp_free(&a);
    nas_gp_free(&b);
}

/* random_data's n points, told in order into a new history h (keys 1..n). */
static void random_history(nas_rng *rng, int n, int dims, double *x, double *y, nas_vhist *h) {
    random_data(rng, n, dims, x, y);
    nas_vhist_init(h, dims);
    for (int i = 0; i < n; i++)
        assert_int_equal(nas_vhist_add_told(h, x + i * dims, y[i], NAS_VSTATUS_OK, (uint64_t)i + 1), 0);
}

/* The BO core fitted to a subset of the history equals a GP set directly on
 * those points with the same hyperparameters, and holds only them (plus the
 * pending fantasies). */
static void test_bo_core_model_subset(void **state) {
    (void)state;
    enum { N = 20, D = 2, M = 6 };
    nas_err err = {0};
    nas_rng rng;
    nas_rng_seed(&rng, 11);
    double x[N * D], y[N];
    nas_vhist h;
    random_history(&rng, N, D, x, y, &h);
    double xp[D] = {0.5, 0.5};
    assert_int_equal(nas_vhist_add_pending(&h, xp, 1000), 0);
    nas_vopt_params p = {.dims = D, .budget = 50};
    nas_bo_core core;
    assert_int_equal(nas_bo_core_init(&core, &p, 5, 0.0, 1.0, NAS_ACQ_FACES_ALLOW, &err), 0);
    const int idx[M] = {17, 3, 9, 0, 12, 5};
    assert_int_equal(nas_bo_core_model_subset(&core, &h, idx, M, 1.0, &rng, &err), 0);
    assert_int_equal(nas_gp_size(core.gp), M + 1); /* the subset and the fantasy */
    double theta[D + 2], xs[M * D], ys[M];
    nas_gp_get_theta(core.gp, theta);
    for (int j = 0; j < M; j++) {
        memcpy(xs + j * D, x + idx[j] * D, sizeof(double) * D);
        ys[j] = y[idx[j]];
    }
    nas_gp *ref;
    assert_int_equal(nas_gp_new(D, &ref, &err), 0);
    nas_gp_set_theta(ref, theta);
    assert_int_equal(nas_gp_set_data(ref, xs, ys, M, 1, 0, &err), 0);
    double fantasy;
    assert_int_equal(nas_gp_predict(ref, xp, 1, &fantasy, NULL, &err), 0);
    assert_int_equal(nas_gp_add_fantasy(ref, xp, fantasy, &err), 0); /* kriging believer */
    double q[D] = {0.3, 0.8}, ma, va, mb, vb;
    assert_int_equal(nas_gp_predict(core.gp, q, 1, &ma, &va, &err), 0);
    assert_int_equal(nas_gp_predict(ref, q, 1, &mb, &vb, &err), 0);
    assert_near(ma, mb, 1e-9);
    assert_near(va, vb, 1e-9);
    /* idx NULL is the whole history */
    assert_int_equal(nas_bo_core_model_subset(&core, &h, NULL, N, 1.0, &rng, &err), 0);
    assert_int_equal(nas_gp_size(core.gp), N + 1);
    nas_gp_free(&ref);
    nas_bo_core_release(&core);
    nas_vhist_release(&h);
}

/* ls_scale: the model's GP uses the fitted length-scales times the scale,
 * with sf2 and sn2 as fitted; the fit and the saved state keep the fitted
 * values, so scaled proposals never feed back into the next fit. */
static void test_bo_core_ls_scale(void **state) {
    (void)state;
    enum { N = 25, D = 3 };
    nas_err err = {0};
    nas_rng rng_a, rng_b, data_rng;
    nas_rng_seed(&data_rng, 5);
    double x[N * D], y[N];
    nas_vhist h;
    random_history(&data_rng, N, D, x, y, &h);
    nas_vopt_params p = {.dims = D, .budget = 50};
    nas_bo_core a, b;
    assert_int_equal(nas_bo_core_init(&a, &p, 5, 0.0, 1.0, NAS_ACQ_FACES_ALLOW, &err), 0);
    assert_int_equal(nas_bo_core_init(&b, &p, 5, 0.0, 1.0, NAS_ACQ_FACES_ALLOW, &err), 0);
    nas_rng_seed(&rng_a, 3);
    nas_rng_seed(&rng_b, 3);
    assert_int_equal(nas_bo_core_model(&a, &h, 1.0, &rng_a, &err), 0);
    assert_int_equal(nas_bo_core_model(&b, &h, 0.5, &rng_b, &err), 0); /* fits, then scales */
    double ta[D + 2], tb[D + 2];
    nas_gp_get_theta(a.gp, ta);
    nas_gp_get_theta(b.gp, tb);
    for (int d = 0; d < D; d++) assert_near(tb[d], ta[d] + log(0.5), 1e-12);
    assert_near(tb[D], ta[D], 1e-12);
    assert_near(tb[D + 1], ta[D + 1], 1e-12);
    assert_memory_equal(a.theta_fit, ta, sizeof ta); /* the fit is the same */
    assert_memory_equal(b.theta_fit, ta, sizeof ta);
    /* no refit due: scale 1 gives back the fitted values exactly */
    assert_int_equal(nas_bo_core_model(&b, &h, 1.0, &rng_b, &err), 0);
    nas_gp_get_theta(b.gp, tb);
    assert_memory_equal(tb, ta, sizeof ta);
    /* the saved state holds the fitted values whatever the last scale */
    assert_int_equal(nas_bo_core_model(&b, &h, 0.25, &rng_b, &err), 0);
    cJSON *obj = cJSON_CreateObject();
    assert_int_equal(nas_bo_core_save(&b, obj, &err), 0);
    double saved[D + 2];
    assert_int_equal(nas_json_get_doubles(obj, "theta", saved, D + 2, &err), 0);
    assert_memory_equal(saved, ta, sizeof ta);
    cJSON_Delete(obj);
    nas_bo_core_release(&a);
    nas_bo_core_release(&b);
    nas_vhist_release(&h);
}

/* The vectorisable exp of the kernels against libm: relative error within a
 * few ulp over the clamped range, exact at 0, the clamp below -708. */
static void test_fast_exp(void **state) {
    (void)state;
    double worst = 0;
    for (int i = 0; i <= 200000; i++) {
        double x = -708.0 + 1417.0 * i / 200000.0;
        double rel = fabs(nas_exp(x) - exp(x)) / exp(x);
        worst = rel > worst ? rel : worst;
    }
    for (int i = 0; i <= 20000; i++) { /* the kernels' usual range, densely */
        double x = -40.0 * i / 20000.0;
        double rel = fabs(nas_exp(x) - exp(x)) / exp(x);
        worst = rel > worst ? rel : worst;
    }
    if (worst > 1e-15) fail_msg("nas_exp: relative error %g", worst);
    assert_true(nas_exp(0.0) == 1.0);
    assert_near(nas_exp(-1e6) / exp(-708.0), 1.0, 1e-15);
    assert_true(nas_exp(-1e6) > 0);
}

static void test_ei(void **state) {
    (void)state;
    /* at the incumbent with sd 1: EI = phi(0) = 1/sqrt(2 pi) */
    assert_near(nas_ei(2.0, 1.0, 2.0, 0.0), 0.3989422804, 1e-9);
    /* far above the incumbent EI tends to the improvement */
    assert_near(nas_ei(10.0, 0.1, 2.0, 0.0), 8.0, 1e-9);
    /* hand value: imp = 0.5, sd = 1: 0.5*Phi(0.5) + phi(0.5) = 0.5*0.691462 + 0.352065 */
    assert_near(nas_ei(1.5, 1.0, 1.0, 0.0), 0.5 * 0.6914624613 + 0.3520653268, 1e-8);
    assert_near(nas_ei(1.0, 0.0, 0.0, 0.0), 0.0, 0);
    assert_true(nas_ei(1.0, 1.0, 0.0, 0.5) < nas_ei(1.0, 1.0, 0.0, 0.0));
    double dm, ds, h = 1e-6;
    nas_ei_partials(0.3, 0.7, 0.5, 0.01, &dm, &ds);
    assert_near(dm, (nas_ei(0.3 + h, 0.7, 0.5, 0.01) - nas_ei(0.3 - h, 0.7, 0.5, 0.01)) / (2 * h), 1e-6);
    assert_near(ds, (nas_ei(0.3, 0.7 + h, 0.5, 0.01) - nas_ei(0.3, 0.7 - h, 0.5, 0.01)) / (2 * h), 1e-6);
}

/* The maximiser returns the candidate of highest EI when refinement is off,
 * and refinement never lowers it. */
static void test_acq_maximise(void **state) {
    (void)state;
    enum { N = 15, D = 2, M = 200 };
    nas_err err = {0};
    nas_rng rng;
    nas_rng_seed(&rng, 9);
    double x[N * D], y[N], c[M * D];
    random_data(&rng, N, D, x, y);
    for (int j = 0; j < M * D; j++) c[j] = nas_rng_uniform(&rng);
    nas_gp *gp;
    assert_int_equal(nas_gp_new(D, &gp, &err), 0);
    assert_int_equal(nas_gp_set_data(gp, x, y, N, 1, 0, &err), 0);
    double best = -INFINITY;
    for (int i = 0; i < N; i++) best = y[i] > best ? y[i] : best;
    double mean[M], var[M];
    nas_gp_predict(gp, c, M, mean, var, &err);
    int arg = 0;
    for (int j = 1; j < M; j++)
        if (nas_ei(mean[j], sqrt(var[j]), best, 0.01) > nas_ei(mean[arg], sqrt(var[arg]), best, 0.01)) arg = j;
    nas_acq_options o = {.xi = 0.01, .local_starts = 0, .local_evals = 0};
    double xo[D], ei0, ei1;
    assert_int_equal(nas_acq_maximise(gp, c, M, best, &o, NULL, NULL, xo, &ei0, &err), 0);
    assert_memory_equal(xo, c + arg * D, sizeof xo);
    o.local_starts = 3;
    o.local_evals = 40;
    assert_int_equal(nas_acq_maximise(gp, c, M, best, &o, NULL, NULL, xo, &ei1, &err), 0);
    assert_true(ei1 >= ei0);
    /* with one start and local_radius 0.01 the refined point stays within
     * 0.01 of the best candidate in every coordinate */
    o.local_starts = 1;
    o.local_radius = 0.01;
    double ei2;
    assert_int_equal(nas_acq_maximise(gp, c, M, best, &o, NULL, NULL, xo, &ei2, &err), 0);
    assert_true(ei2 >= ei0);
    for (int d = 0; d < D; d++) assert_true(fabs(xo[d] - c[arg * D + d]) <= 0.01 + 1e-12);
    nas_gp_free(&gp);
}

/* A trend towards the face x0 = 0 beyond the data: the unbounded refinement
 * runs onto the face; with faces discard the refined point is dropped for its
 * start (an interior candidate), with revert its coordinates on the face go
 * back to the start's: either way the answer stays inside the cube. */
static void test_acq_faces(void **state) {
    (void)state;
    enum { N = 15, D = 2, M = 50 };
    nas_err err = {0};
    nas_rng rng;
    nas_rng_seed(&rng, 21);
    double x[N * D], y[N], c[M * D];
    for (int i = 0; i < N; i++) {
        x[i * D] = 0.03 + 0.6 * nas_rng_uniform(&rng);
        x[i * D + 1] = 0.2 + 0.6 * nas_rng_uniform(&rng);
        y[i] = -x[i * D];
    }
    for (int j = 0; j < M * D; j++) c[j] = 0.01 + 0.98 * nas_rng_uniform(&rng);
    nas_gp *gp;
    assert_int_equal(nas_gp_new(D, &gp, &err), 0);
    assert_int_equal(nas_gp_set_data(gp, x, y, N, 1, 0, &err), 0);
    double best = -INFINITY;
    for (int i = 0; i < N; i++) best = y[i] > best ? y[i] : best;
    nas_acq_options o = {.xi = 0, .local_starts = 3, .local_evals = 100, .local_radius = 1};
    double xo[D], ei;
    assert_int_equal(nas_acq_maximise(gp, c, M, best, &o, NULL, NULL, xo, &ei, &err), 0);
    bool on_face = false;
    for (int d = 0; d < D; d++) on_face |= xo[d] <= 0 || xo[d] >= 1;
    assert_true(on_face);
    for (int mode = NAS_ACQ_FACES_DISCARD; mode <= NAS_ACQ_FACES_REVERT; mode++) {
        o.faces = mode;
        assert_int_equal(nas_acq_maximise(gp, c, M, best, &o, NULL, NULL, xo, &ei, &err), 0);
        for (int d = 0; d < D; d++) assert_true(xo[d] > 0 && xo[d] < 1);
    }
    nas_gp_free(&gp);
}

/* bo beats the best of its own initial design on a smooth 3-D bowl, and
 * with pending points it proposes distinct points. */
static void test_bo_converges_and_batches(void **state) {
    (void)state;
    enum { D = 3 };
    nas_err err = {0};
    nas_vopt_params p = {.dims = D, .budget = 30};
    nas_vsearch *vs;
    assert_int_equal(nas_vsearch_new("bo", &p, 4, &vs, &err), 0);
    double x[D];
    const nas_vhist *h = nas_vsearch_history(vs);
    double best_init = INFINITY, best = INFINITY;
    for (int i = 0; i < 30; i++) {
        if (nas_vsearch_propose(vs, x, &err)) fail_msg("%s", err.msg);
        double f = 0;
        for (int d = 0; d < D; d++) f += (x[d] - 0.37) * (x[d] - 0.37);
        assert_int_equal(nas_vsearch_tell(vs, x, -f, NAS_VSTATUS_OK, (uint64_t)i + 1, &err), 0);
        if (i < 20) best_init = f < best_init ? f : best_init;
        best = f < best ? f : best;
    }
    assert_true(best < best_init);
    assert_true(best < 1e-2);
    /* four pending proposals: all distinct */
    double xs[4][D];
    for (int k = 0; k < 4; k++) {
        assert_int_equal(nas_vsearch_propose(vs, xs[k], &err), 0);
        assert_int_equal(nas_vsearch_add_pending(vs, xs[k], 100 + (uint64_t)k, &err), 0);
        for (int j = 0; j < k; j++) assert_memory_not_equal(xs[j], xs[k], sizeof xs[k]);
    }
    assert_int_equal(h->n_pending, 4);
    nas_vsearch_free(&vs);
}

/* Output warps keep the order; rank gives Gaussian quantiles, symmetric
 * about 0 and equal for ties; log maps the best value to 0 and stretches the
 * gaps near it more than those far from it. */
static void test_output_warp(void **state) {
    (void)state;
    nas_err err = {0};
    double y[6] = {3.0, -1.0, 10.0, -1.0, 0.5, 100.0}, r[6], g[6];
    memcpy(r, y, sizeof y);
    assert_int_equal(nas_bo_warp(NAS_BO_WARP_RANK, r, 6, &err), 0);
    /* ranks: -1,-1 share 0.5 -> (1 + 0.5) / 6 ... 100 -> 5.5 / 6 */
    assert_true(fabs(r[1] - r[3]) < 1e-12);
    assert_true(r[1] < r[4] && r[4] < r[0] && r[0] < r[2] && r[2] < r[5]);
    assert_true(fabs(r[4] + r[0]) < 1e-9); /* positions 2 and 3 of 0..5: quantiles 2.5/6, 3.5/6 */
    assert_true(fabs(r[5] - 1.3829941271) < 1e-6); /* Phi^-1(5.5 / 6) */
    memcpy(g, y, sizeof y);
    assert_int_equal(nas_bo_warp(NAS_BO_WARP_LOG, g, 6, &err), 0);
    assert_true(fabs(g[5]) < 1e-12);
    assert_true(g[1] < g[4] && g[4] < g[0] && g[0] < g[2] && g[2] < g[5]);
    /* per unit of y, the gap next to the best (100 -> 10) is stretched more
     * than the one further down (10 -> -1) */
    assert_true((g[5] - g[2]) / 90 > (g[2] - g[1]) / 11);
    memcpy(g, y, sizeof y);
    assert_int_equal(nas_bo_warp(NAS_BO_WARP_NONE, g, 6, &err), 0);
    assert_memory_equal(g, y, sizeof y);
}

static void test_testfuncs(void **state) {
    (void)state;
    double x[5];
    for (int i = 0; i < 5; i++) x[i] = 0;
    assert_near(nas_testfunc_find("ackley")->f(x, 5), 0.0, 1e-12);
    assert_near(nas_testfunc_find("rastrigin")->f(x, 5), 0.0, 1e-12);
    for (int i = 0; i < 5; i++) x[i] = 1;
    assert_near(nas_testfunc_find("levy")->f(x, 5), 0.0, 1e-12);
    assert_near(nas_testfunc_find("rosenbrock")->f(x, 5), 0.0, 1e-12);
    assert_null(nas_testfunc_find("sphere"));
    /* unit-cube mapping: u = 1/3 is x = 0 on [-5, 10] */
    double u[3] = {1.0 / 3, 1.0 / 3, 1.0 / 3};
    assert_near(nas_testfunc_eval_unit(nas_testfunc_find("ackley"), u, 3), 0.0, 1e-9);
}

int main(void) {
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_gp_posterior_by_hand), cmocka_unit_test(test_gp_gradients),
        cmocka_unit_test(test_gp_fantasy),           cmocka_unit_test(test_ei),
        cmocka_unit_test(test_acq_maximise),         cmocka_unit_test(test_bo_converges_and_batches),
        cmocka_unit_test(test_testfuncs),            cmocka_unit_test(test_output_warp),
        cmocka_unit_test(test_acq_faces),            cmocka_unit_test(test_bo_core_model_subset),
        cmocka_unit_test(test_bo_core_ls_scale),
        cmocka_unit_test(test_fast_exp),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
