/*
 * trainer/cuda/cuda_internal.h - state shared by the CUDA backend's files
 * (private to trainer/cuda): the buffer and plan structs, the backend
 * context, and the helpers every op uses (device allocation with OOM
 * reporting, scratch growth, weight shadows, conv algorithm choice).
 *
 * Files: cuda_backend.c (context, memory, transfers, loss, optimiser, sync),
 * cuda_conv.c (cuDNN convolutions, cuBLAS fully connected), cuda_ops.c (the
 * remaining ops on top of kernels.h), latency_cuda.c (CUDA-graph timing).
 */
#ifndef NAS_TRAINER_CUDA_INTERNAL_H
#define NAS_TRAINER_CUDA_INTERNAL_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include <cublas_v2.h>
#include <cuda_runtime_api.h>
#include <cudnn.h>

#include "trainer/backend.h"
#include "trainer/cuda/algo_cache.h"
#include "trainer/cuda/cuda_backend.h"
#include "trainer/cuda/kernels.h"
#include "trainer/cuda/loss_scale.h"

struct nas_buf {
    nas_buf_kind kind;
    nas_shape shape;
    size_t count;     /* logical elements */
    size_t elem_size; /* bytes per stored element */
    void *data;       /* device memory */
    /* PARAM buffers used as conv/fc weights in fp16/bf16: the reduced-
     * precision copy the libraries read, valid while shadow_version ==
     * version (every write to the master copy bumps version). */
    void *shadow;
    uint64_t version, shadow_version;
};

struct nas_conv_plan {
    nas_conv_desc d;
    int max_batch;
    cudnnFilterDescriptor_t w_desc;
    cudnnConvolutionDescriptor_t conv_desc;
    cudnnTensorDescriptor_t x_desc, y_desc; /* re-set per call for the batch n */
};

enum { CUDA_STAGING_SLOTS = 2 };

/* One host-to-device path: pinned host memory, a float32 device landing
 * area, and events that say when each may be reused. */
typedef struct cuda_staging {
    void *host;         /* pinned */
    void *device;
    size_t bytes;
    cudaEvent_t copied;   /* recorded on the copy stream after the H2D copy */
    cudaEvent_t consumed; /* recorded on the compute stream after the reader */
    bool used;
} cuda_staging;

typedef struct cuda_ctx {
    int device;
    char device_name[200];
    nas_cuda_options opt;
    nas_cu_dtype dt;            /* activation storage type */
    cudnnDataType_t cudnn_dt;
    cudaDataType_t blas_dt;
    cudaStream_t stream;        /* all compute */
    cudaStream_t copy_stream;   /* uploads, ahead of the compute */
    cudnnHandle_t cudnn;
    cublasHandle_t cublas;
    void *cublas_workspace;
    nas_conv_algo_cache *algos;
    void *workspace;            /* shared cuDNN workspace */
    size_t workspace_bytes;
    float *scratch;             /* reductions (BN, pool, SE, bias grads) */
    size_t scratch_floats;
    void *dw_scratch;           /* reduced-precision conv weight gradient */
    size_t dw_scratch_bytes;
    cuda_staging staging[CUDA_STAGING_SLOTS];
    int next_staging;
    void *download_host;        /* pinned */
    size_t download_bytes;
    float *download_device;
    size_t download_device_bytes;
    int *dev_flags;             /* [0] bad label (1 + image), [1] non-finite gradient */
    int *host_flags;            /* pinned mirror */
    nas_loss_scaler scaler;
    bool capturing;             /* a CUDA graph capture is in progress on stream */
} cuda_ctx;

enum { CUDA_FLAG_BAD_LABEL = 0, CUDA_FLAG_NONFINITE = 1, CUDA_FLAGS = 2 };

static inline cuda_ctx *cuda_ctx_of(const nas_backend *be) { return (cuda_ctx *)be->self; }

/* cudaMalloc with the size, free memory and what it was for in the message. */
int cuda_dev_alloc(cuda_ctx *ctx, size_t bytes, const char *what, void **out, nas_err *err);
/* Grows *buf to hold at least `bytes` (waits for the stream first); refuses
 * while a graph capture is in progress, since allocation cannot be captured. */
int cuda_dev_reserve(cuda_ctx *ctx, void **buf, size_t *have, size_t bytes, const char *what,
                     nas_err *err);
