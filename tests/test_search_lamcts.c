/*
 * tests/test_search_lamcts.c - k-means, SVM boundary, LA-MCTS tree, UCB,
 * region sampler and lamcts-bo.
 */
#include <math.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "search/kmeans.h"
#include "search/lamcts.h"
#include "search/svm.h"
#include "search/vsearch.h"

/* Two blobs far apart: k-means recovers them exactly, whatever the seed. */
static void test_kmeans_two_blobs(void **state) {
    (void)state;
    enum { N = 60, D = 3 };
    double x[N * D];
    nas_rng rng;
    nas_rng_seed(&rng, 1);
    for (int i = 0; i < N; i++)
        for (int d = 0; d < D; d++) x[i * D + d] = (i < N / 2 ? 0.0 : 5.0) + 0.3 * nas_rng_uniform(&rng);
    for (uint64_t seed = 1; seed <= 5; seed++) {
        nas_rng_seed(&rng, seed);
        int lab[N];
        double inertia;
        nas_err err = {0};
        assert_int_equal(nas_kmeans(x, N, D, 2, 3, 300, 1e-4, &rng, lab, &inertia, &err), 0);
        for (int i = 1; i < N; i++) assert_int_equal(lab[i] == lab[0], i < N / 2);
        assert_true(inertia < N * D * 0.3 * 0.3);
    }
}

/* The SVM learns a linearly separable boundary with each kernel, and the
 * dense decision function agrees with libsvm's svm_predict. */
static void test_svm_boundary(void **state) {
    (void)state;
    enum { N = 80, D = 2, Q = 300 };
    nas_rng rng;
    nas_rng_seed(&rng, 2);
    double x[N * D];
    int lab[N];
    for (int i = 0; i < N; i++) {
        x[i * D] = nas_rng_uniform(&rng);
        x[i * D + 1] = nas_rng_uniform(&rng);
        lab[i] = x[i * D] + x[i * D + 1] < 1.0 ? 0 : 1;
    }
    const nas_svm_kernel kernels[] = {NAS_SVM_LINEAR, NAS_SVM_POLY, NAS_SVM_RBF};
    for (int k = 0; k < 3; k++) {
        nas_svm *svm = NULL;
        nas_err err = {0};
        /* a large C: the data are separable, so training error should vanish */
        assert_int_equal(nas_svm_train(x, N, D, lab, kernels[k], NAS_SVM_GAMMA_SCALE, 100.0, &svm, &err), 0);
        int wrong = 0;
        for (int i = 0; i < N; i++) wrong += nas_svm_predict(svm, x + i * D) != lab[i];
        assert_true(wrong <= 3);
        for (int q = 0; q < Q; q++) {
            double p[D] = {nas_rng_uniform(&rng), nas_rng_uniform(&rng)};
            assert_int_equal(nas_svm_predict(svm, p), nas_svm_predict_libsvm(svm, p));
        }
        nas_svm_free(&svm);
    }
    /* one label only: refused */
    int same[N] = {0};
    nas_svm *svm = NULL;
    nas_err err = {0};
    assert_int_not_equal(nas_svm_train(x, N, D, same, NAS_SVM_RBF, NAS_SVM_GAMMA_AUTO, 1.0, &svm, &err), 0);
    assert_null(svm);
}

static nas_lamcts_options default_opts(void) {
    nas_lamcts_options o = {.leaf_size = 10, .cp = 0.1, .ucb = NAS_LAMCTS_UCB_SQRT,
                            .child_assign = NAS_LAMCTS_ASSIGN_SVM, .kernel = NAS_SVM_RBF,
                            .gamma = NAS_SVM_GAMMA_SCALE, .svm_c = 1.0, .kmeans_init = 3,
                            .value_weight = 1.0};
    return o;
}

/* Samples of a function with a good corner: the tree splits, children
 * partition their parent, the good child has the higher mean, leaves are
 * small or unsplittable, and every sample of an SVM-assigned leaf passes its
 * own path. */
