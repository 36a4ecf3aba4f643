/*
 * trainer/recipe.c - the training recipe: defaults and JSON parsing.
 *
 * The recipe arrives as JSON from an experiment file (via nasd and the wire)
 * or from `nas train` flags. Keys are checked for type and range here, once,
 * so the training loop can trust every field; keys this trainer does not use
 * are ignored on purpose (evaluator.h: one recipe serves several evaluators).
 */
#include <cjson/cJSON.h>
#include <math.h>
#include <stdio.h>
#include <string.h>

#include "trainer/trainer.h"

void nas_recipe_defaults(nas_recipe *r) {
    memset(r, 0, sizeof *r);
    snprintf(r->dataset, sizeof r->dataset, "fashion-mnist");
    r->epochs = 3;
    r->batch = 128;
    r->lr = 0.1;
    r->lr_min = 0.0;
    r->momentum = 0.9;
    r->weight_decay = 5e-4;
    r->label_smoothing = 0.1;
    r->warmup_epochs = 0.3;
    r->nesterov = true;
    r->seed = 1;
    snprintf(r->precision, sizeof r->precision, "fp32");
    snprintf(r->latency_precision, sizeof r->latency_precision, "fp32");
    r->n_latency_batches = 3;
    r->latency_batches[0] = 1;
    r->latency_batches[1] = 8;
    r->latency_batches[2] = 64;
}

static int get_number(const cJSON *root, const char *key, double min, double max, bool integer,
                      double *out, bool *present, nas_err *err) {
    const cJSON *item = cJSON_GetObjectItemCaseSensitive(root, key);
    *present = item != NULL;
    if (!item) return 0;
    if (!cJSON_IsNumber(item))
        return nas_err_set(err, NAS_EINVAL, "recipe: '%s' must be a number", key);
    double v = item->valuedouble;
    if (!isfinite(v) || v < min || v > max || (integer && v != floor(v)))
        return nas_err_set(err, NAS_ERANGE, "recipe: '%s' is %g but must be %s in [%g, %g]", key, v,
                           integer ? "an integer" : "a number", min, max);
    *out = v;
    return 0;
}

static int get_int(const cJSON *root, const char *key, long min, long max, int *out, nas_err *err) {
    double v = 0;
    bool present;
    int rc = get_number(root, key, (double)min, (double)max, true, &v, &present, err);
    if (!rc && present) *out = (int)v;
    return rc;
}

static int get_double(const cJSON *root, const char *key, double min, double max, double *out,
                      nas_err *err) {
    double v = 0;
    bool present;
    int rc = get_number(root, key, min, max, false, &v, &present, err);
    if (!rc && present) *out = v;
    return rc;
}

static int get_bool(const cJSON *root, const char *key, bool *out, nas_err *err) {
    const cJSON *item = cJSON_GetObjectItemCaseSensitive(root, key);
    if (!item) return 0;
    if (!cJSON_IsBool(item))
        return nas_err_set(err, NAS_EINVAL, "recipe: '%s' must be true or false", key);
    *out = cJSON_IsTrue(item);
    return 0;
}

static int get_string(const cJSON *root, const char *key, char *out, size_t cap, nas_err *err) {
    const cJSON *item = cJSON_GetObjectItemCaseSensitive(root, key);
    if (!item) return 0;
    if (!cJSON_IsString(item))
        return nas_err_set(err, NAS_EINVAL, "recipe: '%s' must be a string", key);
    if (strlen(item->valuestring) >= cap)
        return nas_err_set(err, NAS_ERANGE, "recipe: '%s' is longer than %zu characters", key,
                           cap - 1);
    snprintf(out, cap, "%s", item->valuestring);
    return 0;
}

static int get_precision(const cJSON *root, const char *key, char out[8], nas_err *err) {
    char value[8] = "";
    int rc = get_string(root, key, value, sizeof value, err);
    if (rc) return nas_err_set(err, NAS_EINVAL, "recipe: '%s' must be \"fp32\", \"fp16\" or \"bf16\"", key);
    if (!value[0]) return 0;
    if (strcmp(value, "fp32") && strcmp(value, "fp16") && strcmp(value, "bf16"))
        return nas_err_set(err, NAS_EINVAL, "recipe: '%s' is \"%s\"; use fp32, fp16 or bf16", key,
                           value);
    memcpy(out, value, sizeof value);
    return 0;
}

