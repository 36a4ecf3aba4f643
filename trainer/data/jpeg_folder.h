/*
 * trainer/data/jpeg_folder.h - ImageNet-style folders of JPEGs, streamed.
 *
 * A JPEG folder is DIR/<class>/<image>.jpg (the layout of ImageNet's train/
 * folder, and of val/ once its images are sorted into class folders, as
 * torchvision's ImageFolder expects). Class folders are sorted by name and
 * numbered from 0; hidden entries and files that do not end in .jpg/.jpeg
 * (any case) are ignored.
 *
 * Unlike dataset.h's in-memory sets (ImageNet does not fit in memory), images
 * stay on disk: the index holds paths, and a loader decodes each batch with
 * libjpeg-turbo on several threads ahead of the compute, with the standard
 * augmentation: random-resized-crop (scale 0.08..1, aspect ratio 3/4..4/3)
 * and horizontal flip for training; resize of the shorter side to
 * size/0.875 and a centre crop for evaluation. Decoding uses libjpeg's DCT
 * scaling (1/8 steps) to the smallest scale that still covers the output,
 * then a bilinear resize of the crop. Batches have the shape of loader.h's
 * nas_batch (NCHW float32, normalised, int labels), so the training loop
 * can consume either loader.
 *
 * Randomness comes from (seed, epoch, position in the epoch) only, never
 * from thread timing. A corrupt or truncated JPEG is an error naming the file
 * and what libjpeg found (the batch that holds it fails); harmless warnings
 * such as extraneous bytes before a marker, which some ImageNet files have,
 * are tolerated.
 */
#ifndef NAS_TRAINER_DATA_JPEG_FOLDER_H
#define NAS_TRAINER_DATA_JPEG_FOLDER_H

#include <stdbool.h>
#include <stdint.h>

#include "common/error.h"
#include "common/rng.h"
#include "trainer/data/loader.h"

/* ---- the index: classes and image paths ---- */

typedef struct nas_jpeg_folder nas_jpeg_folder;

/* Scans dir. Errors: NAS_ENOTFOUND if dir cannot be opened; NAS_EINVAL if it
 * has no class subfolders or a class folder holds no JPEG (which would shift
 * every later class index silently); NAS_ENOMEM. */
int nas_jpeg_folder_open(const char *dir, nas_jpeg_folder **out, nas_err *err);
/* NULL-safe; sets *folder = NULL. */
void nas_jpeg_folder_free(nas_jpeg_folder **folder);

int nas_jpeg_folder_count(const nas_jpeg_folder *folder);   /* images */
int nas_jpeg_folder_classes(const nas_jpeg_folder *folder); /* class folders */
/* Name of class `label` (its folder name). */
const char *nas_jpeg_folder_class_name(const nas_jpeg_folder *folder, int label);
/* Full path and label of image `index` (images are sorted by class, then name). */
const char *nas_jpeg_folder_path(const nas_jpeg_folder *folder, int index);
int nas_jpeg_folder_label(const nas_jpeg_folder *folder, int index);

/* ---- decoding one image ---- */

typedef struct nas_jpeg_crop_opts {
    int size;                    /* output height = width, in pixels */
    bool train;                  /* random-resized-crop (+ flip); false: centre crop */
    double scale_min, scale_max; /* train: crop area / image area */
    double ratio_min, ratio_max; /* train: crop aspect ratio (width / height) */
    bool hflip;                  /* train: flip with probability 1/2 */
    double crop_fraction;        /* eval: centre square side / shorter image side */
} nas_jpeg_crop_opts;

/* The usual ImageNet settings: scale 0.08..1, ratio 3/4..4/3, flip on,
 * crop_fraction 0.875 (resize to size/0.875, centre crop size). */
nas_jpeg_crop_opts nas_jpeg_crop_defaults(int size, bool train);

/* Decodes the JPEG at path into out: 3 x size x size RGB bytes, planar (CHW).
 * Greyscale and CMYK JPEGs become RGB. rng drives the random crop and flip
 * (used only when opts->train). Errors name the path: NAS_EIO (cannot read),
 * NAS_EPARSE (not a JPEG, corrupt or truncated data), NAS_EINVAL (bad opts). */
int nas_jpeg_decode_crop(const char *path, const nas_jpeg_crop_opts *opts, nas_rng *rng,
                         uint8_t *out, nas_err *err);

/* ---- the threaded batch loader ---- */

typedef struct nas_jpeg_loader_opts {
    int batch;               /* images per batch (> 0) */
    bool shuffle;            /* new random order every epoch */
    bool drop_last;          /* skip a final partial batch */
    nas_jpeg_crop_opts crop; /* size and augmentation */
    uint64_t seed;
    /* x = (pixel/255 - mean[c]) / std[c]; NULL = ImageNet's
     * (0.485, 0.456, 0.406) / (0.229, 0.224, 0.225). */
    const float *mean, *std;
    int threads;             /* decoding threads; 0 = 4 */
    int prefetch;            /* batches decoded ahead (ring slots); 0 = 3 */
} nas_jpeg_loader_opts;

typedef struct nas_jpeg_loader nas_jpeg_loader;

/* The folder must outlive the loader. */
int nas_jpeg_loader_new(const nas_jpeg_folder *folder, const nas_jpeg_loader_opts *opts,
                        nas_jpeg_loader **out, nas_err *err);
/* Stops the threads and frees; NULL-safe; sets *loader = NULL. */
void nas_jpeg_loader_free(nas_jpeg_loader **loader);

int nas_jpeg_loader_batches_per_epoch(const nas_jpeg_loader *loader);

/* Starts epoch `epoch` (0-based): fixes its order and starts the decoding
 * threads. An epoch still running is abandoned first. */
int nas_jpeg_loader_start_epoch(nas_jpeg_loader *loader, int epoch, nas_err *err);

/* Waits for the next batch of the current epoch: 1 and *batch filled, 0 at
 * the end of the epoch, or a negative code when an image of that batch could
 * not be decoded (the message names the file; the next call moves on to the
 * following batch). The previous batch's memory is handed back by this call. */
int nas_jpeg_loader_next(nas_jpeg_loader *loader, nas_batch *batch, nas_err *err);

#endif
