/*
 * search/vsearch.c - the vector-level driver: optimiser + history + rng.
 */
#include <stdlib.h>
#include <string.h>

#include "search/jsonio.h"
#include "search/vsearch.h"

struct nas_vsearch {
    const nas_vopt_ops *ops;
    void *opt;
    nas_vhist hist;
    nas_rng rng;
};

const nas_vopt_ops *nas_vopt_find(const char *name) {
    static const nas_vopt_ops *const all[] = {&nas_vopt_random_ops, &nas_vopt_evolution_ops,
                                              &nas_vopt_bo_ops, &nas_vopt_lamcts_ops};
    for (size_t i = 0; i < sizeof all / sizeof all[0]; i++)
        if (strcmp(all[i]->name, name) == 0) return all[i];
    return NULL;
}

int nas_vsearch_new(const char *name, const nas_vopt_params *p, uint64_t seed, nas_vsearch **out,
                    nas_err *err) {
    *out = NULL;
    const nas_vopt_ops *ops = nas_vopt_find(name);
    if (!ops)
        return nas_err_set(err, NAS_EINVAL,
                           "unknown strategy '%s' (known: random, evolution, bo, lamcts-bo, llr)",
                           name);
    if (p->dims < 1)
        return nas_err_set(err, NAS_EINVAL, "strategy '%s' needs at least one dimension", name);
    nas_vsearch *vs = calloc(1, sizeof *vs);
    if (!vs) return nas_err_set(err, NAS_ENOMEM, "out of memory creating strategy '%s'", name);
    vs->ops = ops;
    nas_vhist_init(&vs->hist, p->dims);
    nas_rng_seed(&vs->rng, seed);
    int rc = ops->create(p, &vs->opt, err);
    if (rc) {
        free(vs);
        return rc;
    }
    *out = vs;
    return 0;
}

void nas_vsearch_free(nas_vsearch **vs) {
    if (!vs || !*vs) return;
    (*vs)->ops->destroy((*vs)->opt);
    nas_vhist_release(&(*vs)->hist);
    free(*vs);
    *vs = NULL;
}

int nas_vsearch_propose(nas_vsearch *vs, double *x, nas_err *err) {
    int rc = vs->ops->propose(vs->opt, &vs->hist, &vs->rng, x, err);
    if (rc) return rc;
    for (int d = 0; d < vs->hist.dims; d++) /* the contract is [0,1]^D, whatever the optimiser */
        x[d] = x[d] < 0 ? 0 : (x[d] > 1 ? 1 : x[d]);
    return 0;
}

int nas_vsearch_add_pending(nas_vsearch *vs, const double *x, uint64_t key, nas_err *err) {
    if (nas_vhist_add_pending(&vs->hist, x, key))
        return nas_err_set(err, NAS_ENOMEM, "out of memory recording a pending proposal");
    return 0;
}

int nas_vsearch_tell(nas_vsearch *vs, const double *x, double value, nas_vstatus status,
                     uint64_t key, nas_err *err) {
    nas_vhist_remove_pending(&vs->hist, key);
    if (nas_vhist_add_told(&vs->hist, x, value, status, key))
        return nas_err_set(err, NAS_ENOMEM, "out of memory recording an observation");
    return 0;
}

const nas_vhist *nas_vsearch_history(const nas_vsearch *vs) { return &vs->hist; }
nas_rng *nas_vsearch_rng(nas_vsearch *vs) { return &vs->rng; }
int nas_vsearch_dims(const nas_vsearch *vs) { return vs->hist.dims; }

int nas_vsearch_save(const nas_vsearch *vs, cJSON *obj, nas_err *err) {
    const nas_vhist *h = &vs->hist;
    double *status = malloc(sizeof(double) * (size_t)(h->n + 1));
    if (!status) return nas_err_set(err, NAS_ENOMEM, "out of memory saving strategy state");
    for (int i = 0; i < h->n; i++) status[i] = h->status[i];
    bool ok = cJSON_AddStringToObject(obj, "optimiser", vs->ops->name) &&
              cJSON_AddNumberToObject(obj, "dims", h->dims) && nas_json_add_rng(obj, "rng", &vs->rng) &&
              nas_json_add_doubles(obj, "x", h->x, h->n * h->dims) &&
              nas_json_add_doubles(obj, "value", h->value, h->n) &&
              nas_json_add_doubles(obj, "status", status, h->n) &&
              nas_json_add_u64s(obj, "key", h->key, h->n) &&
              nas_json_add_doubles(obj, "pending_x", h->pending_x, h->n_pending * h->dims) &&
              nas_json_add_u64s(obj, "pending_key", h->pending_key, h->n_pending);
    free(status);
    if (!ok) return nas_err_set(err, NAS_ENOMEM, "out of memory saving strategy state");
    cJSON *opt = cJSON_AddObjectToObject(obj, "opt");
    if (!opt) return nas_err_set(err, NAS_ENOMEM, "out of memory saving strategy state");
    return vs->ops->save(vs->opt, opt, err);
}

