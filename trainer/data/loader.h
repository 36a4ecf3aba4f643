/*
 * trainer/data/loader.h - batches of normalised, augmented float images.
 *
 * A loader turns a data set (dataset.h) into batches the compute consumes:
 * shuffled indices per epoch, random crop with zero padding and horizontal
 * flip (training only, each configurable), per-channel mean/std
 * normalisation, NCHW float32 images and int labels. A worker thread prepares
 * the next batches while the caller computes on the current one (a small ring
 * of slots), so data preparation overlaps the training step.
 *
 * Everything is reproducible from the seed: the shuffle of epoch e and the
 * augmentation of batch b derive from (seed, e, b), never from thread timing.
 */
#ifndef NAS_TRAINER_DATA_LOADER_H
#define NAS_TRAINER_DATA_LOADER_H

#include <stdbool.h>
#include <stdint.h>

#include "common/error.h"
#include "trainer/data/dataset.h"

typedef struct nas_loader_opts {
    int batch;            /* images per batch (> 0) */
    bool shuffle;         /* new random order every epoch (training) */
    bool drop_last;       /* skip a final partial batch (keeps BN statistics sane) */
    int crop_padding;     /* random crop of the image padded by this many zero pixels; 0 = off */
    bool hflip;           /* random horizontal flip with probability 1/2 */
    uint64_t seed;
    /* Normalisation: x = (pixel/255 - mean[c]) / std[c]. NULL = the data set's own
     * statistics (nas_dataset_mean_std); pass the training set's to a test loader. */
    const float *mean, *std;
    int prefetch;         /* batches prepared ahead (ring slots); 0 = default 3 */
} nas_loader_opts;

/* One batch; valid until the next nas_loader_next or nas_loader_free call. */
typedef struct nas_batch {
    int count;            /* images in this batch (<= opts.batch) */
    const float *images;  /* count x C x H x W */
    const int *labels;    /* count */
    int index;            /* batch number in the epoch, from 0 */
} nas_batch;

typedef struct nas_loader nas_loader;

/* The loader keeps a pointer to ds: the data set must outlive it. */
int nas_loader_new(const nas_dataset *ds, const nas_loader_opts *opts, nas_loader **out,
                   nas_err *err);
void nas_loader_free(nas_loader **loader);

/* Batches per epoch under the drop_last rule. */
int nas_loader_batches_per_epoch(const nas_loader *loader);

/* Starts epoch `epoch` (0-based): fixes its order and starts the thread that
 * prepares its batches. An epoch still running is abandoned first. */
int nas_loader_start_epoch(nas_loader *loader, int epoch, nas_err *err);

/* Waits for the next batch of the current epoch. Returns 1 and fills *batch,
 * 0 at the end of the epoch, or a negative code. The previous batch's memory
 * is handed back to the preparing thread by this call. */
int nas_loader_next(nas_loader *loader, nas_batch *batch, nas_err *err);

/* The mean/std the loader normalises with (channels entries each). */
const float *nas_loader_mean(const nas_loader *loader);
const float *nas_loader_std(const nas_loader *loader);

/* Prepares one image into out (C x H x W floats): optional crop offset
 * (dy, dx in [-pad, pad], zero outside the image), optional flip, then
 * normalisation. Exposed for the tests and for callers that batch by hand. */
void nas_prepare_image(const uint8_t *pixels, int channels, int height, int width, int dy, int dx,
                       bool flip, const float *mean, const float *std, float *out);

#endif
