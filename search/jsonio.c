/*
 * search/jsonio.c - exact JSON round-trips of strategy state (see jsonio.h).
 */
#include <inttypes.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "search/jsonio.h"

static bool u64_to_hex(uint64_t v, char out[17]) {
    return snprintf(out, 17, "%016" PRIx64, v) == 16;
}

static int hex_to_u64(const char *s, uint64_t *v) {
    if (!s || strlen(s) != 16) return -1;
    char *end = NULL;
    unsigned long long x = strtoull(s, &end, 16);
    if (!end || *end) return -1;
    *v = (uint64_t)x;
    return 0;
}

bool nas_json_add_u64(cJSON *obj, const char *key, uint64_t v) {
    char hex[17];
    return u64_to_hex(v, hex) && cJSON_AddStringToObject(obj, key, hex) != NULL;
}

/* cJSON prints doubles with %.15g and falls back to %.17g only when the
 * shorter text is off by more than a relative epsilon, so it can lose the last
 * bit; %.17g always round-trips through strtod, which cJSON_Parse uses.
 * Non-finite values have no JSON form and become null (load rejects them). */
static cJSON *exact_number(double v) {
    if (!isfinite(v)) return cJSON_CreateNull();
    char text[40];
    snprintf(text, sizeof text, "%.17g", v);
    return cJSON_CreateRaw(text);
}

bool nas_json_add_double(cJSON *obj, const char *key, double v) {
    cJSON *item = exact_number(v);
    if (!item) return false;
    if (cJSON_AddItemToObject(obj, key, item)) return true;
    cJSON_Delete(item);
    return false;
}

bool nas_json_add_doubles(cJSON *obj, const char *key, const double *v, int n) {
    cJSON *arr = cJSON_AddArrayToObject(obj, key);
    if (!arr) return false;
    for (int i = 0; i < n; i++) {
        cJSON *item = exact_number(v[i]);
        if (!item) return false;
        cJSON_AddItemToArray(arr, item);
    }
    return true;
}

bool nas_json_add_u64s(cJSON *obj, const char *key, const uint64_t *v, int n) {
    cJSON *arr = cJSON_AddArrayToObject(obj, key);
    if (!arr) return false;
    for (int i = 0; i < n; i++) {
        char hex[17];
        cJSON *item = u64_to_hex(v[i], hex) ? cJSON_CreateString(hex) : NULL;
        if (!item) return false;
        cJSON_AddItemToArray(arr, item);
    }
    return true;
}

bool nas_json_add_rng(cJSON *obj, const char *key, const nas_rng *rng) {
    return nas_json_add_u64s(obj, key, rng->s, 4);
}

/* A number, or a raw number of our own (state not yet printed and parsed). */
static bool number_value(const cJSON *it, double *v) {
    if (cJSON_IsNumber(it)) {
        *v = it->valuedouble;
        return true;
    }
    if (cJSON_IsRaw(it) && it->valuestring) {
        char *end = NULL;
        *v = strtod(it->valuestring, &end);
        return end && end != it->valuestring && *end == '\0';
    }
    return false;
}

static const cJSON *member(const cJSON *obj, const char *key, nas_err *err) {
    const cJSON *it = cJSON_GetObjectItemCaseSensitive(obj, key);
    if (!it) nas_err_set(err, NAS_EPARSE, "strategy state: missing '%s'", key);
    return it;
}

int nas_json_get_u64(const cJSON *obj, const char *key, uint64_t *v, nas_err *err) {
    const cJSON *it = member(obj, key, err);
    if (!it) return NAS_EPARSE;
    if (!cJSON_IsString(it) || hex_to_u64(it->valuestring, v))
        return nas_err_set(err, NAS_EPARSE, "strategy state: '%s' must be a 16-digit hex string", key);
    return 0;
}

int nas_json_get_int(const cJSON *obj, const char *key, int *v, nas_err *err) {
    const cJSON *it = member(obj, key, err);
    if (!it) return NAS_EPARSE;
    if (!cJSON_IsNumber(it) || it->valuedouble != (double)(int)it->valuedouble)
        return nas_err_set(err, NAS_EPARSE, "strategy state: '%s' must be an integer", key);
    *v = (int)it->valuedouble;
    return 0;
}

int nas_json_get_double(const cJSON *obj, const char *key, double *v, nas_err *err) {
    const cJSON *it = member(obj, key, err);
    if (!it) return NAS_EPARSE;
    if (!number_value(it, v))
        return nas_err_set(err, NAS_EPARSE, "strategy state: '%s' must be a number", key);
    return 0;
}

int nas_json_get_array_len(const cJSON *obj, const char *key, int *n, nas_err *err) {
    const cJSON *it = member(obj, key, err);
    if (!it) return NAS_EPARSE;
    if (!cJSON_IsArray(it))
        return nas_err_set(err, NAS_EPARSE, "strategy state: '%s' must be an array", key);
    *n = cJSON_GetArraySize(it);
    return 0;
}

/* Checks that obj[key] is an array of exactly n entries (shared by the typed
 * array readers below). */
static int expect_array_len(const cJSON *obj, const char *key, int n, nas_err *err) {
    int len;
    int rc = nas_json_get_array_len(obj, key, &len, err);
    if (rc) return rc;
    if (len != n)
        return nas_err_set(err, NAS_EPARSE, "strategy state: '%s' has %d entries, expected %d", key,
                           len, n);
    return 0;
}

int nas_json_get_doubles(const cJSON *obj, const char *key, double *v, int n, nas_err *err) {
    int rc = expect_array_len(obj, key, n, err);
    if (rc) return rc;
    int i = 0;
    const cJSON *item;
    cJSON_ArrayForEach(item, cJSON_GetObjectItemCaseSensitive(obj, key)) {
        if (!number_value(item, &v[i]))
            return nas_err_set(err, NAS_EPARSE, "strategy state: '%s'[%d] must be a number", key, i);
        i++;
    }
    return 0;
}

int nas_json_get_u64s(const cJSON *obj, const char *key, uint64_t *v, int n, nas_err *err) {
    int rc = expect_array_len(obj, key, n, err);
    if (rc) return rc;
    int i = 0;
    const cJSON *item;
    cJSON_ArrayForEach(item, cJSON_GetObjectItemCaseSensitive(obj, key)) {
        if (!cJSON_IsString(item) || hex_to_u64(item->valuestring, &v[i]))
            return nas_err_set(err, NAS_EPARSE,
                               "strategy state: '%s'[%d] must be a 16-digit hex string", key, i);
        i++;
    }
    return 0;
}

int nas_json_get_rng(const cJSON *obj, const char *key, nas_rng *rng, nas_err *err) {
    return nas_json_get_u64s(obj, key, rng->s, 4, err);
}
