/*
 * search/lamcts.c - the LA-MCTS partition tree (see lamcts.h).
 */
#include <assert.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "search/kmeans.h"
#include "search/lamcts.h"

void nas_lamcts_tree_init(nas_lamcts_tree *t) { memset(t, 0, sizeof *t); }

static void clear_nodes(nas_lamcts_tree *t) {
    for (int i = 0; i < t->n_nodes; i++) {
        free(t->nodes[i].idx);
        nas_svm_free(&t->nodes[i].svm);
    }
    t->n_nodes = 0;
}

void nas_lamcts_tree_release(nas_lamcts_tree *t) {
    clear_nodes(t);
    free(t->nodes);
    nas_lamcts_tree_init(t);
}

/* Appends a node that takes ownership of idx. Returns its index or -1. */
static int add_node(nas_lamcts_tree *t, int parent, int *idx, int n, const double *v) {
    if (t->n_nodes == t->cap) {
        int cap = t->cap ? 2 * t->cap : 32;
        nas_lamcts_node *nodes = realloc(t->nodes, sizeof *nodes * (size_t)cap);
        if (!nodes) return -1;
        t->nodes = nodes;
        t->cap = cap;
    }
    nas_lamcts_node *nd = &t->nodes[t->n_nodes];
    memset(nd, 0, sizeof *nd);
    nd->parent = parent;
    nd->kid[0] = nd->kid[1] = -1;
    nd->idx = idx;
    nd->n = n;
    double s = 0;
    for (int i = 0; i < n; i++) s += v[idx[i]];
    nd->mean = n ? s / n : 0;
    return t->n_nodes++;
}

/* Splits node `at` if it qualifies (see lamcts.h). *split tells whether it did. */
static int try_split(nas_lamcts_tree *t, int at, const double *x, const double *v, int dims,
                     const nas_lamcts_options *o, nas_rng *rng, bool *split, nas_err *err) {
    *split = false;
    int n = t->nodes[at].n;
    if (n <= o->leaf_size || n <= 2) return 0;
    const int *idx = t->nodes[at].idx;
    int F = dims + 1, rc = 0;
    double *feat = malloc(sizeof(double) * (size_t)n * (size_t)F);
    double *bx = malloc(sizeof(double) * (size_t)n * (size_t)dims);
    int *lab = malloc(sizeof(int) * (size_t)n);
    int *pred = malloc(sizeof(int) * (size_t)n);
    int *kid_idx[2] = {malloc(sizeof(int) * (size_t)n), malloc(sizeof(int) * (size_t)n)};
    nas_svm *svm = NULL;
    if (!feat || !bx || !lab || !pred || !kid_idx[0] || !kid_idx[1]) {
        rc = nas_err_set(err, NAS_ENOMEM, "out of memory splitting an LA-MCTS node");
        goto done;
    }
    for (int i = 0; i < n; i++) {
        memcpy(bx + (size_t)i * (size_t)dims, x + (size_t)idx[i] * (size_t)dims,
               sizeof(double) * (size_t)dims);
        memcpy(feat + (size_t)i * (size_t)F, bx + (size_t)i * (size_t)dims,
               sizeof(double) * (size_t)dims);
        feat[(size_t)i * (size_t)F + (size_t)dims] = v[idx[i]] * o->value_weight;
    }
    if ((rc = nas_kmeans(feat, n, F, 2, o->kmeans_init, 300, 1e-4, rng, lab, NULL, err))) goto done;
    double sum[2] = {0, 0};
    int cnt[2] = {0, 0};
    for (int i = 0; i < n; i++) {
        sum[lab[i]] += v[idx[i]];
        cnt[lab[i]]++;
    }
    if (cnt[0] == 0 || cnt[1] == 0) goto done;
    if (sum[1] / cnt[1] > sum[0] / cnt[0]) /* label 0 is the good cluster */
        for (int i = 0; i < n; i++) lab[i] = 1 - lab[i];
    if (nas_svm_train(bx, n, dims, lab, o->kernel, o->gamma, o->svm_c, &svm, err)) {
        rc = 0; /* an SVM that cannot be trained just means no split */
        goto done;
    }
    int pcnt[2] = {0, 0};
    for (int i = 0; i < n; i++) pcnt[pred[i] = nas_svm_predict(svm, bx + (size_t)i * (size_t)dims)]++;
    if (pcnt[0] == 0 || pcnt[1] == 0) goto done;
    const int *assign = o->child_assign == NAS_LAMCTS_ASSIGN_SVM ? pred : lab;
    int kn[2] = {0, 0};
    for (int i = 0; i < n; i++) kid_idx[assign[i]][kn[assign[i]]++] = idx[i];
    for (int k = 0; k < 2; k++) {
        int child = add_node(t, at, kid_idx[k], kn[k], v);
        if (child < 0) {
            rc = nas_err_set(err, NAS_ENOMEM, "out of memory splitting an LA-MCTS node");
            goto done;
        }
        kid_idx[k] = NULL;
        t->nodes[at].kid[k] = child;
    }
    t->nodes[at].svm = svm;
    svm = NULL;
    *split = true;
done:
    nas_svm_free(&svm);
    free(feat), free(bx), free(lab), free(pred), free(kid_idx[0]), free(kid_idx[1]);
    return rc;
}

