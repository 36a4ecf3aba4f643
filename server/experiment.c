/*
 * server/experiment.c - reads and checks experiment YAML (see experiment.h).
 *
 * Every key is checked here, with its position, before nasd touches the
 * store: a typo in a 10-hour experiment should fail in the first second.
 * The recipe and evaluator sections are turned into JSON because that is how
 * they travel to workers.
 */
#include "server/experiment.h"

#include <cjson/cJSON.h>
#include <errno.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "common/util.h"
#include "search/strategy.h"

static const char *const top_keys[] = {"name", "space", "strategy", "budget", "objective", "backend",
                                       "latency", "recipe", "max_attempts", "lease_seconds",
                                       "heartbeat_seconds", "job_timeout_seconds", "prefetch",
                                       "progress_seconds", "evaluator", NULL};
static const char *const strategy_keys[] = {"name", "seed", "options", NULL};
static const char *const budget_keys[] = {"evaluations", "hours", NULL};
static const char *const tier_keys[] = {"ms", "batch", "precision", NULL};
static const char *const recipe_keys[] = {"dataset", "epochs", "batch", "lr", "momentum", "weight_decay",
                                          "label_smoothing", "warmup_epochs", "train_subset", "seed",
                                          "threads", "precision", "latency_batches", "latency_precision",
                                          "init_from", "train_only", "save_checkpoint", "test_subset", "lr_min",
                                          "nesterov", "crop_padding", "hflip", NULL};
static const char *const evaluator_keys[] = {"sim", "cpu", "cuda", NULL};
static const char *const sim_keys[] = {"delay_seconds", "delay_jitter", "failure_rate", "crash_rate",
                                       "noise", "device", "seed", NULL};
static const char *const backends[] = {"sim", "cpu", "cuda", "any", NULL};
static const char *const precisions[] = {"fp32", "fp16", "bf16", NULL};
static const char *const objectives[] = {"top1", NULL};

void nas_experiment_free(nas_experiment **exp) {
    if (!exp || !*exp) return;
    nas_experiment *e = *exp;
    nas_space_free(&e->space);
    nas_cfg_free(&e->cfg);
    free(e->config_text);
    free(e->recipe_json);
    free(e->evaluator_json);
    free(e);
    *exp = NULL;
}

/* A YAML value as JSON: unquoted numbers and booleans keep their type. */
static cJSON *node_to_json(const nas_cfg_node *n) {
    if (n->type == NAS_CFG_MAP) {
        cJSON *o = cJSON_CreateObject();
        for (size_t i = 0; o && i < n->n; i++) {
            cJSON *v = node_to_json(n->items[i]);
            if (!v || !cJSON_AddItemToObject(o, n->keys[i], v)) {
                cJSON_Delete(v);
                cJSON_Delete(o);
                return NULL;
            }
        }
        return o;
    }
    if (n->type == NAS_CFG_SEQ) {
        cJSON *a = cJSON_CreateArray();
        for (size_t i = 0; a && i < n->n; i++) {
            cJSON *v = node_to_json(n->items[i]);
            if (!v || !cJSON_AddItemToArray(a, v)) {
                cJSON_Delete(v);
                cJSON_Delete(a);
                return NULL;
            }
        }
        return a;
    }
    const char *s = n->scalar;
    if (!n->quoted) {
        if (strcmp(s, "true") == 0) return cJSON_CreateTrue();
        if (strcmp(s, "false") == 0) return cJSON_CreateFalse();
        if (strcmp(s, "null") == 0 || strcmp(s, "~") == 0) return cJSON_CreateNull();
        char *end = NULL;
        errno = 0;
        double v = strtod(s, &end);
        if (*s && end && *end == '\0' && errno == 0 && isfinite(v)) return cJSON_CreateNumber(v);
    }
    return cJSON_CreateString(s);
}

