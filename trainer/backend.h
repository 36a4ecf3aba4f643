/*
 * trainer/backend.h - the compute backend interface (a table of function
 * pointers chosen at run time, in the spirit of ggml's backend interface).
 *
 * The graph (trainer/graph.c) never touches tensor memory: it owns buffers
 * created by a backend and calls the backend's ops on them. Two backends
 * implement this table: cpu/ (float32, NCHW, the reference every other backend
 * is tested against) and cuda/ (cuDNN + cuBLAS, NHWC, fp16/bf16 activations
 * with fp32 master weights). Layout and precision are the backend's business:
 *
 *   - Every buffer is created with a kind and a logical shape (n, c, h, w).
 *     The host side of upload/download is ALWAYS float32 (int32 for labels)
 *     in logical NCHW order, and for parameters in PyTorch's order (conv
 *     weight [c_out][c_in/groups][k][k], fc weight [out][in]). A backend may
 *     store ACT buffers as NHWC and/or half precision and PARAM buffers in
 *     its own layout; it converts in upload/download.
 *   - Elementwise ops over PARAM buffers (sgd_step, fill, copy) see the
 *     backend's own layout on both sides, so they are layout-agnostic.
 *   - Ops are asynchronous on a device backend: a download or sync waits.
 *
 * Conventions for every op below:
 *   - returns 0 or a negative NAS_E* code and fills err with a sentence that
 *     names the op and the failing call; a backend may report an asynchronous
 *     failure at the next op or at sync.
 *   - `n` is the actual batch of this call, 1 <= n <= the batch the buffers
 *     were created for; ops touch only the first n images.
 *   - tensors are described by (n, c, hw) where spatial layout does not
 *     matter (bn, pool, se) and by a conv plan where it does.
 *   - `accumulate` false overwrites the output, true adds into it
 *     (dst += result). The graph uses it to sum the gradients of a tensor
 *     consumed twice (residual blocks) without an extra add.
 *   - Outputs never alias inputs unless an op says so.
 */
#ifndef NAS_TRAINER_BACKEND_H
#define NAS_TRAINER_BACKEND_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "common/error.h"

typedef struct nas_backend nas_backend;
typedef struct nas_buf nas_buf;             /* opaque backend memory */
typedef struct nas_conv_plan nas_conv_plan; /* opaque per-conv precomputation */

/* Logical tensor shape. Parameters use it as [n=c_out][c=c_in/groups][h=k][w=k]
 * for conv weights, [n=out][c=in][1][1] for fc weights, [n=count][1][1][1]
 * for vectors. */
typedef struct nas_shape {
    int n, c, h, w;
} nas_shape;

static inline size_t nas_shape_count(nas_shape s)
{
    return (size_t)s.n * (size_t)s.c * (size_t)s.h * (size_t)s.w;
}

typedef enum {
    NAS_BUF_ACT = 0, /* activations and their gradients, shape (max_batch, c, h, w);
                      * the backend picks layout and precision */
    NAS_BUF_PARAM,   /* float32 parameters, their gradients, optimiser state and BN
                      * running statistics (always fp32, the "master" copy) */
    NAS_BUF_F32,     /* plain float32 vector (loss statistics, dropout mask, BN saved
                      * mean/invstd); host order == device order */
    NAS_BUF_I32      /* plain int32 vector (class labels) */
} nas_buf_kind;

/* Activation functions. SIGMOID is used by the SE gate only. */
typedef enum {
    NAS_ACTFN_NONE = 0,
    NAS_ACTFN_RELU,
    NAS_ACTFN_SWISH, /* x * sigmoid(x), PyTorch's SiLU */
    NAS_ACTFN_SIGMOID
} nas_actfn;

/* One convolution, fixed at graph-build time. Square kernel, symmetric zero
 * padding `pad` on every side (0 allowed: GPUNet's stride-2 Fused-IRB quirk),
 * h_out = (h_in + 2*pad - kernel) / stride + 1 (floor). groups divides c_in and
 * c_out; groups == c_in == c_out is depthwise. */
typedef struct nas_conv_desc {
    int c_in, c_out, groups;
    int kernel, stride, pad;
    int h_in, w_in, h_out, w_out;
} nas_conv_desc;

