/*
 * cli/cmd_train.c - `nas train` and `nas latency`: the native trainer from
 * the command line.
 *
 * Both are thin front ends over trainer/trainer.h: the flags become a recipe
 * (the same structure an experiment's recipe fills), the trainer does the
 * work, this file prints. The progress bar redraws one line on a terminal and
 * prints a line per epoch (and every ~10% of one) when output is a file or a
 * pipe, so logs stay readable.
 */
#include <errno.h>
#include <limits.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <cjson/cJSON.h>

#include "cli/commands.h"
#include "common/util.h"
#include "space/arch.h"
#include "space/cost.h"
#include "trainer/trainer.h"

static void train_usage(FILE *out) {
    fprintf(out,
            "usage: nas train --model PRESET|FILE --data DATA [options]\n"
            "\n"
            "Trains a network with the native trainer, then prints test top-1/top-5.\n"
            "  --model M        preset name (configs/models) or a .yaml/.json architecture\n"
            "  --data D         fashion-mnist | mnist | synthetic[:N] | cifar:DIR | idx:DIR |\n"
            "                   jpeg:DIR (DIR/train/<class>/*.jpg and DIR/val/<class>/*.jpg)\n"
            "  --epochs E       epochs (default 3)\n"
            "  --batch B        images per step (default 128)\n"
            "  --lr LR          peak learning rate (default 0.1; warm-up then cosine)\n"
            "  --threads T      CPU threads (default: all cores)\n"
            "  --seed S         initialisation, shuffling and augmentation seed (default 1)\n"
            "  --train-subset N train on the first N images only\n"
            "  --crop-padding P augment: random crop of the image padded by P pixels (default 0)\n"
            "  --hflip          augment: random horizontal flip (default off)\n"
            "  --recipe FILE    a JSON recipe (worker/evaluator.h keys); flags override it\n"
            "  --init-from CK   start from a checkpoint's weights (layers matched by name)\n"
            "  --out CK         save the weights as safetensors after every epoch and at the end\n"
            "  --resume CK      continue a run from a checkpoint written with --out\n"
            "  --backend B      cpu (default) or cuda (when built with CUDA)\n"
            "  --quiet          no progress bar\n"
            "\n"
            "example:\n"
            "  nas train --model mini-fmnist --data fashion-mnist --epochs 3 --out fm.safetensors\n");
}

static void latency_usage(FILE *out) {
    fprintf(out,
            "usage: nas latency --model PRESET|FILE [--batch B] [--backend cpu|cuda]\n"
            "                   [--precision fp32|fp16|bf16] [--threads T] [--json]\n"
            "\n"
            "Inference latency with BN folded into the convolutions: %d warm-up runs, %d timed\n"
            "runs, mean after dropping the fastest and slowest 10%%, plus p50 and p90.\n"
            "The weights are freshly initialised (latency does not depend on their values).\n"
            "  --batch B       images per forward pass (default 1)\n"
            "  --backend B     cpu (default) or cuda\n"
            "  --precision P   fp32 (default; the only one on cpu), fp16 or bf16 on cuda\n"
            "  --threads T     CPU threads (default: all cores)\n"
            "  --json          one JSON object instead of text\n",
            NAS_LATENCY_WARMUP, NAS_LATENCY_RUNS);
}

/* Strict integer parsing of a flag value. */
static int parse_int(const char *flag, const char *text, long min, long max, long *out) {
    char *end = NULL;
    errno = 0;
    long v = strtol(text, &end, 10);
    if (errno || !end || *end || end == text || v < min || v > max) {
        fprintf(stderr, "nas: %s needs an integer in [%ld, %ld], got '%s'\n", flag, min, max, text);
        return -1;
    }
    *out = v;
    return 0;
}

static int parse_double(const char *flag, const char *text, double min, double max, double *out) {
    char *end = NULL;
    errno = 0;
    double v = strtod(text, &end);
    if (errno || !end || *end || end == text || !(v >= min && v <= max)) {
        fprintf(stderr, "nas: %s needs a number in [%g, %g], got '%s'\n", flag, min, max, text);
        return -1;
    }
    *out = v;
    return 0;
}