static void test_tree_split(void **state) {
    (void)state;
    enum { N = 120, D = 2 };
    nas_rng rng;
    nas_rng_seed(&rng, 3);
    double x[N * D], v[N];
    for (int i = 0; i < N; i++) {
        x[i * D] = nas_rng_uniform(&rng);
        x[i * D + 1] = nas_rng_uniform(&rng);
        v[i] = -(x[i * D] * x[i * D] + x[i * D + 1] * x[i * D + 1]); /* best at (0,0) */
    }
    nas_lamcts_tree t;
    nas_lamcts_tree_init(&t);
    nas_lamcts_options o = default_opts();
    nas_err err = {0};
    assert_int_equal(nas_lamcts_build(&t, x, v, N, D, &o, &rng, &err), 0);
    assert_true(t.n_nodes >= 3);
    assert_int_equal(t.nodes[0].n, N);
    const nas_lamcts_node *root = &t.nodes[0];
    assert_true(t.nodes[root->kid[0]].mean > t.nodes[root->kid[1]].mean);
    nas_lamcts_step path[256];
    for (int i = 0; i < t.n_nodes; i++) {
        const nas_lamcts_node *nd = &t.nodes[i];
        if (nd->kid[0] >= 0) {
            assert_int_equal(t.nodes[nd->kid[0]].n + t.nodes[nd->kid[1]].n, nd->n);
            assert_non_null(nd->svm);
            continue;
        }
        /* leaf: rebuild its path from the parents */
        int len = 0;
        for (int at = i; t.nodes[at].parent >= 0; at = t.nodes[at].parent) len++;
        assert_true(len < 256);
        int k = len;
        for (int at = i; t.nodes[at].parent >= 0; at = t.nodes[at].parent) {
            int p = t.nodes[at].parent;
            path[--k] = (nas_lamcts_step){.node = p, .choice = t.nodes[p].kid[1] == at};
        }
        for (int s = 0; s < nd->n; s++)
            assert_true(nas_lamcts_in_region(&t, path, len, x + nd->idx[s] * D));
    }
    nas_lamcts_tree_release(&t);
}

/* UCB by hand on a built tree; cp = 0 always follows the better mean, a huge
 * cp the less visited child. */
static void test_ucb_selection(void **state) {
    (void)state;
    enum { N = 100, D = 1 };
    nas_rng rng;
    nas_rng_seed(&rng, 4);
    double x[N], v[N];
    for (int i = 0; i < N; i++) {
        x[i] = (i + 0.5) / N;
        v[i] = x[i] < 0.3 ? 1.0 + 0.01 * x[i] : -1.0 - 0.01 * x[i]; /* good part: 30 samples */
    }
    nas_lamcts_tree t;
    nas_lamcts_tree_init(&t);
    nas_lamcts_options o = default_opts();
    o.leaf_size = 200; /* root only... */
    nas_err err = {0};
    assert_int_equal(nas_lamcts_build(&t, x, v, N, D, &o, &rng, &err), 0);
    assert_int_equal(t.n_nodes, 1);
    o.leaf_size = 50; /* ...then exactly one split of the root */
    assert_int_equal(nas_lamcts_build(&t, x, v, N, D, &o, &rng, &err), 0);
    int good = t.nodes[0].kid[0], bad = t.nodes[0].kid[1];
    int ng = t.nodes[good].n, nb = t.nodes[bad].n;
    assert_true(ng < nb);
    o.cp = 0.5;
    double expected = t.nodes[good].mean + 2 * 0.5 * sqrt(2 * sqrt((double)N) / ng);
    assert_true(fabs(nas_lamcts_ucb(&t, good, &o) - expected) < 1e-12);
    o.ucb = NAS_LAMCTS_UCB_LOG;
    expected = t.nodes[bad].mean + 2 * 0.5 * sqrt(2 * log((double)N) / nb);
    assert_true(fabs(nas_lamcts_ucb(&t, bad, &o) - expected) < 1e-12);
    nas_lamcts_step path[8];
    int len;
    o.cp = 0;
    assert_int_equal(nas_lamcts_select(&t, &o, &rng, path, &len), good);
    assert_int_equal(len, 1);
    assert_int_equal(path[0].choice, 0);
    o.cp = 1e6;
    assert_int_equal(nas_lamcts_select(&t, &o, &rng, path, &len), good); /* fewer samples */
    nas_lamcts_tree_release(&t);
}

