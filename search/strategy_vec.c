/*
 * search/strategy_vec.c - random, evolution, bo and lamcts-bo on architectures.
 *
 * A thin wrapper: the vector-level driver (vsearch.h) proposes a point of
 * [0,1]^D, the space decodes it to an architecture, and the point is snapped
 * back to the centre of its cell by encoding that architecture, so the models
 * see exactly one point per distinct architecture. The architecture hash is
 * the key of the pending and told entries: a proposal whose hash is already
 * pending or told is refused and the optimiser asked again (`max_retries`
 * times, default 3: a model-based proposal is not cheap), then neighbours of
 * the last proposal (one, then more, fields moved by nas_space_mutate), then
 * uniform samples of the space are tried; only when those are all duplicates
 * too does ask return fewer candidates (the space is nearly exhausted).
 *
 * Options: the optimiser's own keys (see opt_*.c) plus `max_retries`.
 */
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "search/strategy_impl.h"
#include "search/vsearch.h"

#define FALLBACK_SAMPLES 200

typedef struct vec_strategy {
    const nas_space *space;
    int dims;
    int max_retries;
    nas_vsearch *vs;
    double *x, *snapped;
} vec_strategy;

static void vec_destroy(void *self) {
    vec_strategy *v = self;
    if (!v) return;
    nas_vsearch_free(&v->vs);
    free(v->x);
    free(v->snapped);
    free(v);
}

/* Splits `max_retries` off the options: the optimisers check their own keys,
 * so the wrapper hands them a copy of the map without it. */
static int vec_create(const char *name, const nas_strategy_params *p, void **self, nas_err *err) {
    vec_strategy *v = calloc(1, sizeof *v);
    if (!v) return nas_err_set(err, NAS_ENOMEM, "out of memory creating strategy '%s'", name);
    v->space = p->space;
    v->dims = nas_space_dims(p->space);
    long retries = 3;
    int rc = nas_cfg_get_int(p->cfg, p->options, "max_retries", false, 3, 0, 100000, &retries, err);
    if (rc) {
        free(v);
        return rc;
    }
    v->max_retries = (int)retries;
    nas_cfg_node filtered;
    const nas_cfg_node *opts = p->options;
    char **keys = NULL;
    nas_cfg_node **items = NULL;
    int *lines = NULL, *cols = NULL;
    if (opts && opts->type == NAS_CFG_MAP && nas_cfg_get(opts, "max_retries")) {
        filtered = *opts;
        keys = malloc(sizeof *keys * opts->n);
        items = malloc(sizeof *items * opts->n);
        lines = malloc(sizeof *lines * opts->n);
        cols = malloc(sizeof *cols * opts->n);
        if (!keys || !items || !lines || !cols) {
            rc = nas_err_set(err, NAS_ENOMEM, "out of memory creating strategy '%s'", name);
            goto fail;
        }
        size_t k = 0;
        for (size_t i = 0; i < opts->n; i++) {
            if (strcmp(opts->keys[i], "max_retries") == 0) continue;
            keys[k] = opts->keys[i];
            items[k] = opts->items[i];
            lines[k] = opts->key_lines[i];
            cols[k] = opts->key_columns[i];
            k++;
        }
        filtered.n = k;
        filtered.keys = keys;
        filtered.items = items;
        filtered.key_lines = lines;
        filtered.key_columns = cols;
        opts = &filtered;
    }
    nas_vopt_params vp = {.dims = v->dims, .budget = p->budget, .cfg = p->cfg, .options = opts};
    rc = nas_vsearch_new(name, &vp, p->seed, &v->vs, err);
    if (rc) goto fail;
    v->x = malloc(sizeof(double) * (size_t)v->dims);
    v->snapped = malloc(sizeof(double) * (size_t)v->dims);
    if (!v->x || !v->snapped) {
        rc = nas_err_set(err, NAS_ENOMEM, "out of memory creating strategy '%s'", name);
        goto fail;
    }
    free(keys);
    free(items);
    free(lines);
    free(cols);
    *self = v;
    return 0;
fail:
    free(keys);
    free(items);
    free(lines);
    free(cols);
    vec_destroy(v);
    return rc;
}

