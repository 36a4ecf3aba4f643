/*
 * search/opt_bo.c - the `bo` strategy: GP-BO over the whole unit cube.
 *
 * After the initial design (bo.h), candidates are `candidates` uniform points
 * of [0,1]^D, scored by EI against the best posterior mean over all told
 * points, the best few refined by L-BFGS (acq.h). Options: those of bo.h;
 * init defaults to 20 and xi to 0.01 (the usual EI default, e.g. GPyOpt's).
 */
#include <stdlib.h>

#include "search/bo.h"

typedef struct bo_opt {
    nas_bo_core core;
    double *cands;
} bo_opt;

static void bo_destroy(void *self) {
    bo_opt *b = self;
    if (!b) return;
    nas_bo_core_release(&b->core);
    free(b->cands);
    free(b);
}

static int bo_create(const nas_vopt_params *p, void **self, nas_err *err) {
    bo_opt *b = calloc(1, sizeof *b);
    if (!b) return nas_err_set(err, NAS_ENOMEM, "out of memory creating bo");
    int rc = 0;
    if ((p->options && (rc = nas_cfg_check_keys(p->cfg, p->options, nas_bo_option_keys,
                                                "bo options", err))) ||
        (rc = nas_bo_core_init(&b->core, p, 20, 0.01, 1.0, NAS_ACQ_FACES_ALLOW, err))) {
        bo_destroy(b);
        return rc;
    }
    b->cands = malloc(sizeof(double) * (size_t)b->core.opt.candidates * (size_t)p->dims);
    if (!b->cands) {
        bo_destroy(b);
        return nas_err_set(err, NAS_ENOMEM, "out of memory creating bo");
    }
    *self = b;
    return 0;
}

static int bo_propose(void *self, const nas_vhist *h, nas_rng *rng, double *x, nas_err *err) {
    bo_opt *b = self;
    int D = b->core.dims, rc;
    bool used;
    if ((rc = nas_bo_core_initial(&b->core, h, rng, x, &used, err)) || used) return rc;
    if (h->n < 2) { /* everything is still pending: nothing to model yet */
        for (int d = 0; d < D; d++) x[d] = nas_rng_uniform(rng);
        return 0;
    }
    if ((rc = nas_bo_core_model(&b->core, h, b->core.opt.ls_scale, rng, err))) return rc;
    int m = b->core.opt.candidates;
    for (int j = 0; j < m * D; j++) b->cands[j] = nas_rng_uniform(rng);
    double best;
    if ((rc = nas_bo_core_incumbent(&b->core, h, NULL, 0, &best, err))) return rc;
    return nas_bo_core_select(&b->core, b->cands, m, best, NULL, NULL, NULL, x, err);
}

static int bo_save(const void *self, cJSON *obj, nas_err *err) {
    return nas_bo_core_save(&((const bo_opt *)self)->core, obj, err);
}

static int bo_load(void *self, const cJSON *obj, nas_err *err) {
    return nas_bo_core_load(&((bo_opt *)self)->core, obj, err);
}

const nas_vopt_ops nas_vopt_bo_ops = {"bo", bo_create, bo_propose, bo_save, bo_load, bo_destroy};
