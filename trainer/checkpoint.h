/*
 * trainer/checkpoint.h - network weights in the safetensors format.
 *
 * File layout (https://huggingface.co/docs/safetensors): an 8-byte
 * little-endian header length N, N bytes of JSON header, then the raw tensor
 * bytes. The header maps each tensor name to {"dtype", "shape",
 * "data_offsets": [begin, end)} relative to the start of the data, plus an
 * optional "__metadata__" object of string values. PyTorch's `safetensors`
 * package (safetensors.torch.load_file) reads what we write: parameter names
 * are PyTorch-like (graph.h), float32, contiguous and in PyTorch's order.
 *
 * A gpunas checkpoint holds every parameter and BN running statistic of the
 * network, and when saved for resuming also the optimiser's momentum buffers
 * (as "momentum.<param name>") and metadata: "format": "gpunas", "arch" (the
 * canonical JSON), "epochs_done", "dataset", "input_mean" and "input_std"
 * (comma-separated per channel, what inputs were normalised with). Loading
 * accepts F32, F16,
 * BF16 and F64 tensors (converted to float32), so weights exported from
 * PyTorch in half precision can seed `init_from`.
 *
 * nas_ckpt is an in-memory set of named float tensors and string metadata;
 * the functions at the bottom move a network (and optimiser) into and out of
 * one.
 */
#ifndef NAS_TRAINER_CHECKPOINT_H
#define NAS_TRAINER_CHECKPOINT_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "common/error.h"
#include "trainer/graph.h"
#include "trainer/optim.h"

#define NAS_CKPT_MAX_DIMS 8

typedef struct nas_ckpt_tensor {
    char *name;
    int ndim;
    int64_t shape[NAS_CKPT_MAX_DIMS];
    size_t count;  /* product of shape (1 for a scalar) */
    float *data;   /* count floats */
} nas_ckpt_tensor;

typedef struct nas_ckpt nas_ckpt;

nas_ckpt *nas_ckpt_new(void);
void nas_ckpt_free(nas_ckpt **ckpt);

/* Adds a tensor (data copied). Names must be unique and non-empty. */
int nas_ckpt_add(nas_ckpt *ckpt, const char *name, int ndim, const int64_t *shape,
                 const float *data, nas_err *err);
/* Sets a metadata string (replaces an existing key). */
int nas_ckpt_set_meta(nas_ckpt *ckpt, const char *key, const char *value, nas_err *err);

int nas_ckpt_tensor_count(const nas_ckpt *ckpt);
const nas_ckpt_tensor *nas_ckpt_tensor_at(const nas_ckpt *ckpt, int index);
const nas_ckpt_tensor *nas_ckpt_find(const nas_ckpt *ckpt, const char *name);
/* Metadata value, or NULL if absent. */
const char *nas_ckpt_meta(const nas_ckpt *ckpt, const char *key);

/* Writes the file atomically (a temporary file renamed over path), so a crash
 * while saving never leaves a half-written checkpoint under the real name. */
int nas_ckpt_save(const nas_ckpt *ckpt, const char *path, nas_err *err);

/* Reads and validates a safetensors file: header length within the file,
 * JSON well-formed, known dtypes, shapes matching byte ranges, ranges inside
 * the data, not overlapping and covering it. Errors name the file and tensor. */
int nas_ckpt_load(const char *path, nas_ckpt **out, nas_err *err);

/* ---- networks ---- */

/* Snapshot of every parameter and running statistic of net (downloaded from
 * its backend); with optim also the momentum buffers. */
int nas_ckpt_from_net(nas_net *net, const nas_optim *optim, nas_ckpt **out, nas_err *err);

typedef enum {
    NAS_CKPT_STRICT = 0,  /* every parameter of the net must be present with its shape (resume) */
    NAS_CKPT_MATCH_NAMES  /* load tensors whose name and shape match; skip the rest (init_from) */
} nas_ckpt_match;

/* Uploads the checkpoint's tensors into net (and momentum into optim, if both
 * are given and present). *loaded (may be NULL) counts the parameters set.
 * With NAS_CKPT_MATCH_NAMES a name present with another shape is skipped and
 * counted in *shape_mismatches (may be NULL); zero matches is an error,
 * since it means the checkpoint belongs to a different network. */
int nas_ckpt_to_net(const nas_ckpt *ckpt, nas_net *net, nas_optim *optim, nas_ckpt_match match,
                    int *loaded, int *shape_mismatches, nas_err *err);

#endif