/* Decodes x, and if the architecture is new, registers it as pending. */
static int try_accept(vec_strategy *v, const double *x, nas_candidate *c, bool *accepted,
                      nas_err *err) {
    *accepted = false;
    nas_space_decode(v->space, x, &c->arch);
    uint64_t key = nas_arch_hash(&c->arch);
    if (nas_vhist_has_key(nas_vsearch_history(v->vs), key)) return 0;
    int rc = nas_space_encode(v->space, &c->arch, v->snapped, err);
    if (rc) return nas_err_prefix(err, "decoded proposal does not encode back");
    rc = nas_vsearch_add_pending(v->vs, v->snapped, key, err);
    if (rc) return rc;
    *accepted = true;
    return 0;
}

static int vec_ask(void *self, int n, nas_candidate *out, int *n_out, nas_err *err) {
    vec_strategy *v = self;
    for (int i = 0; i < n; i++) {
        nas_candidate *c = &out[*n_out];
        bool accepted = false;
        for (int attempt = 0; attempt <= v->max_retries && !accepted; attempt++) {
            int rc = nas_vsearch_propose(v->vs, v->x, err);
            if (!rc) rc = try_accept(v, v->x, c, &accepted, err);
            if (rc) return rc;
        }
        nas_rng *rng = nas_vsearch_rng(v->vs);
        nas_arch near = c->arch; /* the last refused proposal */
        for (int attempt = 0; attempt < FALLBACK_SAMPLES && !accepted; attempt++) {
            nas_arch moved;
            nas_space_mutate(v->space, rng, &near, &moved); /* a random walk away from it */
            near = moved;
            int rc = nas_space_encode(v->space, &near, v->x, err);
            if (!rc) rc = try_accept(v, v->x, c, &accepted, err);
            if (rc) return rc;
        }
        for (int attempt = 0; attempt < FALLBACK_SAMPLES && !accepted; attempt++) {
            for (int d = 0; d < v->dims; d++) v->x[d] = nas_rng_uniform(rng);
            int rc = try_accept(v, v->x, c, &accepted, err);
            if (rc) return rc;
        }
        if (!accepted) break; /* nearly every architecture is taken: return what we have */
        c->recipe_json = NULL;
        c->tag[0] = '\0';
        (*n_out)++;
    }
    return 0;
}

static int vec_tell(void *self, const nas_observation *obs, nas_err *err) {
    vec_strategy *v = self;
    if (obs->status == NAS_OBS_OK && !isfinite(obs->objective))
        return nas_err_set(err, NAS_EINVAL, "tell: objective %g is not a finite number",
                           obs->objective);
    int rc = nas_space_encode(v->space, obs->arch, v->x, err);
    if (rc) return nas_err_prefix(err, "tell: the architecture is not in the experiment's space");
    nas_vstatus st = obs->status == NAS_OBS_OK           ? NAS_VSTATUS_OK
                     : obs->status == NAS_OBS_INFEASIBLE ? NAS_VSTATUS_INFEASIBLE
                                                         : NAS_VSTATUS_FAILED;
    uint64_t key = obs->arch_hash ? obs->arch_hash : nas_arch_hash(obs->arch);
    return nas_vsearch_tell(v->vs, v->x, obs->objective, st, key, err);
}

static int vec_note_pending(void *self, const nas_candidate *c, nas_err *err) {
    vec_strategy *v = self;
    uint64_t key = nas_arch_hash(&c->arch);
    if (nas_vhist_has_key(nas_vsearch_history(v->vs), key)) return 0;
    int rc = nas_space_encode(v->space, &c->arch, v->x, err);
    if (rc) return nas_err_prefix(err, "note_pending: the architecture is not in the experiment's space");
    return nas_vsearch_add_pending(v->vs, v->x, key, err);
}

static bool vec_finished(const void *self) {
    (void)self;
    return false; /* the coordinator's budget ends these searches */
}

static int vec_save(const void *self, cJSON *state, nas_err *err) {
    const vec_strategy *v = self;
    return nas_vsearch_save(v->vs, state, err);
}

static int vec_load(void *self, const cJSON *state, nas_err *err) {
    vec_strategy *v = self;
    return nas_vsearch_load(v->vs, state, err);
}

const nas_strategy_impl nas_strategy_vec_impl = {vec_create,   vec_ask,  vec_tell,
                                                 vec_note_pending, vec_finished, vec_save,
                                                 vec_load,     vec_destroy};