/* An array of at most cap integers in [min, max]. */
static int get_int_array(const cJSON *root, const char *key, int min, int max, int cap, int *out,
                         int *n, bool *present, nas_err *err) {
    const cJSON *item = cJSON_GetObjectItemCaseSensitive(root, key);
    if (present) *present = item != NULL;
    if (!item) return 0;
    if (!cJSON_IsArray(item))
        return nas_err_set(err, NAS_EINVAL, "recipe: '%s' must be an array of integers", key);
    int count = cJSON_GetArraySize(item);
    if (count > cap)
        return nas_err_set(err, NAS_ERANGE, "recipe: '%s' has %d entries (at most %d)", key, count,
                           cap);
    for (int i = 0; i < count; i++) {
        const cJSON *v = cJSON_GetArrayItem(item, i);
        if (!cJSON_IsNumber(v) || v->valuedouble != floor(v->valuedouble) || v->valuedouble < min ||
            v->valuedouble > max)
            return nas_err_set(err, NAS_ERANGE, "recipe: '%s'[%d] must be an integer in [%d, %d]",
                               key, i, min, max);
        out[i] = (int)v->valuedouble;
    }
    *n = count;
    return 0;
}

int nas_recipe_parse(const char *json, nas_recipe *r, nas_err *err) {
    nas_recipe_defaults(r);
    if (!json || !*json) return 0;
    cJSON *root = cJSON_Parse(json);
    if (!cJSON_IsObject(root)) {
        cJSON_Delete(root);
        return nas_err_set(err, NAS_EPARSE, "recipe: not a JSON object");
    }
    double seed = (double)r->seed;
    bool seed_present;
    int rc = 0;
    if (!rc) rc = get_string(root, "dataset", r->dataset, sizeof r->dataset, err);
    if (!rc) rc = get_int(root, "epochs", 1, 100000, &r->epochs, err);
    if (!rc) rc = get_int(root, "batch", 1, 65536, &r->batch, err);
    if (!rc) rc = get_double(root, "lr", 1e-9, 100, &r->lr, err);
    if (!rc) rc = get_double(root, "lr_min", 0, 100, &r->lr_min, err);
    if (!rc) rc = get_double(root, "momentum", 0, 0.999, &r->momentum, err);
    if (!rc) rc = get_double(root, "weight_decay", 0, 1, &r->weight_decay, err);
    if (!rc) rc = get_double(root, "label_smoothing", 0, 0.99, &r->label_smoothing, err);
    if (!rc) rc = get_double(root, "warmup_epochs", 0, 100000, &r->warmup_epochs, err);
    if (!rc) rc = get_bool(root, "nesterov", &r->nesterov, err);
    if (!rc) rc = get_int(root, "train_subset", 0, 2000000000, &r->train_subset, err);
    if (!rc) rc = get_int(root, "test_subset", 0, 2000000000, &r->test_subset, err);
    if (!rc) rc = get_number(root, "seed", 0, 9007199254740991.0, true, &seed, &seed_present, err);
    if (!rc) rc = get_int(root, "threads", 0, 1024, &r->threads, err);
    if (!rc) rc = get_precision(root, "precision", r->precision, err);
    if (!rc) rc = get_precision(root, "latency_precision", r->latency_precision, err);
    if (!rc)
        rc = get_int_array(root, "latency_batches", 1, 65536, NAS_RECIPE_MAX_LATENCY_BATCHES,
                           r->latency_batches, &r->n_latency_batches, NULL, err);
    if (!rc) rc = get_string(root, "init_from", r->init_from, sizeof r->init_from, err);
    if (!rc)
        rc = get_int_array(root, "train_only", 0, NAS_ARCH_MAX_STAGES - 1, NAS_ARCH_MAX_STAGES,
                           r->train_only, &r->n_train_only, &r->has_train_only, err);
    if (!rc) rc = get_bool(root, "save_checkpoint", &r->save_checkpoint, err);
    if (!rc) rc = get_int(root, "crop_padding", 0, 64, &r->crop_padding, err);
    if (!rc) rc = get_bool(root, "hflip", &r->hflip, err);
    cJSON_Delete(root);
    if (rc) return rc;
    r->seed = (uint64_t)seed;
    if (r->lr_min > r->lr)
        return nas_err_set(err, NAS_ERANGE, "recipe: lr_min %g is above lr %g", r->lr_min, r->lr);
    if (r->warmup_epochs > r->epochs)
        return nas_err_set(err, NAS_ERANGE, "recipe: warmup_epochs %g is more than epochs %d",
                           r->warmup_epochs, r->epochs);
    if (!r->dataset[0]) return nas_err_set(err, NAS_EINVAL, "recipe: 'dataset' is empty");
    return 0;
}