/* Every candidate of the region sampler passes every SVM of its path, for
 * every leaf of a deep tree, with uniform box points (perturb 1) and with
 * coordinate-subset moves (perturb 0.3: then most candidates share some
 * coordinates with their centre, a leaf sample). */
static void test_region_sampler(void **state) {
    (void)state;
    enum { N = 150, D = 4, C = 300 };
    nas_rng rng;
    nas_rng_seed(&rng, 6);
    double x[N * D], v[N];
    for (int i = 0; i < N; i++) {
        double s = 0;
        for (int d = 0; d < D; d++) {
            x[i * D + d] = nas_rng_uniform(&rng);
            s += cos(6 * x[i * D + d]) + x[i * D + d];
        }
        v[i] = s;
    }
    nas_lamcts_tree t;
    nas_lamcts_tree_init(&t);
    nas_lamcts_options o = default_opts();
    nas_err err = {0};
    assert_int_equal(nas_lamcts_build(&t, x, v, N, D, &o, &rng, &err), 0);
    assert_true(t.n_nodes >= 5);
    nas_lamcts_sampler s = {.candidates = C, .centers = 5, .center_choice = NAS_LAMCTS_CENTER_RANDOM,
                            .probe = 16, .perturb = 1.0};
    double *out = malloc(sizeof(double) * C * D);
    nas_lamcts_step path[256];
    int leaves = 0;
    for (int trial = 0; trial < 20; trial++) {
        o.cp = trial * 0.5; /* different cp: different leaves */
        int len, m;
        int leaf = nas_lamcts_select(&t, &o, &rng, path, &len);
        s.center_choice = trial % 2;
        s.perturb = trial < 10 ? 1.0 : 0.3;
        assert_int_equal(nas_lamcts_sample_region(&t, path, len, leaf, x, v, D, &s, &rng, out, &m, &err), 0);
        assert_true(m > 0 && m <= C);
        int sharing = 0; /* candidates with a coordinate equal to some leaf sample's */
        for (int j = 0; j < m; j++) {
            for (int d = 0; d < D; d++) assert_true(out[j * D + d] >= 0 && out[j * D + d] <= 1);
            assert_true(nas_lamcts_in_region(&t, path, len, out + j * D));
            bool shares = false;
            for (int k = 0; k < N && !shares; k++)
                for (int d = 0; d < D; d++) shares |= out[j * D + d] == x[k * D + d];
            sharing += shares;
        }
        if (s.perturb < 1 && t.nodes[leaf].n > 0 && m > 20)
            assert_true(sharing > m / 2); /* P(all 4 move) = 0.3^3 */
        else if (s.perturb >= 1)
            assert_int_equal(sharing, 0);
        leaves += len > 0;
    }
    assert_true(leaves > 0);
    free(out);
    nas_lamcts_tree_release(&t);
}

/* lamcts-bo end to end on a small problem, with save/load identity. */
/* The local GP's points: the k nearest the centre, nearest first, ties by
 * index, k capped at n. */
static void test_nearest(void **state) {
    (void)state;
    enum { D = 2 };
    const double x[] = {0.0, 0.0,    0.9, 0.9,  0.5,   0.5, 0.4375, 0.5,
                        0.5, 0.625,  0.5, 0.375, 0.125, 0.875};
    int idx[7];
    assert_int_equal(nas_lamcts_nearest(x, 7, D, 2, 4, idx), 4);
    assert_int_equal(idx[0], 2);  /* itself */
    assert_int_equal(idx[1], 3);  /* 1/16 away */
    assert_int_equal(idx[2], 4);  /* 1/8 away, tied with 5: lower index first */
    assert_int_equal(idx[3], 5);
    assert_int_equal(nas_lamcts_nearest(x, 7, D, 0, 100, idx), 7);
    assert_int_equal(idx[0], 0);
    assert_int_equal(idx[6], 1); /* the far corner last */
}