/* Accumulated loss statistics; the stats buffer of softmax_xent is an
 * NAS_BUF_F32 buffer of NAS_LOSS_STATS floats laid out like this struct. */
enum { NAS_LOSS_STAT_LOSS_SUM = 0, NAS_LOSS_STAT_TOP1, NAS_LOSS_STAT_TOP5, NAS_LOSS_STAT_COUNT,
       NAS_LOSS_STATS };

/* One tensor updated by sgd_step. momentum may be NULL when momentum == 0. */
typedef struct nas_sgd_tensor {
    nas_buf *param;
    const nas_buf *grad;
    nas_buf *momentum;
    size_t count;
    bool decay; /* weight decay applies (conv/fc weights; not BN or biases) */
} nas_sgd_tensor;

typedef struct nas_sgd_hparams {
    float lr, momentum, weight_decay;
    bool nesterov;
} nas_sgd_hparams;

struct nas_backend {
    const char *name; /* "cpu", "cuda" */
    void *self;       /* the backend's state, owned by it */

    /* Frees the backend and its state; called by nas_backend_free. Every buffer
     * and plan must have been freed before. */
    void (*destroy)(nas_backend *be);

    /* Human-readable device name for results, e.g. "cpu: Intel Xeon x 2 threads". */
    const char *(*device_name)(const nas_backend *be);

    /* ---- memory ---- */
    int (*buf_new)(const nas_backend *be, nas_buf_kind kind, nas_shape shape, nas_buf **out,
                   nas_err *err);
    /* Frees *buf and sets it to NULL; NULL is a no-op. */
    void (*buf_free)(const nas_backend *be, nas_buf **buf);
    /* Copies `count` elements (float or int32 by the buffer's kind) from host
     * memory in logical order into the start of dst. count <= nas_shape_count of
     * the buffer and, for ACT buffers, a multiple of c*h*w. */
    int (*upload)(const nas_backend *be, nas_buf *dst, const void *src, size_t count,
                  nas_err *err);
    /* The reverse of upload; waits for pending work on dst. */
    int (*download)(const nas_backend *be, const nas_buf *src, void *dst, size_t count,
                    nas_err *err);
    /* Sets the first count elements of a float buffer to value. */
    int (*fill)(const nas_backend *be, nas_buf *dst, float value, size_t count, nas_err *err);
    /* dst = src for the first count elements (same kind and shape). */
    int (*copy)(const nas_backend *be, nas_buf *dst, const nas_buf *src, size_t count,
                nas_err *err);

    /* ---- convolution ---- */
    /* Builds the backend's plan for one conv (algorithm choice, descriptors,
     * workspace size) for batches up to max_batch. */
    int (*conv_plan_new)(const nas_backend *be, const nas_conv_desc *desc, int max_batch,
                         nas_conv_plan **out, nas_err *err);
    void (*conv_plan_free)(const nas_backend *be, nas_conv_plan **plan);
    /* y = act(conv(x, w) + bias); bias (c_out floats, PARAM) may be NULL; act is
     * NONE in training (BN follows) and RELU/SWISH when BN was folded. */
    int (*conv_fwd)(const nas_backend *be, const nas_conv_plan *plan, int n, const nas_buf *x,
                    const nas_buf *w, const nas_buf *bias, nas_actfn act, nas_buf *y,
                    nas_err *err);
    /* dx (+)= conv_transpose(dy, w). */
    int (*conv_bwd_data)(const nas_backend *be, const nas_conv_plan *plan, int n,
                         const nas_buf *dy, const nas_buf *w, nas_buf *dx, bool accumulate,
                         nas_err *err);
    /* dw = correlation of x and dy over the batch (overwrites); dbias (may be
     * NULL) = sum of dy over n, h, w. */
    int (*conv_bwd_filter)(const nas_backend *be, const nas_conv_plan *plan, int n,
                           const nas_buf *x, const nas_buf *dy, nas_buf *dw, nas_buf *dbias,
                           nas_err *err);