static int copy_path(const char *flag, const char *text, char *dst, size_t cap) {
    if (strlen(text) >= cap) {
        fprintf(stderr, "nas: %s value is longer than %zu characters\n", flag, cap - 1);
        return -1;
    }
    snprintf(dst, cap, "%s", text);
    return 0;
}

static void format_duration(double seconds, char *buf, size_t cap) {
    long s = seconds > 0 && seconds < 1e8 ? lround(seconds) : 0;
    if (s >= 3600)
        snprintf(buf, cap, "%ld:%02ld:%02ld", s / 3600, s / 60 % 60, s % 60);
    else
        snprintf(buf, cap, "%ld:%02ld", s / 60, s % 60);
}

typedef struct bar_state {
    bool tty;
    int last_decile; /* non-tty: last tenth of an epoch printed */
} bar_state;

static void draw_progress(void *ctx, const nas_train_progress *p) {
    bar_state *bar = ctx;
    enum { WIDTH = 24 };
    int filled = p->steps_per_epoch ? p->step_in_epoch * WIDTH / p->steps_per_epoch : 0;
    char cells[WIDTH + 1], eta[32];
    for (int i = 0; i < WIDTH; i++) cells[i] = i < filled ? '#' : '.';
    cells[WIDTH] = '\0';
    format_duration(p->eta_s, eta, sizeof eta);
    int decile = p->steps_per_epoch ? p->step_in_epoch * 10 / p->steps_per_epoch : 0;
    if (!bar->tty && !p->epoch_end && decile == bar->last_decile) return;
    bar->last_decile = p->epoch_end ? 0 : decile;
    printf("%sepoch %d/%d [%s] %d/%d loss %.4f acc %.3f lr %.4f %.0f img/s ETA %s%s",
           bar->tty ? "\r" : "", p->epoch + 1, p->epochs, cells, p->step_in_epoch,
           p->steps_per_epoch, p->loss, p->top1, p->lr, p->images_per_sec, eta,
           bar->tty && !p->epoch_end ? "  " : "\n");
    fflush(stdout);
}