static void test_lamcts_bo_runs_and_restores(void **state) {
    (void)state;
    enum { D = 3 };
    nas_err err = {0};
    for (int variant = 0; variant < 2; variant++) {
    /* the global GP only, and the local one on every other proposal from the
     * 18th point; with refit_every 100 each GP fits its hyperparameters once,
     * so after load they must come from the saved state, not a refit */
    const char *yaml = variant == 0 ? "init: 12\nleaf_size: 6\ncandidates: 200\nlocal_gp: 0\n"
                                    : "init: 12\nleaf_size: 6\ncandidates: 200\nlocal_gp: 16\n"
                                      "local_gp_share: 0.5\nrefit_every: 100\n";
    nas_cfg *cfg;
    assert_int_equal(nas_cfg_load_string(yaml, strlen(yaml), "t.yaml", &cfg, &err), 0);
    nas_vopt_params p = {.dims = D, .budget = 40, .cfg = cfg, .options = cfg->root};
    nas_vsearch *a, *b;
    assert_int_equal(nas_vsearch_new("lamcts-bo", &p, 8, &a, &err), 0);
    assert_int_equal(nas_vsearch_new("lamcts-bo", &p, 9, &b, &err), 0);
    double x[D], best = INFINITY, best_init = INFINITY;
    for (int i = 0; i < 30; i++) {
        if (nas_vsearch_propose(a, x, &err)) fail_msg("%s", err.msg);
        double f = 0;
        for (int d = 0; d < D; d++) f += (x[d] - 0.2) * (x[d] - 0.2);
        if (i < 12) best_init = f < best_init ? f : best_init;
        best = f < best ? f : best;
        assert_int_equal(nas_vsearch_tell(a, x, -f, NAS_VSTATUS_OK, (uint64_t)i + 1, &err), 0);
    }
    assert_true(best < best_init);
    cJSON *st = cJSON_CreateObject();
    assert_int_equal(nas_vsearch_save(a, st, &err), 0);
    if (nas_vsearch_load(b, st, &err)) fail_msg("%s", err.msg);
    cJSON_Delete(st);
    for (int k = 0; k < 3; k++) {
        double xa[D], xb[D];
        assert_int_equal(nas_vsearch_propose(a, xa, &err), 0);
        assert_int_equal(nas_vsearch_propose(b, xb, &err), 0);
        assert_memory_equal(xa, xb, sizeof xa);
        assert_int_equal(nas_vsearch_tell(a, xa, -1.0, NAS_VSTATUS_INFEASIBLE, 100 + (uint64_t)k, &err), 0);
        assert_int_equal(nas_vsearch_tell(b, xb, -1.0, NAS_VSTATUS_INFEASIBLE, 100 + (uint64_t)k, &err), 0);
    }
    nas_vsearch_free(&a);
    nas_vsearch_free(&b);
    nas_cfg_free(&cfg);
    }
    /* a typo in the options is an error with its position */
    const char *bad = "leaf_sise: 4\n";
    nas_cfg *cfg2;
    assert_int_equal(nas_cfg_load_string(bad, strlen(bad), "t.yaml", &cfg2, &err), 0);
    nas_vopt_params p2 = {.dims = D, .cfg = cfg2, .options = cfg2->root};
    nas_vsearch *c = NULL;
    assert_int_equal(nas_vsearch_new("lamcts-bo", &p2, 1, &c, &err), NAS_EINVAL);
    assert_non_null(strstr(err.msg, "t.yaml:1:1"));
    nas_cfg_free(&cfg2);
}

/* Asynchronous workers: with 7 proposals pending, every pending_value (and the
 * told-only tree, and each faces_pending mode) gives distinct in-range points
 * that differ from the pending ones; an unknown pending_value is an error
 * naming the option. */