int nas_lamcts_build(nas_lamcts_tree *t, const double *x, const double *v, int n, int dims,
                     const nas_lamcts_options *o, nas_rng *rng, nas_err *err) {
    clear_nodes(t);
    int *all = malloc(sizeof(int) * (size_t)(n > 0 ? n : 1));
    if (!all) return nas_err_set(err, NAS_ENOMEM, "out of memory building the LA-MCTS tree");
    for (int i = 0; i < n; i++) all[i] = i;
    if (add_node(t, -1, all, n, v) < 0) {
        free(all);
        return nas_err_set(err, NAS_ENOMEM, "out of memory building the LA-MCTS tree");
    }
    /* breadth first: every node added is visited once, so every leaf ends up
     * either small or not separable, as the official `while is_splitable` loop */
    for (int at = 0; at < t->n_nodes; at++) {
        bool split;
        int rc = try_split(t, at, x, v, dims, o, rng, &split, err);
        if (rc) return rc;
    }
    return 0;
}

double nas_lamcts_ucb(const nas_lamcts_tree *t, int child, const nas_lamcts_options *o) {
    const nas_lamcts_node *c = &t->nodes[child];
    if (c->n == 0 || c->parent < 0) return INFINITY;
    double np = t->nodes[c->parent].n;
    double g = o->ucb == NAS_LAMCTS_UCB_SQRT ? sqrt(np) : log(np);
    return c->mean + 2.0 * o->cp * sqrt(2.0 * g / c->n);
}

int nas_lamcts_select(const nas_lamcts_tree *t, const nas_lamcts_options *o, nas_rng *rng,
                      nas_lamcts_step *path, int *path_len) {
    int at = 0;
    *path_len = 0;
    while (t->nodes[at].kid[0] >= 0) {
        double u0 = nas_lamcts_ucb(t, t->nodes[at].kid[0], o);
        double u1 = nas_lamcts_ucb(t, t->nodes[at].kid[1], o);
        int choice = u0 > u1 ? 0 : u1 > u0 ? 1 : (int)nas_rng_below(rng, 2);
        path[*path_len].node = at;
        path[*path_len].choice = choice;
        (*path_len)++;
        at = t->nodes[at].kid[choice];
    }
    return at;
}

bool nas_lamcts_in_region(const nas_lamcts_tree *t, const nas_lamcts_step *path, int path_len,
                          const double *x) {
    for (int s = 0; s < path_len; s++)
        if (nas_svm_predict(t->nodes[path[s].node].svm, x) != path[s].choice) return false;
    return true;
}

#define BOX_START 1e-4
#define BOX_LEVELS 14 /* 1e-4 * 2^14 > 1: the whole cube */

/* A uniform point of the box, or with perturb < 1 one that moves each
 * coordinate with probability perturb (one at random always) and keeps the
 * centre's value in the others (lamcts.h). */
static void box_point(const double *centre, double side, double perturb, int D, nas_rng *rng,
                      double *x) {
    bool subset = perturb > 0 && perturb < 1; /* 0 (a zeroed struct) = uniform too */
    int forced = subset ? (int)nas_rng_below(rng, (uint64_t)D) : -1;
    for (int d = 0; d < D; d++) {
        x[d] = centre[d];
        if (subset && d != forced && nas_rng_uniform(rng) >= perturb) continue;
        double lo = centre[d] - side / 2, hi = centre[d] + side / 2;
        lo = lo < 0 ? 0 : lo;
        hi = hi > 1 ? 1 : hi;
        x[d] = lo + (hi - lo) * nas_rng_uniform(rng);
    }
}

/* True if some of `probe` points of the box of this level leave the region. */
static bool box_crosses(const nas_lamcts_tree *t, const nas_lamcts_step *path, int path_len,
                        const double *centre, int level, int D, int probe, nas_rng *rng,
                        double *scratch) {
    double side = BOX_START * ldexp(1.0, level);
    for (int i = 0; i < probe; i++) {
        box_point(centre, side, 1.0, D, rng, scratch);
        if (!nas_lamcts_in_region(t, path, path_len, scratch)) return true;
    }
    return false;
}