    /* ---- batch norm (+ optional residual add + activation, fused) ----
     * y = act(gamma * (x - mean) / sqrt(var + eps) + beta [+ residual]).
     * Training: mean/var are the batch statistics over (n, h, w) (biased var),
     * saved as mean and 1/sqrt(var+eps) in save_mean/save_invstd (F32, c floats),
     * and running_mean/var are updated PyTorch's way: r = (1-m)*r + m*stat
     * with the unbiased variance (count/(count-1)) for running_var.
     * Eval: mean/var are running_mean/var; if save_mean/save_invstd are not
     * NULL they receive running_mean and 1/sqrt(running_var+eps) (what a frozen
     * BN's backward needs). residual may be NULL. act: NONE, RELU or SWISH. */
    int (*bn_fwd)(const nas_backend *be, bool training, int n, int c, int hw, const nas_buf *x,
                  const nas_buf *residual, const nas_buf *gamma, const nas_buf *beta,
                  nas_buf *running_mean, nas_buf *running_var, float momentum, float eps,
                  nas_actfn act, nas_buf *y, nas_buf *save_mean, nas_buf *save_invstd,
                  nas_err *err);
    /* Backward of bn_fwd with the same arguments: given x, y (its output),
     * residual (for SWISH the pre-activation is recomputed from x, the saved
     * statistics and residual) and dy, computes
     *   g = dy * act'(pre)           (for RELU, pre > 0 is read from y > 0)
     *   d_residual (+)= g            (if d_residual != NULL)
     *   dgamma = sum g*xhat, dbeta = sum g (overwrite; may be NULL), and
     *   dx (+)= BN'(g) (dx may be NULL when nothing below needs it).
     * frozen == false: the forward ran in training mode (batch statistics in
     * save_*), dx includes the terms through the batch mean and variance.
     * frozen == true: the forward ran in eval mode with save_* filled, the
     * statistics are constants and dx = g * gamma * save_invstd. */
    int (*bn_bwd)(const nas_backend *be, bool frozen, int n, int c, int hw, const nas_buf *x,
                  const nas_buf *y, const nas_buf *residual, const nas_buf *dy,
                  const nas_buf *gamma, const nas_buf *beta, const nas_buf *save_mean,
                  const nas_buf *save_invstd, nas_actfn act, nas_buf *dx, bool accumulate_dx,
                  nas_buf *d_residual, bool accumulate_dres, nas_buf *dgamma, nas_buf *dbeta,
                  nas_err *err);

    /* ---- elementwise ---- */
    /* y = act(x) over count elements (y may alias x). */
    int (*act_fwd)(const nas_backend *be, nas_actfn act, size_t count, const nas_buf *x,
                   nas_buf *y, nas_err *err);
    /* dx (+)= dy * act'(x); y is act's output (SIGMOID uses y, RELU uses x). */
    int (*act_bwd)(const nas_backend *be, nas_actfn act, size_t count, const nas_buf *x,
                   const nas_buf *y, const nas_buf *dy, nas_buf *dx, bool accumulate,
                   nas_err *err);
    /* y = a + b (y may alias a). */
    int (*add)(const nas_backend *be, size_t count, const nas_buf *a, const nas_buf *b,
               nas_buf *y, nas_err *err);

    /* ---- squeeze-excite scaling: y[n,c,:] = x[n,c,:] * gate[n,c] ----
     * gate is an ACT buffer of shape (n, c, 1, 1). */
    int (*se_scale_fwd)(const nas_backend *be, int n, int c, int hw, const nas_buf *x,
                        const nas_buf *gate, nas_buf *y, nas_err *err);
    /* dx (+)= dy * gate; dgate = sum over hw of dy * x (overwrites). */
    int (*se_scale_bwd)(const nas_backend *be, int n, int c, int hw, const nas_buf *x,
                        const nas_buf *gate, const nas_buf *dy, nas_buf *dx, bool accumulate,
                        nas_buf *dgate, nas_err *err);

    /* ---- global average pool: (n, c, hw) -> (n, c, 1, 1) ---- */
    int (*pool_fwd)(const nas_backend *be, int n, int c, int hw, const nas_buf *x, nas_buf *y,
                    nas_err *err);
    /* dx[n,c,:] (+)= dy[n,c] / hw. */
    int (*pool_bwd)(const nas_backend *be, int n, int c, int hw, const nas_buf *dy, nas_buf *dx,
                    bool accumulate, nas_err *err);

