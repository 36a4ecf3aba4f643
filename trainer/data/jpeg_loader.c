/*
 * trainer/data/jpeg_loader.c - batches decoded from a JPEG folder by several
 * threads ahead of the compute (see jpeg_folder.h).
 *
 * Decoding a JPEG costs milliseconds, so one thread per batch (as the
 * in-memory loader does) would be far too slow for ImageNet; here every
 * thread takes single images. Work is claimed in epoch order from one
 * counter, `claimed`; image i belongs to batch i / batch, which lives in ring
 * slot (i / batch) % slots. A thread may claim an image only while its batch
 * is fewer than `slots` batches ahead of `released` (the batches the consumer
 * has handed back), so a slot is never overwritten while it is read. A batch
 * is complete when its slot's `done` count reaches its size; the consumer
 * waits for exactly that. All shared counters sit under one mutex; decoding
 * itself runs unlocked.
 *
 * The crop and flip of the image at position p of epoch e use an rng seeded
 * from (seed, e, p), so batches are the same whatever the thread timing.
 */
#include <pthread.h>
#include <stdlib.h>
#include <string.h>

#include "trainer/data/jpeg_folder.h"

#define JPEG_LOADER_DEFAULT_THREADS 4
#define JPEG_LOADER_DEFAULT_PREFETCH 3
#define JPEG_LOADER_MAX_THREADS 256

static const float imagenet_mean[3] = {0.485f, 0.456f, 0.406f};
static const float imagenet_std[3] = {0.229f, 0.224f, 0.225f};

typedef struct loader_slot {
    float *images;   /* batch x 3 x size x size */
    int *labels;     /* batch */
    int batch_index; /* which batch the slot holds (or is being filled with) */
    int done;        /* images of that batch finished (decoded or failed) */
    int failed_rc;   /* first failure in the batch, 0 if none */
    nas_err failure;
} loader_slot;

struct nas_jpeg_loader {
    const nas_jpeg_folder *folder;
    nas_jpeg_loader_opts opts;
    float mean[3], std[3];
    int images_per_epoch; /* after drop_last */
    int batches;
    int *order;
    int epoch;
    int slots;
    loader_slot *slot;

    int n_threads;
    pthread_t *threads;
    bool threads_running;
    pthread_mutex_t mu;
    pthread_cond_t changed; /* claimed, done, released or stop changed */
    int claimed;            /* images handed to threads this epoch */
    int released;           /* batches the consumer has finished with */
    int handed_out;         /* batches returned by next() */
    bool stop;
};

static int batch_size_of(const nas_jpeg_loader *l, int b) {
    int left = l->images_per_epoch - b * l->opts.batch;
    return left < l->opts.batch ? left : l->opts.batch;
}

/* Decodes image `position` of the epoch into its slot, unlocked. */
static void decode_one(nas_jpeg_loader *l, int position, uint8_t *pixels) {
    int b = position / l->opts.batch, within = position % l->opts.batch;
    loader_slot *slot = &l->slot[b % l->slots];
    int index = l->order[position];
    int size = l->opts.crop.size;
    size_t plane = (size_t)size * size;
    nas_rng rng;
    nas_rng_seed(&rng, nas_mix64(l->opts.seed ^ nas_mix64(((uint64_t)l->epoch << 32) |
                                                          (uint32_t)position)));
    nas_err err = {0};
    int rc = nas_jpeg_decode_crop(nas_jpeg_folder_path(l->folder, index), &l->opts.crop, &rng,
                                  pixels, &err);
    if (rc == 0) {
        float *dst = slot->images + (size_t)within * 3 * plane;
        for (int c = 0; c < 3; c++) {
            float scale = 1.0f / (255.0f * l->std[c]), shift = l->mean[c] / l->std[c];
            for (size_t i = 0; i < plane; i++)
                dst[c * plane + i] = (float)pixels[c * plane + i] * scale - shift;
        }
        slot->labels[within] = nas_jpeg_folder_label(l->folder, index);
    }
    pthread_mutex_lock(&l->mu);
    if (rc != 0 && slot->failed_rc == 0) {
        slot->failed_rc = rc;
        slot->failure = err;
    }
    slot->done++;
    pthread_cond_broadcast(&l->changed);
    pthread_mutex_unlock(&l->mu);
}