int cuda_scratch_reserve(cuda_ctx *ctx, size_t floats, nas_err *err);
/* The pointer cuDNN/cuBLAS read for a weight: the master copy in fp32, else
 * the shadow, converted first if stale. */
int cuda_weight_ptr(cuda_ctx *ctx, nas_buf *w, const void **out, nas_err *err);

/* ops in cuda_conv.c */
int cuda_conv_plan_new(const nas_backend *be, const nas_conv_desc *desc, int max_batch,
                       nas_conv_plan **out, nas_err *err);
void cuda_conv_plan_free(const nas_backend *be, nas_conv_plan **plan);
int cuda_conv_fwd(const nas_backend *be, const nas_conv_plan *plan, int n, const nas_buf *x,
                  const nas_buf *w, const nas_buf *bias, nas_actfn act, nas_buf *y, nas_err *err);
int cuda_conv_bwd_data(const nas_backend *be, const nas_conv_plan *plan, int n, const nas_buf *dy,
                       const nas_buf *w, nas_buf *dx, bool accumulate, nas_err *err);
int cuda_conv_bwd_filter(const nas_backend *be, const nas_conv_plan *plan, int n,
                         const nas_buf *x, const nas_buf *dy, nas_buf *dw, nas_buf *dbias,
                         nas_err *err);
int cuda_fc_fwd(const nas_backend *be, int n, int in, int out, const nas_buf *x, const nas_buf *w,
                const nas_buf *b, nas_buf *y, nas_err *err);
int cuda_fc_bwd(const nas_backend *be, int n, int in, int out, const nas_buf *x, const nas_buf *w,
                const nas_buf *dy, nas_buf *dx, bool accumulate, nas_buf *dw, nas_buf *db,
                nas_err *err);

/* ops in cuda_ops.c */
int cuda_bn_fwd(const nas_backend *be, bool training, int n, int c, int hw, const nas_buf *x,
                const nas_buf *residual, const nas_buf *gamma, const nas_buf *beta,
                nas_buf *running_mean, nas_buf *running_var, float momentum, float eps,
                nas_actfn act, nas_buf *y, nas_buf *save_mean, nas_buf *save_invstd,
                nas_err *err);
int cuda_bn_bwd(const nas_backend *be, bool frozen, int n, int c, int hw, const nas_buf *x,
                const nas_buf *y, const nas_buf *residual, const nas_buf *dy,
                const nas_buf *gamma, const nas_buf *beta, const nas_buf *save_mean,
                const nas_buf *save_invstd, nas_actfn act, nas_buf *dx, bool accumulate_dx,
                nas_buf *d_residual, bool accumulate_dres, nas_buf *dgamma, nas_buf *dbeta,
                nas_err *err);
int cuda_act_fwd(const nas_backend *be, nas_actfn act, size_t count, const nas_buf *x, nas_buf *y,
                 nas_err *err);
int cuda_act_bwd(const nas_backend *be, nas_actfn act, size_t count, const nas_buf *x,
                 const nas_buf *y, const nas_buf *dy, nas_buf *dx, bool accumulate, nas_err *err);
int cuda_add(const nas_backend *be, size_t count, const nas_buf *a, const nas_buf *b, nas_buf *y,
             nas_err *err);
int cuda_se_scale_fwd(const nas_backend *be, int n, int c, int hw, const nas_buf *x,
                      const nas_buf *gate, nas_buf *y, nas_err *err);
int cuda_se_scale_bwd(const nas_backend *be, int n, int c, int hw, const nas_buf *x,
                      const nas_buf *gate, const nas_buf *dy, nas_buf *dx, bool accumulate,
                      nas_buf *dgate, nas_err *err);
int cuda_pool_fwd(const nas_backend *be, int n, int c, int hw, const nas_buf *x, nas_buf *y,
                  nas_err *err);
int cuda_pool_bwd(const nas_backend *be, int n, int c, int hw, const nas_buf *dy, nas_buf *dx,
                  bool accumulate, nas_err *err);
int cuda_dropout_fwd(const nas_backend *be, size_t count, float p, uint64_t seed, const nas_buf *x,
                     nas_buf *y, nas_buf *mask, nas_err *err);
int cuda_dropout_bwd(const nas_backend *be, size_t count, const nas_buf *mask, const nas_buf *dy,
                     nas_buf *dx, bool accumulate, nas_err *err);

#endif
