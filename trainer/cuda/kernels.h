/*
 * trainer/cuda/kernels.h - C entry points of the backend's own CUDA kernels.
 *
 * cuDNN does the convolutions and cuBLAS the fully connected layers; these
 * kernels do everything the libraries have nothing fitting for: layout and
 * precision conversion, batch norm fused with the residual add and the
 * activation, activations, SE scaling, pooling, dropout, the loss with label
 * smoothing and the optimiser step (with loss-scale unscaling and the fp16
 * shadow copy of the weights fused in). One kernel family per .cu file, as in
 * llm.c; each launcher enqueues on the given stream and returns the launch
 * status as a cudaError_t value (int) for NAS_CUDA_TRY.
 *
 * Activation tensors ("act", dtype `dt`) are NHWC: row r = (image, pixel),
 * column = channel, so a per-channel quantity of an (n, c, hw) tensor is a
 * column and a per-image one is a block of hw rows.
 */
#ifndef NAS_TRAINER_CUDA_KERNELS_H
#define NAS_TRAINER_CUDA_KERNELS_H

#include <stddef.h>
#include <stdint.h>

#include <cuda_runtime_api.h>

#ifdef __cplusplus
extern "C" {
#endif

/* Storage type of activations (compute is fp32 in every kernel). */
typedef enum { NAS_CU_F32 = 0, NAS_CU_F16, NAS_CU_BF16 } nas_cu_dtype;

/* Same numbering as nas_actfn in trainer/backend.h (checked in backend_cuda.c). */
enum { NAS_CUK_ACT_NONE = 0, NAS_CUK_ACT_RELU, NAS_CUK_ACT_SWISH, NAS_CUK_ACT_SIGMOID };

size_t nas_cu_dtype_size(nas_cu_dtype dt);

/* ---- k_layout.cu ---- */
/* dst (NHWC, dt) = src (NCHW, float32), n images of c x hw. */
int nas_cuk_nchw_f32_to_nhwc(cudaStream_t s, nas_cu_dtype dt, const float *src, void *dst, int n,
                             int c, int hw);
/* dst (NCHW, float32) = src (NHWC, dt). */
int nas_cuk_nhwc_to_nchw_f32(cudaStream_t s, nas_cu_dtype dt, const void *src, float *dst, int n,
                             int c, int hw);
/* dst (dt) = src (float32) * scale, element-wise. */
int nas_cuk_cast_from_f32(cudaStream_t s, nas_cu_dtype dt, const float *src, void *dst,
                          size_t count, float scale);
/* dst (float32) = src (dt) * scale, element-wise. */
int nas_cuk_cast_to_f32(cudaStream_t s, nas_cu_dtype dt, const void *src, float *dst,
                        size_t count, float scale);
/* dst (dt) = value. */
int nas_cuk_fill(cudaStream_t s, nas_cu_dtype dt, void *dst, size_t count, float value);

/* ---- k_elementwise.cu ---- */
/* y = act(x), or act(x + bias[channel]) when bias != NULL (channel = i % c). */
int nas_cuk_act_fwd(cudaStream_t s, nas_cu_dtype dt, int act, size_t count, int c,
                    const float *bias, const void *x, void *y);
/* dx (+)= dy * act'(x) (SIGMOID reads y). */
int nas_cuk_act_bwd(cudaStream_t s, nas_cu_dtype dt, int act, size_t count, const void *x,
                    const void *y, const void *dy, void *dx, int accumulate);
/* y = a + b. */
int nas_cuk_add(cudaStream_t s, nas_cu_dtype dt, size_t count, const void *a, const void *b,
                void *y);
/* y[n,p,c] = x[n,p,c] * gate[n,c]. */
int nas_cuk_se_scale_fwd(cudaStream_t s, nas_cu_dtype dt, int n, int c, int hw, const void *x,
                         const void *gate, void *y);
/* dx (+)= dy * gate. */
int nas_cuk_se_scale_bwd_data(cudaStream_t s, nas_cu_dtype dt, int n, int c, int hw,
                              const void *gate, const void *dy, void *dx, int accumulate);
/* dx[n,p,c] (+)= dy[n,c] / hw. */
int nas_cuk_pool_bwd(cudaStream_t s, nas_cu_dtype dt, int n, int c, int hw, const void *dy,
                     void *dx, int accumulate);
/* Dropout: mask[i] = keep scale of (seed, i); y = x * mask. */
int nas_cuk_dropout_fwd(cudaStream_t s, nas_cu_dtype dt, size_t count, float p, uint64_t seed,
                        const void *x, void *y, float *mask);
int nas_cuk_dropout_bwd(cudaStream_t s, nas_cu_dtype dt, size_t count, const float *mask,
                        const void *dy, void *dx, int accumulate);

/* ---- k_reduce.cu: column sums over blocks of rows ----
 * For each group g < groups and column j < c:
 *   out[g*c + j] = scale * sum over rows r < rows of f(g, r, j)
 * where the quantity is chosen by `what`. Rows of group g start at row
 * g*rows of each tensor (tensors are [groups*rows][c]). `scratch` holds at
 * least nas_cuk_reduce_scratch_floats(groups, rows, c) floats. */
typedef enum {
    NAS_CUK_SUM_X = 0,   /* x                (pool fwd, bias grad) */
    NAS_CUK_SUM_X_MUL_Y  /* x * y            (SE gate grad) */
} nas_cuk_sum_what;
size_t nas_cuk_reduce_scratch_floats(int groups, int rows, int c);
/* out is float32; when out_dt_ptr != NULL the result is written there in dt
 * instead (pool fwd writes an activation). */
int nas_cuk_column_sum(cudaStream_t s, nas_cu_dtype dt, nas_cuk_sum_what what, int groups,
                       int rows, int c, const void *x, const void *y, float scale, float *out,
                       void *out_dt, float *scratch);

/* ---- k_bn.cu: batch norm fused with residual add and activation ----
 * x, residual, y: [rows][c] with rows = n*hw. Parameters and statistics fp32. */
typedef struct nas_cuk_bn_args {
    int rows, c;
    const void *x, *residual; /* residual may be NULL */
    void *y;
    const float *gamma, *beta;
    float *running_mean, *running_var;
    float momentum, eps;
    int act;
    float *save_mean, *save_invstd;
    float *scratch; /* nas_cuk_bn_scratch_floats(rows, c) */
} nas_cuk_bn_args;
size_t nas_cuk_bn_scratch_floats(int rows, int c);
int nas_cuk_bn_fwd_train(cudaStream_t s, nas_cu_dtype dt, const nas_cuk_bn_args *a);
int nas_cuk_bn_fwd_eval(cudaStream_t s, nas_cu_dtype dt, const nas_cuk_bn_args *a);

typedef struct nas_cuk_bn_bwd_args {
    int rows, c;
    int frozen;
    const void *x, *y, *residual, *dy;
    const float *gamma, *beta;
    const float *save_mean, *save_invstd; /* batch stats, or running ones when frozen */
    int act;
    void *dx;
    int accumulate_dx;
    void *d_residual; /* may be NULL */
    int accumulate_dres;
    float *dgamma, *dbeta; /* may be NULL */
    float *scratch;        /* nas_cuk_bn_scratch_floats(rows, c) */
} nas_cuk_bn_bwd_args;
int nas_cuk_bn_bwd(cudaStream_t s, nas_cu_dtype dt, const nas_cuk_bn_bwd_args *a);

/* ---- k_loss.cu ----
 * Softmax cross-entropy with label smoothing, one block per image. stats
 * (4 floats: loss sum, top1, top5, count) are added to atomically; dlogits
 * (may be NULL) = (softmax - target) * grad_scale. A label outside
 * [0, classes) sets *bad_label to 1 + that image's index. */
int nas_cuk_softmax_xent(cudaStream_t s, nas_cu_dtype dt, int n, int classes, const void *logits,
                         const int32_t *labels, float smoothing, float grad_scale, void *dlogits,
                         float *stats, int *bad_label);

/* ---- k_sgd.cu ---- */
/* *found |= 1 if any of grad[0..count) * scale is inf or NaN. */
int nas_cuk_check_finite(cudaStream_t s, const float *grad, size_t count, int *found);
/* PyTorch SGD on fp32 master weights with the gradient multiplied by
 * grad_scale first (1/loss scale); momentum may be NULL when mu == 0.
 * When shadow != NULL, also writes the updated weights in dt there (the copy
 * cuDNN and cuBLAS read), saving a separate cast pass. */
int nas_cuk_sgd(cudaStream_t s, float *param, const float *grad, float *momentum, size_t count,
                float lr, float mu, float weight_decay, int nesterov, float grad_scale,
                nas_cu_dtype dt, void *shadow);

#ifdef __cplusplus
}
#endif

#endif