int nas_lamcts_sample_region(const nas_lamcts_tree *t, const nas_lamcts_step *path, int path_len,
                             int leaf, const double *x, const double *v, int dims,
                             const nas_lamcts_sampler *s, nas_rng *rng, double *out, int *n_out,
                             nas_err *err) {
    int D = dims, want = s->candidates, m = 0;
    const nas_lamcts_node *nd = &t->nodes[leaf];
    int n_centres = s->centers < nd->n ? s->centers : nd->n;
    int per = n_centres > 0 ? (want + n_centres - 1) / n_centres : 0;
    double *scratch = malloc(sizeof(double) * (size_t)D);
    int *order = NULL;
    bool by_value = s->center_choice != NAS_LAMCTS_CENTER_RANDOM;
    if (by_value && nd->n > 0) order = malloc(sizeof(int) * (size_t)nd->n);
    if (!scratch || (by_value && nd->n > 0 && !order)) {
        free(scratch), free(order);
        return nas_err_set(err, NAS_ENOMEM, "out of memory sampling an LA-MCTS region");
    }
    if (order) { /* the n_centres best leaf samples first (partial selection sort) */
        memcpy(order, nd->idx, sizeof(int) * (size_t)nd->n);
        for (int a = 0; a < n_centres; a++)
            for (int b = a + 1; b < nd->n; b++)
                if (v[order[b]] > v[order[a]]) {
                    int tmp = order[a];
                    order[a] = order[b];
                    order[b] = tmp;
                }
    }
    for (int c = 0; c < n_centres && m < want; c++) {
        bool take_best = s->center_choice == NAS_LAMCTS_CENTER_BEST ||
                         (s->center_choice == NAS_LAMCTS_CENTER_MIXED && c == 0);
        int smp = take_best ? order[c] : nd->idx[nas_rng_below(rng, (uint64_t)nd->n)];
        const double *centre = x + (size_t)smp * (size_t)D;
        int level = BOX_LEVELS;
        if (box_crosses(t, path, path_len, centre, BOX_LEVELS, D, s->probe, rng, scratch)) {
            int lo = 0, hi = BOX_LEVELS; /* smallest crossing level in [lo, hi] */
            while (lo < hi) {
                int mid = (lo + hi) / 2;
                if (box_crosses(t, path, path_len, centre, mid, D, s->probe, rng, scratch))
                    hi = mid;
                else
                    lo = mid + 1;
            }
            level = lo;
        }
        double side = BOX_START * ldexp(1.0, level);
        for (int i = 0; i < per && m < want; i++) {
            double *p = out + (size_t)m * (size_t)D;
            box_point(centre, side, s->perturb, D, rng, p);
            if (nas_lamcts_in_region(t, path, path_len, p)) m++;
        }
    }
    free(order);
    free(scratch);
    for (int tries = 0; m == 0 && tries < want; tries++) {
        for (int d = 0; d < D; d++) out[d] = nas_rng_uniform(rng);
        if (nas_lamcts_in_region(t, path, path_len, out)) m = 1;
    }
    if (m == 0) {
        for (int j = 0; j < want * D; j++) out[j] = nas_rng_uniform(rng);
        m = want;
    }
    *n_out = m;
    return 0;
}

typedef struct by_distance {
    double d2;
    int i;
} by_distance;

static int closer(const void *a, const void *b) {
    const by_distance *p = a, *q = b;
    if (p->d2 != q->d2) return (p->d2 > q->d2) - (p->d2 < q->d2);
    return (p->i > q->i) - (p->i < q->i);
}

int nas_lamcts_nearest(const double *x, int n, int dims, int centre, int k, int *idx) {
    assert(centre >= 0 && centre < n && k >= 0);
    by_distance *d = malloc(sizeof *d * (size_t)n);
    if (!d) return -1;
    const double *c = x + (size_t)centre * (size_t)dims;
    for (int i = 0; i < n; i++) {
        double s = 0;
        for (int j = 0; j < dims; j++) {
            double t = x[(size_t)i * (size_t)dims + j] - c[j];
            s += t * t;
        }
        d[i] = (by_distance){s, i};
    }
    qsort(d, (size_t)n, sizeof *d, closer);
    int m = k < n ? k : n;
    for (int j = 0; j < m; j++) idx[j] = d[j].i;
    free(d);
    return m;
}