int nas_cmd_train(int argc, char **argv) {
    const char *model = NULL, *recipe_path = NULL, *out_path = NULL, *resume_path = NULL;
    const char *backend = "cpu";
    bool quiet = false;
    nas_recipe r;
    nas_recipe_defaults(&r);
    /* Flags are collected first and applied over the recipe file afterwards. */
    long epochs = -1, batch = -1, threads = -1, seed = -1, subset = -1, crop_padding = -1;
    bool hflip = false;
    double lr = -1;
    const char *data = NULL, *init_from = NULL;
    for (int i = 1; i < argc; i++) {
        const char *a = argv[i];
        if (strcmp(a, "--help") == 0 || strcmp(a, "-h") == 0) {
            train_usage(stdout);
            return 0;
        }
        if (strcmp(a, "--quiet") == 0) {
            quiet = true;
            continue;
        }
        if (strcmp(a, "--hflip") == 0) {
            hflip = true;
            continue;
        }
        if (i + 1 >= argc) {
            fprintf(stderr, "nas train: unknown option or missing value: %s\n\n", a);
            train_usage(stderr);
            return 2;
        }
        const char *v = argv[++i];
        int bad = 0;
        if (strcmp(a, "--model") == 0) model = v;
        else if (strcmp(a, "--data") == 0) data = v;
        else if (strcmp(a, "--recipe") == 0) recipe_path = v;
        else if (strcmp(a, "--out") == 0) out_path = v;
        else if (strcmp(a, "--resume") == 0) resume_path = v;
        else if (strcmp(a, "--init-from") == 0) init_from = v;
        else if (strcmp(a, "--backend") == 0) backend = v;
        else if (strcmp(a, "--epochs") == 0) bad = parse_int(a, v, 1, 100000, &epochs);
        else if (strcmp(a, "--batch") == 0) bad = parse_int(a, v, 1, 65536, &batch);
        else if (strcmp(a, "--threads") == 0) bad = parse_int(a, v, 0, 1024, &threads);
        else if (strcmp(a, "--seed") == 0) bad = parse_int(a, v, 0, LONG_MAX, &seed);
        else if (strcmp(a, "--train-subset") == 0) bad = parse_int(a, v, 0, INT_MAX, &subset);
        else if (strcmp(a, "--crop-padding") == 0) bad = parse_int(a, v, 0, 64, &crop_padding);
        else if (strcmp(a, "--lr") == 0) bad = parse_double(a, v, 1e-9, 100, &lr);
        else {
            fprintf(stderr, "nas train: unknown option %s\n\n", a);
            train_usage(stderr);
            return 2;
        }
        if (bad) return 2;
    }
    if (!model || (!data && !recipe_path)) {
        fprintf(stderr, "nas train: --model and --data are required\n\n");
        train_usage(stderr);
        return 2;
    }
    nas_err err = {0};
    if (recipe_path) {
        char *text = NULL;
        if (nas_read_file(recipe_path, 1 << 20, &text, NULL, &err) ||
            nas_recipe_parse(text, &r, &err)) {
            free(text);
            fprintf(stderr, "nas train: %s: %s\n", recipe_path, err.msg);
            return 1;
        }
        free(text);
    }
    if ((data && copy_path("--data", data, r.dataset, sizeof r.dataset)) ||
        (init_from && copy_path("--init-from", init_from, r.init_from, sizeof r.init_from)))
        return 2;
    if (epochs > 0) r.epochs = (int)epochs;
    if (batch > 0) r.batch = (int)batch;
    if (threads >= 0) r.threads = (int)threads;
    if (seed >= 0) r.seed = (uint64_t)seed;
    if (subset >= 0) r.train_subset = (int)subset;
    if (lr > 0) r.lr = lr;
    if (crop_padding >= 0) r.crop_padding = (int)crop_padding;
    if (hflip) r.hflip = true;
    if (r.warmup_epochs > r.epochs) r.warmup_epochs = r.epochs;

    nas_arch arch;
    if (nas_arch_load(model, &arch, &err)) {
        fprintf(stderr, "nas train: %s\n", err.msg);
        return 1;
    }
    bar_state bar = {.tty = isatty(STDOUT_FILENO) != 0};
    nas_trainer_opts opts = {.backend = backend, .progress = quiet ? NULL : draw_progress,
                             .progress_ctx = &bar, .progress_every = bar.tty ? 5 : 1,
                             .checkpoint_path = out_path};
    nas_trainer *t = NULL;
    int rc = nas_trainer_new(&arch, &r, &opts, &t, &err);
    if (!rc && resume_path) rc = nas_trainer_resume(t, resume_path, &err);
    if (rc) {
        fprintf(stderr, "nas train: %s\n", err.msg);
        nas_trainer_free(&t);
        return 1;
    }
    printf("model %s: %lld trainable parameters; data %s; %d epochs, batch %d, lr %g; %s\n", model,
           (long long)nas_net_trainable_count(nas_trainer_net(t)), r.dataset, r.epochs, r.batch,
           r.lr, nas_trainer_device(t));
    fflush(stdout);
    nas_eval_metrics m = {0};
    rc = nas_trainer_fit(t, &err);
    if (!rc) rc = nas_trainer_evaluate(t, &m, &err); /* fit saved --out after every epoch */
    if (rc) {
        fprintf(stderr, "\nnas train: %s\n", err.msg);
        nas_trainer_free(&t);
        return 1;
    }
    char took[32];
    format_duration(nas_trainer_train_seconds(t), took, sizeof took);
    printf("trained in %s (%.1f s, %.0f images/s)\n", took, nas_trainer_train_seconds(t),
           nas_trainer_images_per_sec(t));
    printf("test: top-1 %.2f%%  top-5 %.2f%%  loss %.4f  (%d images)\n", 100 * m.top1, 100 * m.top5,
           m.loss, m.images);
    if (out_path) printf("checkpoint: %s\n", out_path);
    nas_trainer_free(&t);
    return 0;
}

