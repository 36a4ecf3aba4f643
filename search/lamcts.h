/*
 * search/lamcts.h - the LA-MCTS partition tree (Wang, Fonseca, Tian 2020).
 *
 * Built from scratch from all told samples at every proposal, as the
 * official code does (so there is no tree state to save): the root holds
 * every sample; a node whose bag holds more than leaf_size samples (and more
 * than 2) is clustered by k-means (k = 2) on [x, value * value_weight], the
 * cluster with the higher mean value is labelled 0 ("good"), an SVM learns
 * x -> label, and the node splits only if the SVM predicts both labels on its
 * own bag. Children get their samples by the SVM's prediction (child_assign
 * svm, the default: every sample then lies in its leaf's region) or by the
 * k-means labels (child_assign kmeans, the official code's behaviour).
 * Selection walks from the root to a leaf choosing the child of higher UCB,
 * mean + 2 cp sqrt(2 g(n_parent) / n_child) with g = sqrt (official code) or
 * log (the paper), ties broken at random.
 */
#ifndef NAS_SEARCH_LAMCTS_H
#define NAS_SEARCH_LAMCTS_H

#include <stdbool.h>

#include "common/error.h"
#include "common/rng.h"
#include "search/svm.h"

enum { NAS_LAMCTS_UCB_SQRT = 0, NAS_LAMCTS_UCB_LOG = 1 };
enum { NAS_LAMCTS_ASSIGN_SVM = 0, NAS_LAMCTS_ASSIGN_KMEANS = 1 };

typedef struct nas_lamcts_options {
    int leaf_size;
    double cp;
    int ucb;            /* NAS_LAMCTS_UCB_* */
    int child_assign;   /* NAS_LAMCTS_ASSIGN_* */
    nas_svm_kernel kernel;
    nas_svm_gamma gamma;
    double svm_c;
    int kmeans_init;    /* k-means restarts */
    double value_weight;/* weight of the (standardised) value column in k-means */
} nas_lamcts_options;

typedef struct nas_lamcts_node {
    int parent;
    int kid[2];   /* kid[label]; -1 for a leaf */
    int *idx;     /* indices of the bag's samples */
    int n;
    double mean;  /* mean value over the bag */
    nas_svm *svm; /* the boundary of an inner node */
} nas_lamcts_node;

typedef struct nas_lamcts_tree {
    nas_lamcts_node *nodes;
    int n_nodes, cap;
} nas_lamcts_tree;

/* One step of a path: at nodes[node], the SVM must predict `choice`. */
typedef struct nas_lamcts_step {
    int node, choice;
} nas_lamcts_step;

void nas_lamcts_tree_init(nas_lamcts_tree *t);
void nas_lamcts_tree_release(nas_lamcts_tree *t);

/* Rebuilds the tree from n samples x (n x dims) with values v (maximised). */
int nas_lamcts_build(nas_lamcts_tree *t, const double *x, const double *v, int n, int dims,
                     const nas_lamcts_options *o, nas_rng *rng, nas_err *err);

/* UCB score of a child (INFINITY for an empty one). */
double nas_lamcts_ucb(const nas_lamcts_tree *t, int child, const nas_lamcts_options *o);

/* Walks to a leaf; path has room for n_nodes steps. Returns the leaf. */
int nas_lamcts_select(const nas_lamcts_tree *t, const nas_lamcts_options *o, nas_rng *rng,
                      nas_lamcts_step *path, int *path_len);

/* True if every SVM on the path predicts its step's choice for x. */
bool nas_lamcts_in_region(const nas_lamcts_tree *t, const nas_lamcts_step *path, int path_len,
                          const double *x);

/*
 * Region sampler (the official propose_rand_samples_sobol, restated): for
 * each of `centers` centres (a random leaf sample, as official, or with
 * NAS_LAMCTS_CENTER_BEST the best leaf samples), find the smallest box side
 * L = 1e-4 * 2^k (centred there, clipped to the cube) in which some of `probe`
 * uniform points leave the region, by bisection on k (the official code
 * doubles L testing its full 2000 points each time), then draw
 * candidates/centers uniform points in that box and keep those in the region.
 * The box that just crosses the boundary makes the search local: candidates
 * hug good samples yet reach the region's edge. If no candidate results,
 * uniform points of the cube that lie in the region are used; only if none of
 * `candidates` such tries passes are plain uniform points returned
 * (*n_out = candidates) and then not every point is in the region.
 */
/* Centres: random leaf samples (official), the best ones, or the best one
 * first and random ones after it (mixed). */
enum { NAS_LAMCTS_CENTER_RANDOM = 0, NAS_LAMCTS_CENTER_BEST = 1, NAS_LAMCTS_CENTER_MIXED = 2 };

typedef struct nas_lamcts_sampler {
    int candidates;    /* points wanted */
    int centers;       /* leaf samples used as box centres */
    int center_choice; /* NAS_LAMCTS_CENTER_* */
    int probe;         /* points per boundary test */
    double perturb;    /* 1 (or 0): uniform box points (official); 0 < p < 1: each coordinate
                        * moves with probability p (one always), the rest keep
                        * the centre's value, as TuRBO's candidates in high
                        * dimension. The box size search always uses uniform
                        * points. */
} nas_lamcts_sampler;

/* x, v: all samples and values the tree was built from; out has room for
 * candidates x dims. Returns 0 or NAS_ENOMEM (nas_lamcts_in_region tells
 * the uniform fallback apart). */
int nas_lamcts_sample_region(const nas_lamcts_tree *t, const nas_lamcts_step *path, int path_len,
                             int leaf, const double *x, const double *v, int dims,
                             const nas_lamcts_sampler *s, nas_rng *rng, double *out, int *n_out,
                             nas_err *err);

/* The k samples of x (n x dims) nearest sample `centre` (Euclidean on the
 * unit cube), nearest first, ties by index, into idx (room for min(k, n));
 * returns min(k, n), or -1 when out of memory. lamcts-bo's local GP
 * (option local_gp) is fitted to them. */
int nas_lamcts_nearest(const double *x, int n, int dims, int centre, int k, int *idx);

#endif