int nas_vsearch_load(nas_vsearch *vs, const cJSON *obj, nas_err *err) {
    const cJSON *name = cJSON_GetObjectItemCaseSensitive(obj, "optimiser");
    if (!cJSON_IsString(name) || strcmp(name->valuestring, vs->ops->name) != 0)
        return nas_err_set(err, NAS_EINVAL,
                           "strategy state was saved by another optimiser than '%s'; it cannot be "
                           "loaded into this experiment",
                           vs->ops->name);
    int dims, n, n_pending, rc;
    if ((rc = nas_json_get_int(obj, "dims", &dims, err))) return rc;
    if (dims != vs->hist.dims)
        return nas_err_set(err, NAS_EINVAL,
                           "strategy state has %d dimensions but the space has %d; was the space "
                           "changed after the experiment started?",
                           dims, vs->hist.dims);
    if ((rc = nas_json_get_array_len(obj, "value", &n, err)) ||
        (rc = nas_json_get_array_len(obj, "pending_key", &n_pending, err)))
        return rc;
    nas_vhist h;
    nas_vhist_init(&h, dims);
    double *x = malloc(sizeof(double) * (size_t)(n + n_pending + 1) * (size_t)dims);
    double *val = malloc(sizeof(double) * (size_t)(n + 1));
    double *st = malloc(sizeof(double) * (size_t)(n + 1));
    uint64_t *key = malloc(sizeof(uint64_t) * (size_t)(n + n_pending + 1));
    nas_rng rng;
    if (!x || !val || !st || !key) {
        rc = nas_err_set(err, NAS_ENOMEM, "out of memory loading strategy state");
        goto done;
    }
    if ((rc = nas_json_get_rng(obj, "rng", &rng, err)) ||
        (rc = nas_json_get_doubles(obj, "x", x, n * dims, err)) ||
        (rc = nas_json_get_doubles(obj, "value", val, n, err)) ||
        (rc = nas_json_get_doubles(obj, "status", st, n, err)) ||
        (rc = nas_json_get_u64s(obj, "key", key, n, err)))
        goto done;
    for (int i = 0; i < n; i++) {
        if (st[i] != 0 && st[i] != 1 && st[i] != 2) {
            rc = nas_err_set(err, NAS_EPARSE, "strategy state: status[%d] is not 0, 1 or 2", i);
            goto done;
        }
        if (nas_vhist_add_told(&h, x + (size_t)i * (size_t)dims, val[i], (nas_vstatus)st[i], key[i])) {
            rc = nas_err_set(err, NAS_ENOMEM, "out of memory loading strategy state");
            goto done;
        }
    }
    if ((rc = nas_json_get_doubles(obj, "pending_x", x, n_pending * dims, err)) ||
        (rc = nas_json_get_u64s(obj, "pending_key", key, n_pending, err)))
        goto done;
    for (int i = 0; i < n_pending; i++) {
        if (nas_vhist_add_pending(&h, x + (size_t)i * (size_t)dims, key[i])) {
            rc = nas_err_set(err, NAS_ENOMEM, "out of memory loading strategy state");
            goto done;
        }
    }
    const cJSON *opt = cJSON_GetObjectItemCaseSensitive(obj, "opt");
    if (!cJSON_IsObject(opt)) {
        rc = nas_err_set(err, NAS_EPARSE, "strategy state: missing 'opt' object");
        goto done;
    }
    if ((rc = vs->ops->load(vs->opt, opt, err))) goto done;
    nas_vhist_release(&vs->hist);
    vs->hist = h;
    nas_vhist_init(&h, dims);
    vs->rng = rng;
done:
    nas_vhist_release(&h);
    free(x);
    free(val);
    free(st);
    free(key);
    return rc;
}
