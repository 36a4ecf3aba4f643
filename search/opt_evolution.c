/*
 * search/opt_evolution.c - the `evolution` strategy: regularised evolution.
 *
 * Real et al. (AAAI 2019), the usual NAS baseline. The population is the
 * `population` most recently told observations (so the oldest is the one that
 * drops out: "ageing"); until that many points are told or pending, proposals
 * are uniform random. Each child: draw `sample` members without replacement,
 * take the one with the best model value (vhist imputation makes infeasible
 * members the worst) and move one coordinate to a new uniform value, which on
 * an architecture space means one field moved to another allowed value
 * (`mutation: gaussian` perturbs it by N(0, sigma) instead, clipped).
 * No state besides the history, so save/load has nothing of its own.
 */
#include <stdlib.h>
#include <string.h>

#include "search/vopt.h"

enum { MUTATION_UNIFORM = 0, MUTATION_GAUSSIAN = 1 };

typedef struct evolution_opt {
    int dims;
    int population;
    int sample;
    int mutation;
    double sigma;
} evolution_opt;

static int evolution_create(const nas_vopt_params *p, void **self, nas_err *err) {
    static const char *const keys[] = {"population", "sample", "mutation", "sigma", NULL};
    static const char *const mutations[] = {"uniform", "gaussian", NULL};
    evolution_opt *e = calloc(1, sizeof *e);
    if (!e) return nas_err_set(err, NAS_ENOMEM, "out of memory creating evolution strategy");
    long population, sample;
    int rc = 0;
    if ((p->options &&
         (rc = nas_cfg_check_keys(p->cfg, p->options, keys, "evolution options", err))) ||
        (rc = nas_cfg_get_int(p->cfg, p->options, "population", false, 20, 2, 100000, &population,
                              err)) ||
        (rc = nas_cfg_get_int(p->cfg, p->options, "sample", false, 5, 1, 100000, &sample, err)) ||
        (rc = nas_cfg_get_enum(p->cfg, p->options, "mutation", false, mutations, MUTATION_UNIFORM,
                               &e->mutation, err)) ||
        (rc = nas_cfg_get_double(p->cfg, p->options, "sigma", false, 0.1, 1e-6, 1.0, &e->sigma,
                                 err))) {
        free(e);
        return rc;
    }
    if (sample > population) {
        free(e);
        return nas_err_set(err, NAS_EINVAL,
                           "evolution options: sample (%ld) must not exceed population (%ld)", sample,
                           population);
    }
    e->dims = p->dims;
    e->population = (int)population;
    e->sample = (int)sample;
    *self = e;
    return 0;
}

static int evolution_propose(void *self, const nas_vhist *h, nas_rng *rng, double *x, nas_err *err) {
    evolution_opt *e = self;
    if (h->n + h->n_pending < e->population || h->n < e->sample) {
        for (int d = 0; d < e->dims; d++) x[d] = nas_rng_uniform(rng);
        return 0;
    }
    int size = h->n < e->population ? h->n : e->population;
    int first = h->n - size; /* population = told entries first .. n-1 */
    double *y = malloc(sizeof(double) * (size_t)h->n);
    int *idx = malloc(sizeof(int) * (size_t)size);
    if (!y || !idx) {
        free(y);
        free(idx);
        return nas_err_set(err, NAS_ENOMEM, "out of memory in evolution");
    }
    nas_vhist_model_values(h, y);
    for (int i = 0; i < size; i++) idx[i] = first + i;
    /* partial Fisher-Yates: the first `sample` entries are a sample without replacement */
    int parent = -1;
    for (int i = 0; i < e->sample; i++) {
        int j = i + (int)nas_rng_below(rng, (uint64_t)(size - i));
        int t = idx[i];
        idx[i] = idx[j];
        idx[j] = t;
        if (parent < 0 || y[idx[i]] > y[parent]) parent = idx[i];
    }
    memcpy(x, h->x + (size_t)parent * (size_t)e->dims, sizeof(double) * (size_t)e->dims);
    int d = (int)nas_rng_below(rng, (uint64_t)e->dims);
    if (e->mutation == MUTATION_UNIFORM) {
        x[d] = nas_rng_uniform(rng);
    } else {
        double v = x[d] + e->sigma * nas_rng_normal(rng);
        x[d] = v < 0 ? 0 : (v > 1 ? 1 : v);
    }
    free(y);
    free(idx);
    return 0;
}

static int evolution_save(const void *self, cJSON *obj, nas_err *err) {
    (void)self, (void)obj, (void)err;
    return 0;
}

static int evolution_load(void *self, const cJSON *obj, nas_err *err) {
    (void)self, (void)obj, (void)err;
    return 0;
}

static void evolution_destroy(void *self) { free(self); }

const nas_vopt_ops nas_vopt_evolution_ops = {"evolution", evolution_create, evolution_propose,
                                             evolution_save, evolution_load, evolution_destroy};
