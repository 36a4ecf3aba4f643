/*
 * search/strategy_impl.h - what each strategy family provides to strategy.c.
 *
 * strategy.c owns the public API (registry, argument checks, the JSON
 * envelope of saved state); a family implements this table: strategy_vec.c
 * for the vector-level optimisers (random, evolution, bo, lamcts-bo) and
 * llr.c for LLR-NAS, which works on super-blocks rather than on vectors.
 */
#ifndef NAS_SEARCH_STRATEGY_IMPL_H
#define NAS_SEARCH_STRATEGY_IMPL_H

#include <cjson/cJSON.h>

#include "search/strategy.h"

typedef struct nas_strategy_impl {
    int (*create)(const char *name, const nas_strategy_params *p, void **self, nas_err *err);
    int (*ask)(void *self, int n, nas_candidate *out, int *n_out, nas_err *err);
    int (*tell)(void *self, const nas_observation *obs, nas_err *err);
    int (*note_pending)(void *self, const nas_candidate *c, nas_err *err);
    bool (*finished)(const void *self);
    int (*save)(const void *self, cJSON *state, nas_err *err);
    int (*load)(void *self, const cJSON *state, nas_err *err);
    void (*destroy)(void *self);
} nas_strategy_impl;

extern const nas_strategy_impl nas_strategy_vec_impl;
extern const nas_strategy_impl nas_strategy_llr_impl;

#endif
