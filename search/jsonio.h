/*
 * search/jsonio.h - small cJSON helpers for strategy state.
 *
 * Strategy state must round-trip exactly (the next proposals after load must
 * equal those without the save), so doubles are written with "%.17g"
 * (cJSON's own printer may drop the last bit) and 64-bit integers (rng words, arch hashes) are
 * written as 16-digit hex strings, which a double could not hold.
 */
#ifndef NAS_SEARCH_JSONIO_H
#define NAS_SEARCH_JSONIO_H

#include <stdbool.h>
#include <stdint.h>

#include <cjson/cJSON.h>

#include "common/error.h"
#include "common/rng.h"

/* Adders return false when out of memory. */
bool nas_json_add_u64(cJSON *obj, const char *key, uint64_t v);
bool nas_json_add_double(cJSON *obj, const char *key, double v);
bool nas_json_add_doubles(cJSON *obj, const char *key, const double *v, int n);
bool nas_json_add_u64s(cJSON *obj, const char *key, const uint64_t *v, int n);
bool nas_json_add_rng(cJSON *obj, const char *key, const nas_rng *rng);

/* Getters fail with NAS_EPARSE naming the key ("state: 'x' ..."). */
int nas_json_get_u64(const cJSON *obj, const char *key, uint64_t *v, nas_err *err);
int nas_json_get_int(const cJSON *obj, const char *key, int *v, nas_err *err);
int nas_json_get_double(const cJSON *obj, const char *key, double *v, nas_err *err);
/* Exactly n doubles. */
int nas_json_get_doubles(const cJSON *obj, const char *key, double *v, int n, nas_err *err);
/* Array length of key (for sizing), or NAS_EPARSE. */
int nas_json_get_array_len(const cJSON *obj, const char *key, int *n, nas_err *err);
int nas_json_get_u64s(const cJSON *obj, const char *key, uint64_t *v, int n, nas_err *err);
int nas_json_get_rng(const cJSON *obj, const char *key, nas_rng *rng, nas_err *err);

#endif
