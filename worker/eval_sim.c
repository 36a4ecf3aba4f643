/*
 * worker/eval_sim.c - the simulated evaluator (formulas in eval_sim.h).
 *
 * Deterministic where it matters (accuracy per architecture) and random
 * where tests need it (delays, failures, crashes), always from explicit seeds.
 */
#include "worker/eval_sim.h"

#include <cjson/cJSON.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "common/rng.h"

typedef struct sim_device {
    const char *name;
    double peak_half, peak_fp32; /* FLOP/s */
    double bandwidth;            /* bytes/s */
    double launch;               /* seconds per kernel */
} sim_device;

static const sim_device devices[] = {
    {"a100", 312e12, 19.5e12, 1.555e12, 4e-6},
    {"h100", 989e12, 67e12, 3.35e12, 3e-6},
    {"v100", 125e12, 15.7e12, 0.9e12, 5e-6},
    {"cpu", 1e12, 1e12, 0.05e12, 20e-6},
};

typedef struct sim_opts {
    double delay, jitter, failure_rate, crash_rate, noise;
    uint64_t seed;
    const sim_device *device;
} sim_opts;

static const sim_device *find_device(const char *name) {
    for (size_t i = 0; i < sizeof devices / sizeof devices[0]; i++)
        if (strcmp(devices[i].name, name) == 0) return &devices[i];
    return NULL;
}

double nas_sim_top1_clean(const nas_arch *a, const nas_cost *cost) {
    int layers = 0;
    for (int i = 0; i < a->n_stages; i++) layers += a->stages[i].depth;
    double m = 1 - exp(-(double)cost->macs / 3e8);
    double p = 1 - exp(-(double)cost->params / 5e6);
    double d = 1 - exp(-layers / 16.0);
    double r = pow(fmin(1.0, a->resolution / 224.0), 0.25);
    return 0.30 + 0.62 * (0.5 * m + 0.3 * p + 0.2 * d) * r;
}

int nas_sim_latency_ms(const nas_cost *cost, const char *device, int batch, const char *precision, double *ms,
                       nas_err *err) {
    const sim_device *dev = find_device(device);
    if (!dev) return nas_err_set(err, NAS_EINVAL, "unknown sim device '%s': use a100, h100, v100 or cpu", device);
    bool half = strcmp(precision, "fp16") == 0 || strcmp(precision, "bf16") == 0;
    if (!half && strcmp(precision, "fp32") != 0)
        return nas_err_set(err, NAS_EINVAL, "unknown precision '%s': use fp32, fp16 or bf16", precision);
    double peak = half ? dev->peak_half : dev->peak_fp32;
    double bytes_per = half ? 2 : 4;
    double seconds = 0;
    for (int i = 0; i < cost->n_layers; i++) {
        const nas_layer_cost *l = &cost->layers[i];
        double efficiency;
        if (strcmp(l->op, "conv") == 0) efficiency = l->kernel == 1 ? 0.6 : 0.45;
        else if (strcmp(l->op, "dwconv") == 0) efficiency = 0.04;
        else if (strcmp(l->op, "fc") == 0) efficiency = 0.3;
        else if (strcmp(l->op, "se") == 0) efficiency = 0.02;
        else if (strstr(l->op, "pool")) efficiency = 0;
        else continue; /* BN folded into the conv, activations fused */
        double bytes = ((double)l->out_elems * batch + (double)l->params) * bytes_per;
        double t_mem = bytes / dev->bandwidth;
        double t_compute = efficiency > 0 ? 2.0 * (double)l->macs * batch / (peak * efficiency) : 0;
        seconds += fmax(t_mem, t_compute) + dev->launch;
    }
    *ms = seconds * 1e3;
    return 0;
}

static double opt_number(const cJSON *o, const char *key, double def) {
    const cJSON *v = cJSON_GetObjectItem(o, key);
    return cJSON_IsNumber(v) ? v->valuedouble : def;
}

static int sim_create(const char *options_json, void **self, nas_err *err) {
    sim_opts *o = calloc(1, sizeof *o);
    if (!o) return nas_err_set(err, NAS_ENOMEM, "out of memory");
    o->noise = 0.01;
    o->seed = 1;
    o->device = &devices[0];
    cJSON *root = options_json && *options_json ? cJSON_Parse(options_json) : NULL;
    if (options_json && *options_json && !cJSON_IsObject(root)) {
        cJSON_Delete(root);
        free(o);
        return nas_err_set(err, NAS_EINVAL, "sim evaluator options are not a JSON object");
    }
    if (root) {
        o->delay = opt_number(root, "delay_seconds", 0);
        o->jitter = opt_number(root, "delay_jitter", 0);
        o->failure_rate = opt_number(root, "failure_rate", 0);
        o->crash_rate = opt_number(root, "crash_rate", 0);
        o->noise = opt_number(root, "noise", 0.01);
        o->seed = (uint64_t)opt_number(root, "seed", 1);
        const cJSON *dev = cJSON_GetObjectItem(root, "device");
        if (cJSON_IsString(dev) && !(o->device = find_device(dev->valuestring))) {
            nas_err_set(err, NAS_EINVAL, "unknown sim device '%s': use a100, h100, v100 or cpu", dev->valuestring);
            cJSON_Delete(root);
            free(o);
            return NAS_EINVAL;
        }
    }
    cJSON_Delete(root);
    if (!(o->delay >= 0 && o->jitter >= 0 && o->jitter <= 1 && o->failure_rate >= 0 && o->failure_rate <= 1 &&
          o->crash_rate >= 0 && o->crash_rate <= 1 && o->noise >= 0 && o->noise <= 1)) {
        free(o);
        return nas_err_set(err, NAS_EINVAL, "sim options out of range (rates and jitter in [0,1], delay >= 0)");
    }
    *self = o;
    return 0;
}