static int parse_tiers(const nas_cfg *cfg, const nas_cfg_node *seq, nas_experiment *e, nas_err *err) {
    int rc = nas_cfg_expect(cfg, seq, NAS_CFG_SEQ, "latency (a list of {ms, batch, precision})", err);
    if (rc) return rc;
    if (seq->n > NAS_EXP_MAX_TIERS)
        return nas_cfg_error(cfg, seq, err, NAS_ERANGE, "at most %d latency tiers are allowed", NAS_EXP_MAX_TIERS);
    for (size_t i = 0; i < seq->n; i++) {
        const nas_cfg_node *t = seq->items[i];
        nas_latency_tier *tier = &e->tiers[i];
        long batch = 1;
        int prec = 1;
        if ((rc = nas_cfg_expect(cfg, t, NAS_CFG_MAP, "a latency tier", err)) ||
            (rc = nas_cfg_check_keys(cfg, t, tier_keys, "latency tier", err)) ||
            (rc = nas_cfg_get_double(cfg, t, "ms", true, 0, 1e-6, 1e7, &tier->ms, err)) ||
            (rc = nas_cfg_get_int(cfg, t, "batch", false, 1, 1, 65536, &batch, err)) ||
            (rc = nas_cfg_get_enum(cfg, t, "precision", false, precisions, 1, &prec, err)))
            return rc;
        tier->batch = (int)batch;
        snprintf(tier->precision, sizeof tier->precision, "%s", precisions[prec]);
        if (i > 0 && strcmp(tier->precision, e->tiers[0].precision) != 0)
            return nas_cfg_error(cfg, t, err, NAS_EINVAL,
                                 "all latency tiers must use one precision (the first uses %s)",
                                 e->tiers[0].precision);
    }
    e->n_tiers = (int)seq->n;
    return 0;
}

/* Checks the recipe keys and makes the latency settings agree with the tiers. */
static int build_recipe(const nas_cfg *cfg, const nas_cfg_node *recipe, nas_experiment *e, nas_err *err) {
    cJSON *obj = NULL;
    if (recipe) {
        int rc;
        if ((rc = nas_cfg_expect(cfg, recipe, NAS_CFG_MAP, "recipe", err)) ||
            (rc = nas_cfg_check_keys(cfg, recipe, recipe_keys, "recipe", err)))
            return rc;
        const nas_cfg_node *lp = nas_cfg_get(recipe, "latency_precision");
        int prec;
        if (lp && (rc = nas_cfg_node_enum(cfg, lp, "recipe.latency_precision", precisions, &prec, err))) return rc;
        if (lp && e->n_tiers > 0 && strcmp(lp->scalar, e->tiers[0].precision) != 0)
            return nas_cfg_error(cfg, lp, err, NAS_EINVAL,
                                 "latency_precision %s differs from the latency tiers' precision %s", lp->scalar,
                                 e->tiers[0].precision);
        const nas_cfg_node *lb = nas_cfg_get(recipe, "latency_batches");
        if (lb) {
            if ((rc = nas_cfg_expect(cfg, lb, NAS_CFG_SEQ, "recipe.latency_batches", err))) return rc;
            if (lb->n < 1 || lb->n > 8)
                return nas_cfg_error(cfg, lb, err, NAS_ERANGE, "latency_batches takes 1 to 8 batch sizes");
            for (size_t i = 0; i < lb->n; i++) {
                long b;
                if ((rc = nas_cfg_node_int(cfg, lb->items[i], "a latency batch", 1, 65536, &b, err))) return rc;
            }
        }
        obj = node_to_json(recipe);
    } else {
        obj = cJSON_CreateObject();
    }
    if (!obj) return nas_err_set(err, NAS_ENOMEM, "out of memory");
    if (e->n_tiers > 0) {
        if (!cJSON_GetObjectItem(obj, "latency_precision"))
            cJSON_AddStringToObject(obj, "latency_precision", e->tiers[0].precision);
        cJSON *batches = cJSON_GetObjectItem(obj, "latency_batches");
        if (!batches) {
            batches = cJSON_AddArrayToObject(obj, "latency_batches");
        }
        for (int t = 0; batches && t < e->n_tiers; t++) {
            bool present = false;
            cJSON *b;
            cJSON_ArrayForEach(b, batches) present |= cJSON_IsNumber(b) && (int)b->valuedouble == e->tiers[t].batch;
            if (!present) {
                if (cJSON_GetArraySize(batches) >= 8) {
                    cJSON_Delete(obj);
                    return nas_cfg_error(cfg, recipe, err, NAS_ERANGE,
                                         "latency_batches plus the tiers' batches exceed 8 batch sizes");
                }
                cJSON_AddItemToArray(batches, cJSON_CreateNumber(e->tiers[t].batch));
            }
        }
    }
    e->recipe_json = cJSON_PrintUnformatted(obj);
    cJSON_Delete(obj);
    return e->recipe_json ? 0 : nas_err_set(err, NAS_ENOMEM, "out of memory");
}

