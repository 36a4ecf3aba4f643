/*
 * search/strategy.c - the strategy registry and the public ask/tell API.
 *
 * Owns: the name -> family table, argument checks shared by every family,
 * and the envelope of saved state ({"strategy": name, "version": 1,
 * "state": {...}}), so that state saved by one strategy is never loaded into
 * another. Everything strategy-specific lives in the families.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "search/strategy_impl.h"

#define STATE_VERSION 1

struct nas_strategy {
    const nas_strategy_impl *impl;
    void *self;
    char name[32];
};

static const struct {
    const char *name;
    const nas_strategy_impl *impl;
} registry[] = {
    {"random", &nas_strategy_vec_impl},
    {"evolution", &nas_strategy_vec_impl},
    {"bo", &nas_strategy_vec_impl},
    {"lamcts-bo", &nas_strategy_vec_impl},
    {"llr", &nas_strategy_llr_impl},
};

int nas_strategy_new(const char *name, const nas_strategy_params *params, nas_strategy **out,
                     nas_err *err) {
    *out = NULL;
    if (!name || !params)
        return nas_err_set(err, NAS_EINVAL, "nas_strategy_new needs a name and parameters");
    const nas_strategy_impl *impl = NULL;
    for (size_t i = 0; i < sizeof registry / sizeof registry[0]; i++)
        if (strcmp(registry[i].name, name) == 0) impl = registry[i].impl;
    if (!impl)
        return nas_err_set(err, NAS_EINVAL,
                           "unknown strategy '%s' (known: random, evolution, bo, lamcts-bo, llr)",
                           name);
    if (!params->space)
        return nas_err_set(err, NAS_EINVAL, "strategy '%s' needs a search space", name);
    if (params->options && !params->cfg)
        return nas_err_set(err, NAS_EINVAL,
                           "strategy '%s': options given without the document they came from", name);
    nas_strategy *s = calloc(1, sizeof *s);
    if (!s) return nas_err_set(err, NAS_ENOMEM, "out of memory creating strategy '%s'", name);
    snprintf(s->name, sizeof s->name, "%s", name);
    s->impl = impl;
    int rc = impl->create(name, params, &s->self, err);
    if (rc) {
        free(s);
        return rc;
    }
    *out = s;
    return 0;
}

void nas_strategy_free(nas_strategy **s) {
    if (!s || !*s) return;
    (*s)->impl->destroy((*s)->self);
    free(*s);
    *s = NULL;
}

const char *nas_strategy_name(const nas_strategy *s) { return s->name; }

int nas_strategy_ask(nas_strategy *s, int n, nas_candidate *out, int *n_out, nas_err *err) {
    *n_out = 0;
    if (n < 0) return nas_err_set(err, NAS_EINVAL, "ask: negative count %d", n);
    if (n == 0) return 0;
    memset(out, 0, sizeof *out * (size_t)n);
    return s->impl->ask(s->self, n, out, n_out, err);
}

int nas_strategy_tell(nas_strategy *s, const nas_observation *obs, nas_err *err) {
    if (!obs || !obs->arch) return nas_err_set(err, NAS_EINVAL, "tell: observation without arch");
    return s->impl->tell(s->self, obs, err);
}

int nas_strategy_note_pending(nas_strategy *s, const nas_candidate *c, nas_err *err) {
    if (!c) return nas_err_set(err, NAS_EINVAL, "note_pending: no candidate");
    return s->impl->note_pending(s->self, c, err);
}

bool nas_strategy_finished(const nas_strategy *s) { return s->impl->finished(s->self); }

int nas_strategy_save(const nas_strategy *s, char **json_out, nas_err *err) {
    *json_out = NULL;
    cJSON *root = cJSON_CreateObject();
    cJSON *state = root ? cJSON_CreateObject() : NULL;
    if (!state || !cJSON_AddStringToObject(root, "strategy", s->name) ||
        !cJSON_AddNumberToObject(root, "version", STATE_VERSION)) {
        cJSON_Delete(state);
        cJSON_Delete(root);
        return nas_err_set(err, NAS_ENOMEM, "out of memory saving strategy state");
    }
    cJSON_AddItemToObject(root, "state", state);
    int rc = s->impl->save(s->self, state, err);
    if (!rc) {
        *json_out = cJSON_PrintUnformatted(root);
        if (!*json_out) rc = nas_err_set(err, NAS_ENOMEM, "out of memory saving strategy state");
    }
    cJSON_Delete(root);
    return rc;
}

int nas_strategy_load(nas_strategy *s, const char *json, nas_err *err) {
    if (!json) return nas_err_set(err, NAS_EINVAL, "load: no state");
    cJSON *root = cJSON_Parse(json);
    if (!root) return nas_err_set(err, NAS_EPARSE, "strategy state is not valid JSON");
    int rc = 0;
    const cJSON *name = cJSON_GetObjectItemCaseSensitive(root, "strategy");
    const cJSON *version = cJSON_GetObjectItemCaseSensitive(root, "version");
    const cJSON *state = cJSON_GetObjectItemCaseSensitive(root, "state");
    if (!cJSON_IsString(name) || !cJSON_IsNumber(version) || !cJSON_IsObject(state))
        rc = nas_err_set(err, NAS_EPARSE,
                         "strategy state must be an object with 'strategy', 'version' and 'state'");
    else if (strcmp(name->valuestring, s->name) != 0)
        rc = nas_err_set(err, NAS_EINVAL,
                         "strategy state was saved by '%s', not by '%s'; the experiment's strategy "
                         "cannot change after it started",
                         name->valuestring, s->name);
    else if (version->valuedouble != STATE_VERSION)
        rc = nas_err_set(err, NAS_EINVAL, "strategy state version %g is not supported (expected %d)",
                         version->valuedouble, STATE_VERSION);
    else
        rc = s->impl->load(s->self, state, err);
    cJSON_Delete(root);
    return rc;
}

void nas_candidate_release(nas_candidate *c) {
    if (!c) return;
    free(c->recipe_json);
    c->recipe_json = NULL;
}