int nas_cmd_latency(int argc, char **argv) {
    const char *model = NULL, *backend = "cpu", *precision = "fp32";
    long batch = 1, threads = 0;
    bool json = false;
    for (int i = 1; i < argc; i++) {
        const char *a = argv[i];
        if (strcmp(a, "--help") == 0 || strcmp(a, "-h") == 0) {
            latency_usage(stdout);
            return 0;
        }
        if (strcmp(a, "--json") == 0) {
            json = true;
            continue;
        }
        if (i + 1 >= argc) {
            fprintf(stderr, "nas latency: unknown option or missing value: %s\n\n", a);
            latency_usage(stderr);
            return 2;
        }
        const char *v = argv[++i];
        int bad = 0;
        if (strcmp(a, "--model") == 0) model = v;
        else if (strcmp(a, "--backend") == 0) backend = v;
        else if (strcmp(a, "--precision") == 0) precision = v;
        else if (strcmp(a, "--batch") == 0) bad = parse_int(a, v, 1, 65536, &batch);
        else if (strcmp(a, "--threads") == 0) bad = parse_int(a, v, 0, 1024, &threads);
        else {
            fprintf(stderr, "nas latency: unknown option %s\n\n", a);
            latency_usage(stderr);
            return 2;
        }
        if (bad) return 2;
    }
    if (!model) {
        fprintf(stderr, "nas latency: --model is required\n\n");
        latency_usage(stderr);
        return 2;
    }
    nas_err err = {0};
    nas_arch arch;
    if (nas_arch_load(model, &arch, &err)) {
        fprintf(stderr, "nas latency: %s\n", err.msg);
        return 1;
    }
    if (strcmp(precision, "fp32") && strcmp(precision, "fp16") && strcmp(precision, "bf16")) {
        fprintf(stderr, "nas latency: --precision must be fp32, fp16 or bf16, not '%s'\n", precision);
        return 2;
    }
    nas_recipe r;
    nas_recipe_defaults(&r);
    r.batch = (int)batch;
    r.threads = (int)threads;
    snprintf(r.precision, sizeof r.precision, "%s", precision);
    snprintf(r.latency_precision, sizeof r.latency_precision, "%s", precision);
    nas_trainer *t = NULL;
    nas_latency_summary s;
    nas_trainer_opts opts = {.backend = backend, .quiet = true};
    int rc = 0;
    if (!rc) rc = nas_trainer_new(&arch, &r, &opts, &t, &err);
    if (!rc) rc = nas_trainer_latency(t, (int)batch, &s, &err);
    if (rc) {
        fprintf(stderr, "nas latency: %s\n", err.msg);
        nas_trainer_free(&t);
        return 1;
    }
    if (json) {
        cJSON *o = cJSON_CreateObject();
        cJSON_AddStringToObject(o, "model", model);
        cJSON_AddNumberToObject(o, "batch", (double)batch);
        cJSON_AddStringToObject(o, "precision", precision);
        cJSON_AddStringToObject(o, "device", nas_trainer_device(t));
        cJSON_AddNumberToObject(o, "mean_ms", s.mean_ms);
        cJSON_AddNumberToObject(o, "p50_ms", s.p50_ms);
        cJSON_AddNumberToObject(o, "p90_ms", s.p90_ms);
        cJSON_AddNumberToObject(o, "runs", s.runs);
        cJSON_AddNumberToObject(o, "kept", s.kept);
        char *text = cJSON_PrintUnformatted(o);
        if (text) printf("%s\n", text);
        free(text);
        cJSON_Delete(o);
        if (!text) {
            fprintf(stderr, "nas latency: out of memory\n");
            nas_trainer_free(&t);
            return 1;
        }
    }
    else
        printf("%s  batch %ld  %s  on %s\n  mean %.3f ms (trimmed, %d of %d runs)  p50 %.3f ms  "
               "p90 %.3f ms  (%.1f images/s)\n",
               model, batch, precision, nas_trainer_device(t), s.mean_ms, s.kept, s.runs, s.p50_ms,
               s.p90_ms, s.mean_ms > 0 ? 1000.0 * batch / s.mean_ms : 0);
    nas_trainer_free(&t);
    return 0;
}