static int build_evaluator(const nas_cfg *cfg, const nas_cfg_node *ev, nas_experiment *e, nas_err *err) {
    if (!ev) {
        e->evaluator_json = strdup("{}");
        return e->evaluator_json ? 0 : nas_err_set(err, NAS_ENOMEM, "out of memory");
    }
    int rc;
    if ((rc = nas_cfg_expect(cfg, ev, NAS_CFG_MAP, "evaluator", err)) ||
        (rc = nas_cfg_check_keys(cfg, ev, evaluator_keys, "evaluator", err)))
        return rc;
    const nas_cfg_node *sim = nas_cfg_get(ev, "sim");
    if (sim) {
        double v;
        const char *device;
        if ((rc = nas_cfg_expect(cfg, sim, NAS_CFG_MAP, "evaluator.sim", err)) ||
            (rc = nas_cfg_check_keys(cfg, sim, sim_keys, "evaluator.sim", err)) ||
            (rc = nas_cfg_get_double(cfg, sim, "delay_seconds", false, 0, 0, 86400, &v, err)) ||
            (rc = nas_cfg_get_double(cfg, sim, "delay_jitter", false, 0, 0, 1, &v, err)) ||
            (rc = nas_cfg_get_double(cfg, sim, "failure_rate", false, 0, 0, 1, &v, err)) ||
            (rc = nas_cfg_get_double(cfg, sim, "crash_rate", false, 0, 0, 1, &v, err)) ||
            (rc = nas_cfg_get_double(cfg, sim, "noise", false, 0, 0, 1, &v, err)) ||
            (rc = nas_cfg_get_double(cfg, sim, "seed", false, 0, 0, 9e15, &v, err)) ||
            (rc = nas_cfg_get_string(cfg, sim, "device", false, "a100", &device, err)))
            return rc;
    }
    cJSON *obj = node_to_json(ev);
    e->evaluator_json = obj ? cJSON_PrintUnformatted(obj) : NULL;
    cJSON_Delete(obj);
    return e->evaluator_json ? 0 : nas_err_set(err, NAS_ENOMEM, "out of memory");
}

