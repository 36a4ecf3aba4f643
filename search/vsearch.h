/*
 * search/vsearch.h - the vector-level search driver.
 *
 * Holds one optimiser (vopt.h), its history and its random generator. It is
 * what the arch-level strategies wrap and what `nas bench-search` drives
 * directly: propose a point, mark it pending under a key, tell its value.
 * Saving writes everything the next proposal depends on (history, pending,
 * rng, optimiser state), so load + propose gives the same point as propose.
 */
#ifndef NAS_SEARCH_VSEARCH_H
#define NAS_SEARCH_VSEARCH_H

#include <stdint.h>

#include <cjson/cJSON.h>

#include "search/vopt.h"

typedef struct nas_vsearch nas_vsearch;

/* name: "random", "evolution", "bo", "lamcts-bo". */
int nas_vsearch_new(const char *name, const nas_vopt_params *p, uint64_t seed, nas_vsearch **out,
                    nas_err *err);
void nas_vsearch_free(nas_vsearch **vs);

/* A new point (dims entries), distinct in intent from pending ones; it is not
 * recorded: call nas_vsearch_add_pending once the caller accepts it. */
int nas_vsearch_propose(nas_vsearch *vs, double *x, nas_err *err);
int nas_vsearch_add_pending(nas_vsearch *vs, const double *x, uint64_t key, nas_err *err);
/* Records a result; removes the pending entry with the same key if any. */
int nas_vsearch_tell(nas_vsearch *vs, const double *x, double value, nas_vstatus status,
                     uint64_t key, nas_err *err);

const nas_vhist *nas_vsearch_history(const nas_vsearch *vs);
nas_rng *nas_vsearch_rng(nas_vsearch *vs);
int nas_vsearch_dims(const nas_vsearch *vs);

int nas_vsearch_save(const nas_vsearch *vs, cJSON *obj, nas_err *err);
int nas_vsearch_load(nas_vsearch *vs, const cJSON *obj, nas_err *err);

#endif
