/*
 * search/opt_random.c - the `random` strategy: Latin hypercube blocks.
 *
 * Points come from Latin hypercube blocks of `block` points (default: the
 * budget, so a whole run is one stratified design; 64 when the budget is
 * unknown), handed out in order; a new block starts when one is used up.
 * `design: uniform` gives plain i.i.d. uniform points instead.
 *
 * The block is not saved: its generator state at the start of the block is,
 * and load regenerates the same block from it.
 */
#include <stdlib.h>
#include <string.h>

#include "search/jsonio.h"
#include "search/lhs.h"
#include "search/vopt.h"

enum { DESIGN_LHS = 0, DESIGN_UNIFORM = 1 };

typedef struct random_opt {
    int dims;
    int design;
    int block_size;
    int position;      /* next point of the block to hand out; == block_size: none left */
    nas_rng own_rng;   /* the optimiser's own stream (independent of the driver's) */
    nas_rng block_rng; /* own_rng as it was when the current block was drawn */
    double *block;
} random_opt;

static int random_create(const nas_vopt_params *p, void **self, nas_err *err) {
    static const char *const keys[] = {"design", "block", NULL};
    static const char *const designs[] = {"lhs", "uniform", NULL};
    random_opt *r = calloc(1, sizeof *r);
    if (!r) return nas_err_set(err, NAS_ENOMEM, "out of memory creating random strategy");
    long block;
    int rc = 0;
    if ((p->options && (rc = nas_cfg_check_keys(p->cfg, p->options, keys, "random options", err))) ||
        (rc = nas_cfg_get_enum(p->cfg, p->options, "design", false, designs, DESIGN_LHS, &r->design,
                               err)) ||
        (rc = nas_cfg_get_int(p->cfg, p->options, "block", false, p->budget > 0 ? p->budget : 64, 1,
                              100000, &block, err))) {
        free(r);
        return rc;
    }
    r->dims = p->dims;
    r->block_size = (int)block;
    r->position = r->block_size;
    r->block = malloc(sizeof(double) * (size_t)r->block_size * (size_t)r->dims);
    if (!r->block) {
        free(r);
        return nas_err_set(err, NAS_ENOMEM, "out of memory creating random strategy");
    }
    nas_rng_seed(&r->own_rng, 0x4c48535f72616e64ULL); /* reseeded from the driver at first use */
    r->block_rng = r->own_rng;
    *self = r;
    return 0;
}

static int random_propose(void *self, const nas_vhist *h, nas_rng *rng, double *x, nas_err *err) {
    random_opt *r = self;
    if (r->design == DESIGN_UNIFORM) {
        for (int d = 0; d < r->dims; d++) x[d] = nas_rng_uniform(rng);
        return 0;
    }
    if (r->position >= r->block_size) {
        /* derive the block's stream from the driver's rng so the seed decides everything */
        nas_rng_seed(&r->own_rng, nas_rng_u64(rng));
        r->block_rng = r->own_rng;
        if (nas_lhs(&r->own_rng, r->block_size, r->dims, r->block))
            return nas_err_set(err, NAS_ENOMEM, "out of memory drawing a Latin hypercube");
        r->position = 0;
    }
    memcpy(x, r->block + (size_t)r->position * (size_t)r->dims, sizeof(double) * (size_t)r->dims);
    r->position++;
    (void)h;
    return 0;
}

static int random_save(const void *self, cJSON *obj, nas_err *err) {
    const random_opt *r = self;
    if (!cJSON_AddNumberToObject(obj, "position", r->position) ||
        !nas_json_add_rng(obj, "block_rng", &r->block_rng))
        return nas_err_set(err, NAS_ENOMEM, "out of memory saving random strategy");
    return 0;
}

static int random_load(void *self, const cJSON *obj, nas_err *err) {
    random_opt *r = self;
    int position, rc;
    nas_rng block_rng;
    if ((rc = nas_json_get_int(obj, "position", &position, err)) ||
        (rc = nas_json_get_rng(obj, "block_rng", &block_rng, err)))
        return rc;
    if (position < 0 || position > r->block_size)
        return nas_err_set(err, NAS_EPARSE,
                           "strategy state: block position %d is outside 0..%d (was 'block' changed?)",
                           position, r->block_size);
    r->block_rng = block_rng;
    r->own_rng = block_rng;
    if (position < r->block_size && nas_lhs(&r->own_rng, r->block_size, r->dims, r->block))
        return nas_err_set(err, NAS_ENOMEM, "out of memory drawing a Latin hypercube");
    r->position = position;
    return 0;
}

static void random_destroy(void *self) {
    random_opt *r = self;
    if (!r) return;
    free(r->block);
    free(r);
}

const nas_vopt_ops nas_vopt_random_ops = {"random", random_create, random_propose, random_save,
                                          random_load, random_destroy};
