/*
 * trainer/data/dataset.h - image classification data sets held in memory.
 *
 * A data set is N images of C x H x W bytes (planar, channel-major per image,
 * the layout the trainer's NCHW tensors use) plus one label per image. Every
 * source the trainer reads (IDX files such as MNIST and Fashion-MNIST, raw or
 * gzipped; CIFAR-10 binary batches; a seeded synthetic set) ends up in this
 * one shape, so augmentation and batching (loader.h) never care where images
 * came from. Pixels stay uint8 until a batch is built: 60000 28x28 images are
 * 47 MB as bytes and four times that as floats.
 *
 * Readers check what they read: a wrong magic number, a truncated file, a
 * label outside [0, classes) or an image/label count mismatch is an error that
 * names the file and says what was expected.
 */
#ifndef NAS_TRAINER_DATA_DATASET_H
#define NAS_TRAINER_DATA_DATASET_H

#include <stdbool.h>
#include <stdint.h>

#include "common/error.h"

#define NAS_DATASET_MAX_CHANNELS 4

typedef struct nas_dataset {
    int n;                  /* number of images */
    int channels, height, width;
    int classes;            /* labels are in [0, classes) */
    uint8_t *pixels;        /* n * channels * height * width bytes, image-major, CHW */
    uint8_t *labels;        /* n bytes */
    char name[64];          /* "fashion-mnist/train", "synthetic/test", ... */
} nas_dataset;

/* Bytes of one image. */
static inline int64_t nas_dataset_image_bytes(const nas_dataset *ds) {
    return (int64_t)ds->channels * ds->height * ds->width;
}

/* Allocates an empty data set of n images of c x h x w (pixels and labels
 * zeroed). Used by the readers and by tests that build sets by hand. */
int nas_dataset_alloc(int n, int c, int h, int w, int classes, const char *name,
                      nas_dataset **out, nas_err *err);
void nas_dataset_free(nas_dataset **ds);

/* Reads one IDX image file (magic 0x00000803, dims n x h x w, u8) and its IDX
 * label file (magic 0x00000801, dim n, u8). Either file may be gzipped; zlib
 * reads both forms. classes bounds the labels (10 for MNIST). */
int nas_dataset_load_idx(const char *images_path, const char *labels_path, int classes,
                         const char *name, nas_dataset **out, nas_err *err);

/* Reads the MNIST-style pair from a folder: {train,t10k}-images-idx3-ubyte and
 * {train,t10k}-labels-idx1-ubyte, each with or without ".gz" (also the
 * "-images.idx3-ubyte" spelling some mirrors use). */
int nas_dataset_load_idx_dir(const char *dir, bool train, const char *name, nas_dataset **out,
                             nas_err *err);

/* Reads CIFAR-10 binary batches from a folder: data_batch_1..5.bin (train) or
 * test_batch.bin (test); each record is 1 label byte + 3072 pixel bytes. The
 * train split uses every data_batch_N.bin present (at least one). */
int nas_dataset_load_cifar(const char *dir, bool train, nas_dataset **out, nas_err *err);

/* A seeded synthetic set: each class is a sinusoidal grating with its own
 * orientation and frequency (drawn from the seed); every sample has a random
 * phase and Gaussian pixel noise. Texture, not position, tells classes apart,
 * which suits convolutions followed by global pooling, so a small network
 * separates the classes within an epoch or two. The same seed gives the same
 * classes in the train and test splits; phases and noise differ by split. */
int nas_dataset_synthetic(int n, int c, int h, int w, int classes, uint64_t seed, bool train,
                          nas_dataset **out, nas_err *err);

/* Opens a data set by the recipe's name:
 *   "fashion-mnist"  $NAS_DATA_DIR/fashion-mnist, else /usr/share/datasets/fashion-mnist
 *   "mnist"          $NAS_DATA_DIR/mnist, else /usr/share/datasets/mnist
 *   "idx:DIR"        an MNIST-style folder (10 classes)
 *   "cifar:DIR"      CIFAR-10 binary batches
 *   "synthetic"      1 x 28 x 28, 10 classes, 6000 train / 1000 test, seed 1
 *                    ("synthetic:N" sets the train size; the test size is N/6)
 * Unknown names and missing folders are NAS_ENOTFOUND with a hint on how to
 * install the data. */
int nas_dataset_open(const char *spec, bool train, nas_dataset **out, nas_err *err);

/* Per-channel mean and standard deviation of the pixels scaled to [0,1]
 * (mean[c], std[c] for c < channels). std is floored at 1e-3 so that a
 * constant channel does not divide by zero when normalising. */
void nas_dataset_mean_std(const nas_dataset *ds, float *mean, float *std);

/* Keeps only the first n images (no-op if n <= 0 or n >= ds->n). */
void nas_dataset_truncate(nas_dataset *ds, int n);

#endif