static void *decode_thread(void *arg) {
    nas_jpeg_loader *l = arg;
    size_t plane = (size_t)l->opts.crop.size * l->opts.crop.size;
    uint8_t *pixels = malloc(3 * plane);
    pthread_mutex_lock(&l->mu);
    for (;;) {
        if (l->stop || l->claimed >= l->images_per_epoch) break;
        int position = l->claimed, b = position / l->opts.batch;
        if (b >= l->released + l->slots) { /* its slot still holds an unread batch */
            pthread_cond_wait(&l->changed, &l->mu);
            continue;
        }
        l->claimed++;
        loader_slot *slot = &l->slot[b % l->slots];
        if (position % l->opts.batch == 0) { /* first image of the batch: reset the slot */
            slot->batch_index = b;
            slot->done = 0;
            slot->failed_rc = 0;
        }
        if (pixels == NULL) { /* no scratch memory: fail this image, keep the count right */
            if (slot->failed_rc == 0) {
                slot->failed_rc = NAS_ENOMEM;
                nas_err_set(&slot->failure, NAS_ENOMEM, "out of memory decoding a JPEG batch");
            }
            slot->done++;
            pthread_cond_broadcast(&l->changed);
            continue;
        }
        pthread_mutex_unlock(&l->mu);
        decode_one(l, position, pixels);
        pthread_mutex_lock(&l->mu);
    }
    pthread_mutex_unlock(&l->mu);
    free(pixels);
    return NULL;
}

static void stop_threads(nas_jpeg_loader *l) {
    if (!l->threads_running) return;
    pthread_mutex_lock(&l->mu);
    l->stop = true;
    pthread_cond_broadcast(&l->changed);
    pthread_mutex_unlock(&l->mu);
    for (int t = 0; t < l->n_threads; t++) pthread_join(l->threads[t], NULL);
    l->threads_running = false;
    l->stop = false;
}

int nas_jpeg_loader_new(const nas_jpeg_folder *folder, const nas_jpeg_loader_opts *opts,
                        nas_jpeg_loader **out, nas_err *err) {
    *out = NULL;
    if (opts->batch < 1) return nas_err_set(err, NAS_EINVAL, "batch %d must be at least 1", opts->batch);
    if (opts->crop.size < 1 || opts->crop.size > 4096)
        return nas_err_set(err, NAS_EINVAL, "crop size %d must be 1 to 4096 pixels", opts->crop.size);
    if (opts->threads < 0 || opts->threads > JPEG_LOADER_MAX_THREADS)
        return nas_err_set(err, NAS_EINVAL, "threads %d must be 0 (default) to %d", opts->threads,
                           JPEG_LOADER_MAX_THREADS);
    if (opts->prefetch < 0) return nas_err_set(err, NAS_EINVAL, "prefetch %d must be >= 0", opts->prefetch);
    int count = nas_jpeg_folder_count(folder);
    int usable = opts->drop_last ? count / opts->batch * opts->batch : count;
    if (usable == 0)
        return nas_err_set(err, NAS_EINVAL, "%d images make no full batch of %d (drop_last)", count,
                           opts->batch);

    nas_jpeg_loader *l = calloc(1, sizeof *l);
    if (l == NULL) return nas_err_set(err, NAS_ENOMEM, "out of memory creating the JPEG loader");
    pthread_mutex_init(&l->mu, NULL);
    pthread_cond_init(&l->changed, NULL);
    l->folder = folder;
    l->opts = *opts;
    for (int c = 0; c < 3; c++) {
        l->mean[c] = opts->mean ? opts->mean[c] : imagenet_mean[c];
        l->std[c] = opts->std ? opts->std[c] : imagenet_std[c];
        if (!(l->std[c] > 0)) {
            double bad = l->std[c];
            nas_jpeg_loader_free(&l);
            return nas_err_set(err, NAS_EINVAL, "std[%d] = %g must be positive", c, bad);
        }
    }
    l->images_per_epoch = usable;
    l->batches = (usable + opts->batch - 1) / opts->batch;
    l->n_threads = opts->threads ? opts->threads : JPEG_LOADER_DEFAULT_THREADS;
    l->slots = opts->prefetch ? opts->prefetch : JPEG_LOADER_DEFAULT_PREFETCH;
    l->epoch = -1;
    size_t image_floats = 3 * (size_t)opts->crop.size * opts->crop.size;
    l->order = malloc((size_t)count * sizeof *l->order);
    l->slot = calloc((size_t)l->slots, sizeof *l->slot);
    l->threads = calloc((size_t)l->n_threads, sizeof *l->threads);
    bool ok = l->order && l->slot && l->threads;
    for (int s = 0; ok && s < l->slots; s++) {
        l->slot[s].images = malloc((size_t)opts->batch * image_floats * sizeof(float));
        l->slot[s].labels = malloc((size_t)opts->batch * sizeof(int));
        ok = l->slot[s].images && l->slot[s].labels;
    }
    if (!ok) {
        nas_jpeg_loader_free(&l);
        return nas_err_set(err, NAS_ENOMEM, "out of memory for %d batch slots of %d images of %dx%d",
                           opts->prefetch ? opts->prefetch : JPEG_LOADER_DEFAULT_PREFETCH,
                           opts->batch, opts->crop.size, opts->crop.size);
    }
    *out = l;
    return 0;
}