static void sim_destroy(void *self) { free(self); }

static void sleep_seconds(double s) {
    if (s <= 0) return;
    struct timespec ts = {.tv_sec = (time_t)s, .tv_nsec = (long)((s - floor(s)) * 1e9)};
    while (nanosleep(&ts, &ts) != 0) {
    }
}

/* Latency batch sizes and precision from the recipe (defaults [1, 8, 64] fp16). */
static int recipe_latency(const char *recipe_json, int *batches, int *n, char precision[8]) {
    *n = 0;
    snprintf(precision, 8, "fp16");
    cJSON *root = cJSON_Parse(recipe_json ? recipe_json : "{}");
    const cJSON *lb = cJSON_GetObjectItem(root, "latency_batches");
    const cJSON *b;
    cJSON_ArrayForEach(b, lb) {
        if (cJSON_IsNumber(b) && b->valuedouble >= 1 && b->valuedouble <= 65536 && *n < NAS_MAX_LATENCY_BATCHES)
            batches[(*n)++] = (int)b->valuedouble;
    }
    const cJSON *lp = cJSON_GetObjectItem(root, "latency_precision");
    if (cJSON_IsString(lp) && strlen(lp->valuestring) < 8) snprintf(precision, 8, "%s", lp->valuestring);
    cJSON_Delete(root);
    if (*n == 0) {
        batches[0] = 1;
        batches[1] = 8;
        batches[2] = 64;
        *n = 3;
    }
    return 0;
}

static int sim_run(void *self, const nas_eval_job *job, nas_eval_progress_fn progress, void *ctx,
                   nas_eval_result *out, nas_err *err) {
    const sim_opts *o = self;
    memset(out, 0, sizeof *out);
    nas_cost cost;
    int rc = nas_cost_compute(job->arch, 0, &cost, err);
    if (rc) return rc;
    uint64_t arch_hash = nas_arch_hash(job->arch);
    nas_rng chance;
    nas_rng_seed(&chance, nas_mix64(o->seed ^ nas_mix64((uint64_t)job->job_id) ^ ((uint64_t)job->attempt << 48)));

    double total = o->delay * (1 + o->jitter * (2 * nas_rng_uniform(&chance) - 1));
    if (job->kind == NAS_JOB_MEASURE) total *= 0.1;
    double fail_draw = nas_rng_uniform(&chance), crash_draw = nas_rng_uniform(&chance);
    double fail_at = nas_rng_uniform(&chance);
    int steps = total > 0 ? (int)fmin(20, ceil(total / 0.05)) : 0;
    for (int s = 1; s <= steps; s++) {
        sleep_seconds(total / steps);
        double fraction = (double)s / steps;
        if (progress) progress(ctx, fraction, 2.3 * exp(-3 * fraction));
        if (fraction >= fail_at && crash_draw < o->crash_rate) abort(); /* a simulated crash of the job */
        if (fraction >= fail_at && fail_draw < o->failure_rate) {
            nas_cost_release(&cost);
            return nas_err_set(err, NAS_EIO, "simulated failure (sim failure_rate %.3g)", o->failure_rate);
        }
    }
    if (steps == 0 && crash_draw < o->crash_rate) abort();
    if (steps == 0 && fail_draw < o->failure_rate) {
        nas_cost_release(&cost);
        return nas_err_set(err, NAS_EIO, "simulated failure (sim failure_rate %.3g)", o->failure_rate);
    }

    int batches[NAS_MAX_LATENCY_BATCHES], n_batches;
    char precision[8];
    recipe_latency(job->recipe_json, batches, &n_batches, precision);
    nas_rng noise;
    nas_rng_seed(&noise, nas_mix64(o->seed ^ arch_hash));
    for (int i = 0; i < n_batches; i++) {
        double ms;
        if ((rc = nas_sim_latency_ms(&cost, o->device->name, batches[i], precision, &ms, err))) {
            nas_cost_release(&cost);
            return rc;
        }
        ms *= 1 + 0.01 * (2 * nas_rng_uniform(&noise) - 1);
        nas_latency_stat *l = &out->latency[out->n_latency++];
        l->batch = batches[i];
        snprintf(l->precision, sizeof l->precision, "%s", precision);
        l->mean_ms = ms;
        l->p50_ms = 0.99 * ms;
        l->p90_ms = 1.04 * ms;
    }
    if (job->kind == NAS_JOB_TRAIN) {
        double top1 = nas_sim_top1_clean(job->arch, &cost) + o->noise * nas_rng_normal(&noise);
        top1 = fmin(0.99, fmax(0.01, top1));
        out->has_accuracy = true;
        out->top1 = top1;
        out->top5 = 1 - (1 - top1) * (1 - top1);
        out->loss = -log(top1);
        out->train_seconds = total;
    }
    out->params = cost.params;
    out->macs = cost.macs;
    snprintf(out->device, sizeof out->device, "sim:%s", o->device->name);
    out->simulated = true;
    nas_cost_release(&cost);
    return 0;
}

const nas_evaluator_ops nas_eval_sim_ops = {
    .name = "sim",
    .create = sim_create,
    .run = sim_run,
    .destroy = sim_destroy,
};