    /* ---- dropout (inverted: kept values scaled by 1/(1-p)) ----
     * mask: F32 buffer of count floats holding 0 or 1/(1-p); element i's value
     * is nas_dropout_keep_scale(seed, i, p), so backends agree given a seed. */
    int (*dropout_fwd)(const nas_backend *be, size_t count, float p, uint64_t seed,
                       const nas_buf *x, nas_buf *y, nas_buf *mask, nas_err *err);
    /* dx (+)= dy * mask. */
    int (*dropout_bwd)(const nas_backend *be, size_t count, const nas_buf *mask,
                       const nas_buf *dy, nas_buf *dx, bool accumulate, nas_err *err);

    /* ---- fully connected: y[n][out] = x[n][in] . w[out][in] + b[out] ----
     * x and y are ACT buffers of shape (n, in, 1, 1) / (n, out, 1, 1); b may be
     * NULL. Used by the classifier and by the SE 1x1 convs (same weights). */
    int (*fc_fwd)(const nas_backend *be, int n, int in, int out, const nas_buf *x,
                  const nas_buf *w, const nas_buf *b, nas_buf *y, nas_err *err);
    /* dx (+)= dy . w (dx may be NULL: first layer); dw = dy^T . x and db = sum
     * of dy over n (overwrite; either may be NULL for frozen weights). */
    int (*fc_bwd)(const nas_backend *be, int n, int in, int out, const nas_buf *x,
                  const nas_buf *w, const nas_buf *dy, nas_buf *dx, bool accumulate,
                  nas_buf *dw, nas_buf *db, nas_err *err);

    /* ---- softmax cross-entropy with label smoothing ----
     * Target distribution: (1 - s) on the label + s / classes on every class
     * (PyTorch's CrossEntropyLoss(label_smoothing=s)). For each image adds to
     * stats: LOSS_SUM += its loss, TOP1/TOP5 += 1 if the label is among the 1/5
     * largest logits (ties count against), COUNT += 1. If dlogits != NULL,
     * dlogits = (softmax - target) * grad_scale (grad_scale = 1/n for the mean
     * loss). labels: I32 buffer; a label outside [0, classes) is an error. */
    int (*softmax_xent)(const nas_backend *be, int n, int classes, const nas_buf *logits,
                        const nas_buf *labels, float smoothing, float grad_scale,
                        nas_buf *dlogits, nas_buf *stats, nas_err *err);

    /* ---- optimiser ----
     * For each tensor (PyTorch SGD, dampening 0):
     *   g = grad + (decay ? weight_decay * param : 0)
     *   m = momentum * m + g
     *   g = nesterov ? g + momentum * m : m
     *   param -= lr * g
     * Momentum buffers start at zero (which equals PyTorch's first-step copy).
     * A mixed-precision backend may skip the step when its loss scaler found an
     * overflow; *stepped (may be NULL) says whether the step was taken. */
    int (*sgd_step)(const nas_backend *be, const nas_sgd_tensor *tensors, int n_tensors,
                    const nas_sgd_hparams *hp, bool *stepped, nas_err *err);

    /* Waits for all queued work; reports any asynchronous failure. */
    int (*sync)(const nas_backend *be, nas_err *err);
};

/* The float32 CPU reference backend (trainer/cpu). threads <= 0 uses the
 * number of online CPUs. It parallelises with OpenMP (num_threads(threads) on
 * every loop) and sets OpenBLAS to one thread for the whole process, because
 * it runs one sgemm per image and thread. On a machine shared with other jobs
 * run it with OMP_WAIT_POLICY=passive in the environment: spinning workers
 * that lose their core stall every parallel loop (a 4x wall-time difference
 * was measured on a loaded 2-core machine; see bench/RESULTS.md). */
int nas_backend_cpu_new(int threads, nas_backend **out, nas_err *err);

/* Frees a backend made by any nas_backend_*_new; NULL-safe, sets *be = NULL. */
void nas_backend_free(nas_backend **be);

/* Dropout mask value of element `index` for a seed: 0 with probability p,
 * else 1/(1-p). Deterministic and shared by all backends: u = top 24 bits of
 * the splitmix64 finaliser of (seed ^ index * 0x9E3779B97F4A7C15) +
 * 0x9E3779B97F4A7C15, as a float in [0,1); dropped iff u < p. */
float nas_dropout_keep_scale(uint64_t seed, uint64_t index, float p);

#endif