void nas_jpeg_loader_free(nas_jpeg_loader **loader) {
    if (loader == NULL || *loader == NULL) return;
    nas_jpeg_loader *l = *loader;
    stop_threads(l);
    pthread_mutex_destroy(&l->mu);
    pthread_cond_destroy(&l->changed);
    for (int s = 0; l->slot && s < l->slots; s++) {
        free(l->slot[s].images);
        free(l->slot[s].labels);
    }
    free(l->slot);
    free(l->threads);
    free(l->order);
    free(l);
    *loader = NULL;
}

int nas_jpeg_loader_batches_per_epoch(const nas_jpeg_loader *loader) { return loader->batches; }

int nas_jpeg_loader_start_epoch(nas_jpeg_loader *l, int epoch, nas_err *err) {
    if (epoch < 0) return nas_err_set(err, NAS_EINVAL, "epoch %d must be >= 0", epoch);
    stop_threads(l);
    int count = nas_jpeg_folder_count(l->folder);
    for (int i = 0; i < count; i++) l->order[i] = i;
    if (l->opts.shuffle) {
        nas_rng rng;
        nas_rng_seed(&rng, nas_mix64(l->opts.seed) ^ nas_mix64((uint64_t)epoch + 1));
        nas_rng_shuffle_int(&rng, l->order, count);
    }
    l->epoch = epoch;
    l->claimed = 0;
    l->released = 0;
    l->handed_out = 0;
    for (int s = 0; s < l->slots; s++) l->slot[s].batch_index = -1;
    for (int t = 0; t < l->n_threads; t++) {
        if (pthread_create(&l->threads[t], NULL, decode_thread, l) != 0) {
            /* Stop the ones that did start before reporting. */
            pthread_mutex_lock(&l->mu);
            l->stop = true;
            pthread_cond_broadcast(&l->changed);
            pthread_mutex_unlock(&l->mu);
            for (int u = 0; u < t; u++) pthread_join(l->threads[u], NULL);
            l->stop = false;
            return nas_err_set(err, NAS_ENOMEM, "cannot start JPEG decoding thread %d of %d", t + 1,
                               l->n_threads);
        }
    }
    l->threads_running = true;
    return 0;
}

int nas_jpeg_loader_next(nas_jpeg_loader *l, nas_batch *batch, nas_err *err) {
    if (l->epoch < 0)
        return nas_err_set(err, NAS_ESTATE, "nas_jpeg_loader_next before nas_jpeg_loader_start_epoch");
    pthread_mutex_lock(&l->mu);
    if (l->released < l->handed_out) { /* the caller is done with the previous batch */
        l->released = l->handed_out;
        pthread_cond_broadcast(&l->changed);
    }
    int b = l->handed_out;
    if (b >= l->batches) {
        pthread_mutex_unlock(&l->mu);
        return 0;
    }
    loader_slot *slot = &l->slot[b % l->slots];
    int expected = batch_size_of(l, b);
    while (!(slot->batch_index == b && slot->done == expected))
        pthread_cond_wait(&l->changed, &l->mu);
    l->handed_out++;
    int rc = slot->failed_rc;
    if (rc != 0) {
        if (err) *err = slot->failure;
        nas_err_prefix(err, "batch %d of epoch %d", b, l->epoch);
    }
    pthread_mutex_unlock(&l->mu);
    if (rc != 0) return rc;
    batch->count = expected;
    batch->images = l->slot[b % l->slots].images;
    batch->labels = l->slot[b % l->slots].labels;
    batch->index = b;
    return 1;
}