static int load_doc(nas_experiment *e, nas_err *err) {
    const nas_cfg *cfg = e->cfg;
    const nas_cfg_node *root = cfg->root;
    int rc;
    if (!root) return nas_err_set(err, NAS_EINVAL, "%s: the experiment file is empty", cfg->source);
    if ((rc = nas_cfg_expect(cfg, root, NAS_CFG_MAP, "the experiment", err)) ||
        (rc = nas_cfg_check_keys(cfg, root, top_keys, "experiment", err)) ||
        (rc = nas_cfg_get_string(cfg, root, "name", true, NULL, &e->name, err)) ||
        (rc = nas_cfg_get_string(cfg, root, "space", true, NULL, &e->space_name, err)))
        return rc;
    size_t name_len = strlen(e->name);
    if (name_len == 0 || name_len > 128)
        return nas_cfg_error(cfg, nas_cfg_get(root, "name"), err, NAS_EINVAL, "name must be 1 to 128 characters");
    for (const char *p = e->name; *p; p++)
        if (*p < ' ' || *p == 0x7f)
            return nas_cfg_error(cfg, nas_cfg_get(root, "name"), err, NAS_EINVAL, "name holds a control character");

    const nas_cfg_node *strategy = nas_cfg_get(root, "strategy");
    if (!strategy) return nas_cfg_error(cfg, root, err, NAS_EINVAL, "missing key 'strategy' (e.g. {name: random})");
    long seed = 0;
    if ((rc = nas_cfg_expect(cfg, strategy, NAS_CFG_MAP, "strategy", err)) ||
        (rc = nas_cfg_check_keys(cfg, strategy, strategy_keys, "strategy", err)) ||
        (rc = nas_cfg_get_string(cfg, strategy, "name", true, NULL, &e->strategy_name, err)) ||
        (rc = nas_cfg_get_int(cfg, strategy, "seed", false, 1, 0, 0x7fffffffffffffffL, &seed, err)))
        return rc;
    e->seed = (uint64_t)seed;
    e->strategy_options = nas_cfg_get(strategy, "options");

    const nas_cfg_node *budget = nas_cfg_get(root, "budget");
    if (!budget) return nas_cfg_error(cfg, root, err, NAS_EINVAL, "missing key 'budget' ({evaluations: N, hours: H})");
    long evals = 0;
    if ((rc = nas_cfg_expect(cfg, budget, NAS_CFG_MAP, "budget", err)) ||
        (rc = nas_cfg_check_keys(cfg, budget, budget_keys, "budget", err)) ||
        (rc = nas_cfg_get_int(cfg, budget, "evaluations", false, 0, 0, 100000000, &evals, err)) ||
        (rc = nas_cfg_get_double(cfg, budget, "hours", false, 0, 0, 1e6, &e->budget_hours, err)))
        return rc;
    e->budget_evaluations = evals;
    if (evals == 0 && e->budget_hours == 0)
        return nas_cfg_error(cfg, budget, err, NAS_EINVAL, "the budget needs evaluations or hours (or both)");

    int idx = 0;
    long attempts = 3, prefetch = 4;
    if ((rc = nas_cfg_get_enum(cfg, root, "objective", false, objectives, 0, &idx, err)) ||
        (rc = nas_cfg_get_enum(cfg, root, "backend", false, backends, 3, &idx, err)))
        return rc;
    e->backend = backends[idx];
    if ((rc = nas_cfg_get_int(cfg, root, "max_attempts", false, 3, 1, 100, &attempts, err)) ||
        (rc = nas_cfg_get_double(cfg, root, "lease_seconds", false, 60, 0.1, 86400, &e->lease_seconds, err)) ||
        (rc = nas_cfg_get_double(cfg, root, "heartbeat_seconds", false, 5, 0.02, 3600, &e->heartbeat_seconds, err)) ||
        (rc = nas_cfg_get_double(cfg, root, "job_timeout_seconds", false, 0, 0, 30 * 86400.0,
                                 &e->job_timeout_seconds, err)) ||
        (rc = nas_cfg_get_int(cfg, root, "prefetch", false, 4, 0, 100000, &prefetch, err)) ||
        (rc = nas_cfg_get_double(cfg, root, "progress_seconds", false, 5, 0.1, 3600, &e->progress_seconds, err)))
        return rc;
    e->max_attempts = (int)attempts;
    e->prefetch = (int)prefetch;
    if (e->heartbeat_seconds * 2 > e->lease_seconds)
        return nas_cfg_error(cfg, nas_cfg_get(root, "lease_seconds") ? nas_cfg_get(root, "lease_seconds") : root, err,
                             NAS_EINVAL, "lease_seconds (%g) must be at least twice heartbeat_seconds (%g)",
                             e->lease_seconds, e->heartbeat_seconds);

    const nas_cfg_node *latency = nas_cfg_get(root, "latency");
    if (latency && (rc = parse_tiers(cfg, latency, e, err))) return rc;
    if ((rc = build_recipe(cfg, nas_cfg_get(root, "recipe"), e, err))) return rc;
    if ((rc = build_evaluator(cfg, nas_cfg_get(root, "evaluator"), e, err))) return rc;

    char msg[NAS_ERR_MSG_MAX];
    if ((rc = nas_space_load(e->space_name, &e->space, err))) {
        const nas_cfg_node *at = nas_cfg_get(root, "space");
        snprintf(msg, sizeof msg, "%s", err ? err->msg : "");
        return nas_cfg_error(cfg, at, err, rc, "space '%s': %s", e->space_name, msg);
    }
    /* Build the strategy once now, so a wrong name or option fails here, with
     * its position, before nasd writes anything into the store. */
    nas_strategy *probe = NULL;
    nas_strategy_params params = {.space = e->space, .seed = e->seed, .budget = (int)e->budget_evaluations,
                                  .cfg = cfg, .options = e->strategy_options};
    if ((rc = nas_strategy_new(e->strategy_name, &params, &probe, err))) {
        snprintf(msg, sizeof msg, "%s", err ? err->msg : "");
        if (strncmp(msg, cfg->source, strlen(cfg->source)) == 0) return rc; /* already positioned */
        return nas_cfg_error(cfg, nas_cfg_get(strategy, "name"), err, rc, "%s", msg);
    }
    nas_strategy_free(&probe);
    return 0;
}

static int finish_load(nas_experiment *e, nas_experiment **out, nas_err *err) {
    int rc = load_doc(e, err);
    if (rc) {
        nas_experiment_free(&e);
        return rc;
    }
    *out = e;
    return 0;
}

int nas_experiment_load_string(const char *text, const char *source_name, nas_experiment **out,
                               nas_err *err) {
    *out = NULL;
    nas_experiment *e = calloc(1, sizeof *e);
    if (!e) return nas_err_set(err, NAS_ENOMEM, "out of memory");
    e->config_text = strdup(text);
    int rc = e->config_text ? nas_cfg_load_string(text, strlen(text), source_name, &e->cfg, err)
                            : nas_err_set(err, NAS_ENOMEM, "out of memory");
    if (rc) {
        nas_experiment_free(&e);
        return rc;
    }
    return finish_load(e, out, err);
}

int nas_experiment_load(const char *path, nas_experiment **out, nas_err *err) {
    *out = NULL;
    char *text = NULL;
    size_t len = 0;
    int rc = nas_read_file(path, 1u << 20, &text, &len, err);
    if (rc) return rc;
    nas_experiment *e = calloc(1, sizeof *e);
    if (!e) {
        free(text);
        return nas_err_set(err, NAS_ENOMEM, "out of memory");
    }
    e->config_text = text;
    if ((rc = nas_cfg_load_string(text, len, path, &e->cfg, err))) {
        nas_experiment_free(&e);
        return rc;
    }
    return finish_load(e, out, err);
}
