/*
 * trainer/data/loader.c - shuffled, augmented, normalised batches prepared
 * on a thread ahead of the compute.
 *
 * One producer thread per epoch fills a ring of `prefetch` batch slots in
 * order; the consumer (the training loop) takes them in the same order. The
 * only shared state is two counters under one mutex: `produced` (batches
 * filled) and `released` (batches the consumer is done with). The producer
 * never runs more than `slots` batches ahead of `released`, so it never
 * overwrites a batch the consumer still reads. Randomness comes from
 * (seed, epoch, batch) alone, so results do not depend on thread timing, and
 * a resumed run sees the same order from its first epoch on.
 */
#include <pthread.h>
#include <stdlib.h>
#include <string.h>

#include "common/rng.h"
#include "trainer/data/loader.h"

#define LOADER_DEFAULT_PREFETCH 3

struct nas_loader {
    const nas_dataset *ds;
    nas_loader_opts opts;
    float mean[NAS_DATASET_MAX_CHANNELS], std[NAS_DATASET_MAX_CHANNELS];
    int batches;            /* per epoch */
    int *order;             /* image indices of the current epoch */
    int epoch;
    int slots;
    float **slot_images;
    int **slot_labels;
    int *slot_counts;

    pthread_t thread;
    bool thread_running;
    pthread_mutex_t mu;
    pthread_cond_t changed; /* produced, released or stop changed */
    int produced, released, handed_out;
    bool stop;
};

void nas_prepare_image(const uint8_t *pixels, int channels, int height, int width, int dy, int dx,
                       bool flip, const float *mean, const float *std, float *out) {
    for (int c = 0; c < channels; c++) {
        const uint8_t *plane = pixels + (int64_t)c * height * width;
        float scale = 1.0f / (255.0f * std[c]);
        float shift = mean[c] / std[c];
        float *dst = out + (int64_t)c * height * width;
        for (int y = 0; y < height; y++) {
            int sy = y + dy;
            for (int x = 0; x < width; x++) {
                int sx = (flip ? width - 1 - x : x) + dx;
                /* Outside the image is the zero padding of a padded crop, as a
                 * zero-valued pixel (the torchvision convention: pad, then normalise). */
                int v = (sy >= 0 && sy < height && sx >= 0 && sx < width) ? plane[sy * width + sx] : 0;
                dst[y * width + x] = (float)v * scale - shift;
            }
        }
    }
}

static int batch_start(const nas_loader *l, int b) { return b * l->opts.batch; }

static int batch_count(const nas_loader *l, int b) {
    int left = l->ds->n - batch_start(l, b);
    return left < l->opts.batch ? left : l->opts.batch;
}

static void fill_batch(nas_loader *l, int b, int slot) {
    const nas_dataset *ds = l->ds;
    int count = batch_count(l, b);
    int64_t image_floats = nas_dataset_image_bytes(ds);
    nas_rng rng;
    nas_rng_seed(&rng, nas_mix64(l->opts.seed ^ nas_mix64(((uint64_t)l->epoch << 32) | (uint32_t)b)));
    int pad = l->opts.crop_padding;
    for (int i = 0; i < count; i++) {
        int index = l->order[batch_start(l, b) + i];
        int dy = 0, dx = 0;
        bool flip = false;
        if (pad > 0) {
            dy = (int)nas_rng_below(&rng, (uint64_t)(2 * pad + 1)) - pad;
            dx = (int)nas_rng_below(&rng, (uint64_t)(2 * pad + 1)) - pad;
        }
        if (l->opts.hflip) flip = nas_rng_u64(&rng) >> 63;
        nas_prepare_image(ds->pixels + index * image_floats, ds->channels, ds->height, ds->width,
                          dy, dx, flip, l->mean, l->std, l->slot_images[slot] + i * image_floats);
        l->slot_labels[slot][i] = ds->labels[index];
    }
    l->slot_counts[slot] = count;
}

static void *producer_main(void *arg) {
    nas_loader *l = arg;
    for (int b = 0; b < l->batches; b++) {
        pthread_mutex_lock(&l->mu);
        while (!l->stop && b - l->released >= l->slots) pthread_cond_wait(&l->changed, &l->mu);
        bool stop = l->stop;
        pthread_mutex_unlock(&l->mu);
        if (stop) break;
        fill_batch(l, b, b % l->slots);
        pthread_mutex_lock(&l->mu);
        l->produced = b + 1;
        pthread_cond_broadcast(&l->changed);
        pthread_mutex_unlock(&l->mu);
    }
    return NULL;
}

static void stop_thread(nas_loader *l) {
    if (!l->thread_running) return;
    pthread_mutex_lock(&l->mu);
    l->stop = true;
    pthread_cond_broadcast(&l->changed);
    pthread_mutex_unlock(&l->mu);
    pthread_join(l->thread, NULL);
    l->thread_running = false;
}

/* Frees the buffers and the loader itself (not the mutex or the thread). */
static void release_buffers(nas_loader *l) {
    for (int s = 0; l->slot_images && s < l->slots; s++) free(l->slot_images[s]);
    for (int s = 0; l->slot_labels && s < l->slots; s++) free(l->slot_labels[s]);
    free(l->slot_images);
    free(l->slot_labels);
    free(l->slot_counts);
    free(l->order);
    free(l);
}

