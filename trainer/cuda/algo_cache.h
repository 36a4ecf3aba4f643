/*
 * trainer/cuda/algo_cache.h - the convolution algorithm chosen per shape.
 *
 * cuDNN's cudnnFind* benchmarks every algorithm for a shape, which costs tens
 * of milliseconds; a network has a few dozen distinct conv shapes and runs each
 * thousands of times, so the choice is made once per (shape, precision,
 * direction) and kept here. The cache is plain host data with no CUDA types so
 * that its logic is tested without a GPU; the backend stores cuDNN's enum
 * values as ints.
 */
#ifndef NAS_TRAINER_CUDA_ALGO_CACHE_H
#define NAS_TRAINER_CUDA_ALGO_CACHE_H

#include <stdbool.h>
#include <stddef.h>

#include "common/error.h"

typedef enum { NAS_CONV_FWD = 0, NAS_CONV_BWD_DATA, NAS_CONV_BWD_FILTER } nas_conv_dir;

/* Everything that decides which algorithm is fastest and whether it is legal. */
typedef struct nas_conv_key {
    int batch, c_in, height, width; /* input, NHWC */
    int c_out, kernel_h, kernel_w;
    int stride, pad, groups;
    int dtype; /* cudnnDataType_t of the data */
    nas_conv_dir dir;
} nas_conv_key;

typedef struct nas_conv_algo {
    int algo;              /* cudnnConvolution{Fwd,BwdData,BwdFilter}Algo_t */
    size_t workspace_bytes;
    int math_type;         /* cudnnMathType_t the algorithm was measured with */
    float time_ms;         /* as measured by cudnnFind (0 if chosen by heuristic) */
} nas_conv_algo;

typedef struct nas_conv_algo_cache nas_conv_algo_cache;

/* Returns NULL when out of memory. */
nas_conv_algo_cache *nas_conv_algo_cache_new(void);
void nas_conv_algo_cache_free(nas_conv_algo_cache **cache);

/* True and *out filled if the key has an entry. */
bool nas_conv_algo_cache_get(const nas_conv_algo_cache *cache, const nas_conv_key *key,
                             nas_conv_algo *out);

/* Inserts or replaces the entry for key. NAS_ENOMEM if the table cannot grow. */
int nas_conv_algo_cache_put(nas_conv_algo_cache *cache, const nas_conv_key *key,
                            const nas_conv_algo *algo, nas_err *err);

size_t nas_conv_algo_cache_count(const nas_conv_algo_cache *cache);

/* Largest workspace of any cached entry: the backend sizes one shared
 * workspace buffer from it. */
size_t nas_conv_algo_cache_max_workspace(const nas_conv_algo_cache *cache);

#endif