static void test_lamcts_bo_pending(void **state) {
    (void)state;
    enum { D = 3, W = 8 };
    static const char *const variants[] = {
        "pending_value: believer\n", "pending_value: loss\n", "pending_value: mean\n",
        "pending_in_tree: false\n", "faces_pending: revert\n", "faces_pending: discard\n",
        "local_gp: 12\n"};
    for (size_t k = 0; k < sizeof variants / sizeof *variants; k++) {
        char yaml[256];
        snprintf(yaml, sizeof yaml, "init: 10\nleaf_size: 4\ncandidates: 100\n%s", variants[k]);
        nas_err err = {0};
        nas_cfg *cfg;
        assert_int_equal(nas_cfg_load_string(yaml, strlen(yaml), "t.yaml", &cfg, &err), 0);
        nas_vopt_params p = {.dims = D, .budget = 60, .cfg = cfg, .options = cfg->root};
        nas_vsearch *vs;
        if (nas_vsearch_new("lamcts-bo", &p, 4, &vs, &err)) fail_msg("%s", err.msg);
        double queue[W][D];
        uint64_t key = 1;
        int head = 0, n_queue = 0;
        for (int step = 0; step < 40; step++) {
            while (n_queue < W) { /* keep W proposals outstanding, as the bench does */
                double *x = queue[(head + n_queue) % W];
                if (nas_vsearch_propose(vs, x, &err)) fail_msg("%s: %s", variants[k], err.msg);
                for (int d = 0; d < D; d++) assert_true(x[d] >= 0 && x[d] <= 1);
                for (int j = 0; j < n_queue; j++) /* not a copy of a pending point */
                    assert_memory_not_equal(x, queue[(head + j) % W], sizeof queue[0]);
                assert_int_equal(nas_vsearch_add_pending(vs, x, key + (uint64_t)n_queue, &err), 0);
                n_queue++;
            }
            double *x = queue[head], f = 0;
            for (int d = 0; d < D; d++) f += (x[d] - 0.3) * (x[d] - 0.3);
            assert_int_equal(nas_vsearch_tell(vs, x, -f, NAS_VSTATUS_OK, key, &err), 0);
            key++;
            head = (head + 1) % W;
            n_queue--;
        }
        assert_int_equal(nas_vsearch_history(vs)->n_pending, W - 1);
        nas_vsearch_free(&vs);
        nas_cfg_free(&cfg);
    }
    const char *bad = "pending_value: guess\n";
    nas_err err = {0};
    nas_cfg *cfg;
    assert_int_equal(nas_cfg_load_string(bad, strlen(bad), "t.yaml", &cfg, &err), 0);
    nas_vopt_params p = {.dims = D, .cfg = cfg, .options = cfg->root};
    nas_vsearch *vs = NULL;
    assert_int_equal(nas_vsearch_new("lamcts-bo", &p, 1, &vs, &err), NAS_EINVAL);
    assert_non_null(strstr(err.msg, "pending_value"));
    nas_cfg_free(&cfg);
    /* the local GP's options out of range: refused, naming the option and its bounds */
    static const struct {
        const char *yaml, *text;
    } out_of_range[] = {{"local_gp_share: 1.5\n", "local_gp_share: 1.5 is out of range [0, 1]"},
                        {"local_gp: -1\n", "local_gp: -1 is out of range [0, 1000000]"}};
    for (size_t k = 0; k < sizeof out_of_range / sizeof *out_of_range; k++) {
        const char *y = out_of_range[k].yaml;
        assert_int_equal(nas_cfg_load_string(y, strlen(y), "t.yaml", &cfg, &err), 0);
        nas_vopt_params q = {.dims = D, .cfg = cfg, .options = cfg->root};
        assert_int_equal(nas_vsearch_new("lamcts-bo", &q, 1, &vs, &err), NAS_ERANGE);
        if (!strstr(err.msg, out_of_range[k].text)) fail_msg("unexpected error: %s", err.msg);
        assert_null(vs);
        nas_cfg_free(&cfg);
    }
}

/* An option that acts only while proposals are pending: two instances whose
 * options differ only in it propose the same point with no pending point
 * (the sequential path is untouched), and with the same `pending` pending
 * points different points when `differ`, else the same. */