int nas_loader_new(const nas_dataset *ds, const nas_loader_opts *opts, nas_loader **out,
                   nas_err *err) {
    *out = NULL;
    if (opts->batch <= 0 || opts->batch > ds->n)
        return nas_err_set(err, NAS_EINVAL, "batch size %d must be in [1, %d] (the images in %s)",
                           opts->batch, ds->n, ds->name);
    if (opts->crop_padding < 0 || opts->crop_padding > ds->height / 2 ||
        opts->crop_padding > ds->width / 2)
        return nas_err_set(err, NAS_EINVAL, "crop padding %d must be in [0, %d] for %d x %d images",
                           opts->crop_padding, ds->height / 2, ds->height, ds->width);
    if (opts->prefetch < 0 || opts->prefetch > 64)
        return nas_err_set(err, NAS_EINVAL, "prefetch %d must be in [0, 64]", opts->prefetch);
    nas_loader *l = calloc(1, sizeof *l);
    if (!l) return nas_err_set(err, NAS_ENOMEM, "out of memory for a data loader");
    l->ds = ds;
    l->opts = *opts;
    l->opts.mean = l->opts.std = NULL; /* copied below; the caller's arrays may go away */
    if (opts->mean && opts->std) {
        memcpy(l->mean, opts->mean, sizeof(float) * (size_t)ds->channels);
        memcpy(l->std, opts->std, sizeof(float) * (size_t)ds->channels);
    } else {
        nas_dataset_mean_std(ds, l->mean, l->std);
    }
    l->batches = opts->drop_last ? ds->n / opts->batch : (ds->n + opts->batch - 1) / opts->batch;
    l->slots = opts->prefetch ? opts->prefetch : LOADER_DEFAULT_PREFETCH;
    l->order = malloc(sizeof *l->order * (size_t)ds->n);
    l->slot_images = calloc((size_t)l->slots, sizeof *l->slot_images);
    l->slot_labels = calloc((size_t)l->slots, sizeof *l->slot_labels);
    l->slot_counts = calloc((size_t)l->slots, sizeof *l->slot_counts);
    bool ok = l->order && l->slot_images && l->slot_labels && l->slot_counts;
    for (int s = 0; ok && s < l->slots; s++) {
        l->slot_images[s] = malloc(sizeof(float) * (size_t)opts->batch * (size_t)nas_dataset_image_bytes(ds));
        l->slot_labels[s] = malloc(sizeof(int) * (size_t)opts->batch);
        ok = l->slot_images[s] && l->slot_labels[s];
    }
    if (!ok) {
        release_buffers(l);
        return nas_err_set(err, NAS_ENOMEM, "out of memory for %d batch buffers of %d images",
                           l->slots, opts->batch);
    }
    if (pthread_mutex_init(&l->mu, NULL) != 0) {
        release_buffers(l);
        return nas_err_set(err, NAS_ENOMEM, "cannot create the data loader's mutex");
    }
    if (pthread_cond_init(&l->changed, NULL) != 0) {
        pthread_mutex_destroy(&l->mu);
        release_buffers(l);
        return nas_err_set(err, NAS_ENOMEM, "cannot create the data loader's condition variable");
    }
    l->epoch = -1;
    *out = l;
    return 0;
}

void nas_loader_free(nas_loader **loader) {
    if (!loader || !*loader) return;
    nas_loader *l = *loader;
    stop_thread(l);
    pthread_cond_destroy(&l->changed);
    pthread_mutex_destroy(&l->mu);
    release_buffers(l);
    *loader = NULL;
}

int nas_loader_batches_per_epoch(const nas_loader *loader) { return loader->batches; }

const float *nas_loader_mean(const nas_loader *loader) { return loader->mean; }
const float *nas_loader_std(const nas_loader *loader) { return loader->std; }

int nas_loader_start_epoch(nas_loader *l, int epoch, nas_err *err) {
    stop_thread(l);
    l->epoch = epoch;
    for (int i = 0; i < l->ds->n; i++) l->order[i] = i;
    if (l->opts.shuffle) {
        /* The order of epoch e depends only on (seed, e): resuming at epoch e
         * replays exactly what an uninterrupted run would have seen. */
        nas_rng rng;
        nas_rng_seed(&rng, nas_mix64(l->opts.seed + 0x5348u) ^ (uint64_t)epoch);
        nas_rng_shuffle_int(&rng, l->order, l->ds->n);
    }
    l->produced = l->released = l->handed_out = 0;
    l->stop = false;
    if (l->batches == 0) return 0;
    if (pthread_create(&l->thread, NULL, producer_main, l) != 0)
        return nas_err_set(err, NAS_ENOMEM, "cannot start the data loader thread");
    l->thread_running = true;
    return 0;
}

int nas_loader_next(nas_loader *l, nas_batch *batch, nas_err *err) {
    if (l->epoch < 0) return nas_err_set(err, NAS_ESTATE, "nas_loader_next before nas_loader_start_epoch");
    pthread_mutex_lock(&l->mu);
    if (l->handed_out > l->released) { /* the caller is done with the previous batch */
        l->released = l->handed_out;
        pthread_cond_broadcast(&l->changed);
    }
    if (l->handed_out == l->batches) {
        pthread_mutex_unlock(&l->mu);
        stop_thread(l);
        return 0;
    }
    while (l->produced <= l->handed_out) pthread_cond_wait(&l->changed, &l->mu);
    int b = l->handed_out++;
    pthread_mutex_unlock(&l->mu);
    int slot = b % l->slots;
    batch->count = l->slot_counts[slot];
    batch->images = l->slot_images[slot];
    batch->labels = l->slot_labels[slot];
    batch->index = b;
    return 1;
}
