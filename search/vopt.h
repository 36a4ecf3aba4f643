/*
 * search/vopt.h - vector-level optimisers: maximise a value over [0,1]^D.
 *
 * Every optimiser (random, evolution, bo, lamcts-bo) works on points of the
 * unit cube and never on architectures: the arch-level strategies
 * (strategy_vec.c) encode and decode through space/space.h, and the benchmark
 * (`nas bench-search`) drives the very same code on analytic test functions.
 *
 * The history (nas_vhist) is owned by the driver (nas_vsearch) and shared
 * read-only with the optimiser at each proposal: told points with their value
 * and status, and pending points (proposed, not yet told). Each entry carries
 * a 64-bit key (the arch hash, or a sequence number in the benchmark) so the
 * driver can match a tell to its pending entry and refuse duplicates.
 *
 * Infeasible and failed observations: the optimisers model them as *low
 * values* (nas_vhist_model_values imputes the worst feasible value minus one
 * standard deviation of the feasible values). That keeps every model (GP,
 * k-means on [x, value], SVM boundaries) in one currency and pushes proposals
 * away from over-budget regions; LA-MCTS in particular learns the latency
 * boundary as a "bad" cluster. (A separate feasibility classifier would need
 * its own hyperparameters and data it rarely has early on; imputation needs
 * neither.)
 */
#ifndef NAS_SEARCH_VOPT_H
#define NAS_SEARCH_VOPT_H

#include <stdbool.h>
#include <stdint.h>

#include <cjson/cJSON.h>

#include "common/cfg.h"
#include "common/error.h"
#include "common/rng.h"

typedef enum { NAS_VSTATUS_OK = 0, NAS_VSTATUS_INFEASIBLE = 1, NAS_VSTATUS_FAILED = 2 } nas_vstatus;

typedef struct nas_vhist {
    int dims;
    int n, cap;           /* told entries */
    double *x;            /* n x dims, row-major */
    double *value;        /* as told (maximised); meaningless when status != OK */
    uint8_t *status;      /* nas_vstatus */
    uint64_t *key;
    int n_pending, cap_pending;
    double *pending_x;    /* n_pending x dims */
    uint64_t *pending_key;
    /* Entries free before pending_x/pending_key in their buffers: removing an
     * entry moves the shorter side of the array, so the oldest (the usual
     * case: jobs finish about in the order they were proposed) costs O(1)
     * instead of moving every other pending point. */
    int pending_head;
    /* Every key of told and pending, with how often it occurs there (open
     * addressing, linear probing; slot_count 0 = free). has_key is asked once
     * per proposal, so a scan would make a long run quadratic: at 1e5
     * evaluations a scan per ask cost more than the rest of the coordinator. */
    uint64_t *slot_key;
    int32_t *slot_count;
    int n_slots, n_slots_used; /* n_slots a power of two, or 0 */
} nas_vhist;

void nas_vhist_init(nas_vhist *h, int dims);
void nas_vhist_release(nas_vhist *h);
int nas_vhist_add_told(nas_vhist *h, const double *x, double value, nas_vstatus status, uint64_t key);
int nas_vhist_add_pending(nas_vhist *h, const double *x, uint64_t key);
/* Removes the pending entry with key; returns true if one was removed. */
bool nas_vhist_remove_pending(nas_vhist *h, uint64_t key);
bool nas_vhist_has_key(const nas_vhist *h, uint64_t key);
/* Values the models see for every told entry (y has n entries): the told value
 * when OK, else the imputed low value described at the top of this file.
 * Returns the number of OK entries. */
int nas_vhist_model_values(const nas_vhist *h, double *y);
/* Index of the best OK entry, or -1. */
int nas_vhist_best(const nas_vhist *h);

/* What an optimiser is created from. options may be NULL (all defaults);
 * unknown keys are errors with file:line:column. */
typedef struct nas_vopt_params {
    int dims;
    int budget;                 /* planned evaluations, 0 = unknown */
    const nas_cfg *cfg;
    const nas_cfg_node *options;
} nas_vopt_params;

typedef struct nas_vopt_ops {
    const char *name;
    int (*create)(const nas_vopt_params *p, void **self, nas_err *err);
    /* One new point x (dims entries) given the history; pending points are
     * the proposals still out, which the optimiser must not repeat. */
    int (*propose)(void *self, const nas_vhist *h, nas_rng *rng, double *x, nas_err *err);
    /* Optimiser-specific state (e.g. GP hyperparameters) into/from obj. */
    int (*save)(const void *self, cJSON *obj, nas_err *err);
    int (*load)(void *self, const cJSON *obj, nas_err *err);
    void (*destroy)(void *self);
} nas_vopt_ops;

extern const nas_vopt_ops nas_vopt_random_ops;
extern const nas_vopt_ops nas_vopt_evolution_ops;
extern const nas_vopt_ops nas_vopt_bo_ops;
extern const nas_vopt_ops nas_vopt_lamcts_ops;

/* The ops by strategy name ("random", "evolution", "bo", "lamcts-bo"), or NULL. */
const nas_vopt_ops *nas_vopt_find(const char *name);

#endif