static void check_pending_only_option(const char *yaml_a, const char *yaml_b, int pending,
                                      bool differ) {
    enum { D = 3, TOLD = 30 };
    const int PENDING = pending;
    const char *const yaml[2] = {yaml_a, yaml_b};
    nas_err err = {0};
    nas_cfg *cfg[2];
    nas_vsearch *vs[2];
    for (int k = 0; k < 2; k++) {
        assert_int_equal(nas_cfg_load_string(yaml[k], strlen(yaml[k]), "t.yaml", &cfg[k], &err), 0);
        nas_vopt_params p = {.dims = D, .budget = 60, .cfg = cfg[k], .options = cfg[k]->root};
        if (nas_vsearch_new("lamcts-bo", &p, 9, &vs[k], &err)) fail_msg("%s", err.msg);
    }
    nas_rng rng;
    nas_rng_seed(&rng, 77);
    uint64_t key = 1;
    for (int i = 0; i < TOLD + PENDING; i++, key++) {
        double x[D], f = 0;
        for (int d = 0; d < D; d++) {
            x[d] = nas_rng_uniform(&rng);
            f += (x[d] - 0.3) * (x[d] - 0.3);
        }
        for (int k = 0; k < 2; k++) {
            int rc = i < TOLD ? nas_vsearch_tell(vs[k], x, -f, NAS_VSTATUS_OK, key, &err)
                              : nas_vsearch_add_pending(vs[k], x, key, &err);
            assert_int_equal(rc, 0);
        }
        if (i == TOLD - 1) { /* sequential: the same proposal */
            double a[D], b[D];
            assert_int_equal(nas_vsearch_propose(vs[0], a, &err), 0);
            assert_int_equal(nas_vsearch_propose(vs[1], b, &err), 0);
            assert_memory_equal(a, b, sizeof a);
        }
    }
    double a[D], b[D];
    assert_int_equal(nas_vsearch_history(vs[0])->n_pending, PENDING);
    assert_int_equal(nas_vsearch_propose(vs[0], a, &err), 0);
    assert_int_equal(nas_vsearch_propose(vs[1], b, &err), 0);
    if (differ)
        assert_memory_not_equal(a, b, sizeof a);
    else
        assert_memory_equal(a, b, sizeof a);
    for (int k = 0; k < 2; k++) {
        nas_vsearch_free(&vs[k]);
        nas_cfg_free(&cfg[k]);
    }
}

/* local_radius_pending bounds the EI refinement only while proposals are
 * pending (a refinement bounded to 1e-6 around its start cannot move, one
 * bounded to the cube does). */
static void test_lamcts_bo_radius_pending(void **state) {
    (void)state;
    check_pending_only_option(
        "init: 10\nleaf_size: 8\ncandidates: 100\nlocal_radius_pending: 1\n",
        "init: 10\nleaf_size: 8\ncandidates: 100\nlocal_radius_pending: 0.000001\n", 7, true);
}

/* ls_scale_pending shortens the GP's length-scales only while at least
 * ls_scale_pending_from (default 1) proposals are pending, and not for every
 * ls_fitted_every-th (default 6th) proposal: the proposal's index is told +
 * pending = 30 + p, so with 6 pending it is 36 and keeps the fitted ones. */
static void test_lamcts_bo_ls_scale_pending(void **state) {
    (void)state;
    const char *one = "init: 10\nleaf_size: 8\ncandidates: 100\nls_scale_pending: 1\n";
    const char *short_ls = "init: 10\nleaf_size: 8\ncandidates: 100\nls_scale_pending: 0.35\n";
    check_pending_only_option(one, short_ls, 7, true);
    check_pending_only_option(one, short_ls, 1, true);
    check_pending_only_option(one, short_ls, 6, false);
    const char *one_from3 = "init: 10\nleaf_size: 8\ncandidates: 100\nls_scale_pending: 1\n"
                            "ls_scale_pending_from: 3\n";
    const char *short_from3 = "init: 10\nleaf_size: 8\ncandidates: 100\nls_scale_pending: 0.35\n"
                              "ls_scale_pending_from: 3\n";
    check_pending_only_option(one_from3, short_from3, 3, true);
    check_pending_only_option(one_from3, short_from3, 2, false);
}

int main(void) {
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_kmeans_two_blobs),   cmocka_unit_test(test_svm_boundary),
        cmocka_unit_test(test_tree_split),         cmocka_unit_test(test_ucb_selection),
        cmocka_unit_test(test_region_sampler),     cmocka_unit_test(test_lamcts_bo_runs_and_restores),
        cmocka_unit_test(test_lamcts_bo_pending),  cmocka_unit_test(test_lamcts_bo_radius_pending),
        cmocka_unit_test(test_lamcts_bo_ls_scale_pending),
        cmocka_unit_test(test_nearest),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
