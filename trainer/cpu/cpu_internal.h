/*
 * trainer/cpu/cpu_internal.h - shared state of the float32 CPU backend.
 *
 * Private to trainer/cpu: the buffer and plan structs, the backend context
 * (thread count and per-thread scratch) and the op entry points that
 * cpu_backend.c puts into the nas_backend table. Layout is NCHW everywhere;
 * parameters are stored in PyTorch order, so upload/download are memcpy.
 *
 * Threading: every parallel loop is an OpenMP region with an explicit
 * num_threads(ctx->threads); OpenBLAS is set to one thread at backend
 * creation so that the convolutions can run one single-threaded sgemm per
 * image on each thread (small gemms scale far better that way than through
 * OpenBLAS's own threads) and so that the two pools never oversubscribe.
 */
#ifndef NAS_TRAINER_CPU_INTERNAL_H
#define NAS_TRAINER_CPU_INTERNAL_H

#include <stdbool.h>
#include <math.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>

#ifdef _OPENMP
#include <omp.h>
#endif

#include "trainer/backend.h"

/* Elements below which a loop runs on the calling thread: waking the other
 * threads costs more than the work (and, on a loaded machine, a lot more). */
#define CPU_PAR_MIN 32768

struct nas_buf {
    nas_buf_kind kind;
    nas_shape shape;
    size_t count; /* elements */
    union {
        float *f;
        int32_t *i;
        void *raw;
    } data;
};

struct nas_conv_plan {
    nas_conv_desc d;
    int max_batch;
    bool pointwise;  /* 1x1, stride 1, pad 0, groups 1: the input is already the column matrix */
    bool depthwise;  /* groups == c_in == c_out */
    size_t col_elems; /* im2col scratch per thread (0 for pointwise/depthwise) */
    size_t w_elems;   /* weight elements */
};

typedef struct cpu_ctx {
    int threads;
    char device[160];
    /* Per-thread scratch: im2col columns and partial weight gradients. Grown
     * by conv_plan_new (never inside an op) to the largest plan's needs. */
    float **scratch;
    size_t scratch_elems;
} cpu_ctx;

static inline cpu_ctx *cpu_ctx_of(const nas_backend *be) { return (cpu_ctx *)be->self; }

/* Ensures every thread's scratch holds at least elems floats. */
int cpu_scratch_reserve(cpu_ctx *ctx, size_t elems, nas_err *err);

/* Row-major C[M][N] = alpha * op(A) . op(B) + beta * C with one OpenBLAS call,
 * or split over the columns of C across ctx->threads when `parallel`. */
void cpu_sgemm(const cpu_ctx *ctx, bool parallel, bool trans_a, bool trans_b, int m, int n,
               int k, float alpha, const float *a, int lda, const float *b, int ldb, float beta,
               float *c, int ldc);

/* ops (cpu_conv.c) */
int cpu_conv_plan_new(const nas_backend *be, const nas_conv_desc *desc, int max_batch,
                      nas_conv_plan **out, nas_err *err);
void cpu_conv_plan_free(const nas_backend *be, nas_conv_plan **plan);
int cpu_conv_fwd(const nas_backend *be, const nas_conv_plan *plan, int n, const nas_buf *x,
                 const nas_buf *w, const nas_buf *bias, nas_actfn act, nas_buf *y, nas_err *err);
int cpu_conv_bwd_data(const nas_backend *be, const nas_conv_plan *plan, int n, const nas_buf *dy,
                      const nas_buf *w, nas_buf *dx, bool accumulate, nas_err *err);
int cpu_conv_bwd_filter(const nas_backend *be, const nas_conv_plan *plan, int n, const nas_buf *x,
                        const nas_buf *dy, nas_buf *dw, nas_buf *dbias, nas_err *err);

/* ops (cpu_norm.c) */
int cpu_bn_fwd(const nas_backend *be, bool training, int n, int c, int hw, const nas_buf *x,
               const nas_buf *residual, const nas_buf *gamma, const nas_buf *beta,
               nas_buf *running_mean, nas_buf *running_var, float momentum, float eps,
               nas_actfn act, nas_buf *y, nas_buf *save_mean, nas_buf *save_invstd,
               nas_err *err);
int cpu_bn_bwd(const nas_backend *be, bool frozen, int n, int c, int hw, const nas_buf *x,
               const nas_buf *y, const nas_buf *residual, const nas_buf *dy, const nas_buf *gamma,
               const nas_buf *beta, const nas_buf *save_mean, const nas_buf *save_invstd,
               nas_actfn act, nas_buf *dx,
               bool accumulate_dx, nas_buf *d_residual, bool accumulate_dres, nas_buf *dgamma,
               nas_buf *dbeta, nas_err *err);

/* ops (cpu_elementwise.c) */
int cpu_act_fwd(const nas_backend *be, nas_actfn act, size_t count, const nas_buf *x, nas_buf *y,
                nas_err *err);
int cpu_act_bwd(const nas_backend *be, nas_actfn act, size_t count, const nas_buf *x,
                const nas_buf *y, const nas_buf *dy, nas_buf *dx, bool accumulate, nas_err *err);
int cpu_add(const nas_backend *be, size_t count, const nas_buf *a, const nas_buf *b, nas_buf *y,
            nas_err *err);
int cpu_se_scale_fwd(const nas_backend *be, int n, int c, int hw, const nas_buf *x,
                     const nas_buf *gate, nas_buf *y, nas_err *err);
int cpu_se_scale_bwd(const nas_backend *be, int n, int c, int hw, const nas_buf *x,
                     const nas_buf *gate, const nas_buf *dy, nas_buf *dx, bool accumulate,
                     nas_buf *dgate, nas_err *err);
int cpu_pool_fwd(const nas_backend *be, int n, int c, int hw, const nas_buf *x, nas_buf *y,
                 nas_err *err);
int cpu_pool_bwd(const nas_backend *be, int n, int c, int hw, const nas_buf *dy, nas_buf *dx,
                 bool accumulate, nas_err *err);
int cpu_dropout_fwd(const nas_backend *be, size_t count, float p, uint64_t seed, const nas_buf *x,
                    nas_buf *y, nas_buf *mask, nas_err *err);
int cpu_dropout_bwd(const nas_backend *be, size_t count, const nas_buf *mask, const nas_buf *dy,
                    nas_buf *dx, bool accumulate, nas_err *err);

/* ops (cpu_dense.c) */
int cpu_fc_fwd(const nas_backend *be, int n, int in, int out, const nas_buf *x, const nas_buf *w,
               const nas_buf *b, nas_buf *y, nas_err *err);
int cpu_fc_bwd(const nas_backend *be, int n, int in, int out, const nas_buf *x, const nas_buf *w,
               const nas_buf *dy, nas_buf *dx, bool accumulate, nas_buf *dw, nas_buf *db,
               nas_err *err);
int cpu_softmax_xent(const nas_backend *be, int n, int classes, const nas_buf *logits,
                     const nas_buf *labels, float smoothing, float grad_scale, nas_buf *dlogits,
                     nas_buf *stats, nas_err *err);
int cpu_sgd_step(const nas_backend *be, const nas_sgd_tensor *tensors, int n_tensors,
                 const nas_sgd_hparams *hp, bool *stepped, nas_err *err);

/* exp(x) without a library call, so that loops using it vectorise (swish and
 * sigmoid are on the hot path of GPUNet-style networks). Cephes' expf:
 * x = n ln2 + r with |r| <= ln2/2, a degree-6 polynomial for e^r, 2^n built
 * in the exponent bits; about 2 ulp over the clamped range, which covers
 * every float whose exp is a normal float. */
static inline float cpu_expf(float x)
{
    x = x > 88.3762626647949f ? 88.3762626647949f : x;
    x = x < -87.3365447504f ? -87.3365447504f : x;
    /* round(x / ln2) with the 1.5 * 2^23 trick (no rounding instruction needed) */
    float n = (x * 1.44269504088896341f + 12582912.0f) - 12582912.0f;
    float r = x - n * 0.693359375f - n * -2.12194440e-4f;
    float p = 1.9875691500e-4f;
    p = p * r + 1.3981999507e-3f;
    p = p * r + 8.3334519073e-3f;
    p = p * r + 4.1665795894e-2f;
    p = p * r + 1.6666665459e-1f;
    p = p * r + 5.0000001201e-1f;
    float e_r = p * r * r + r + 1.0f;
    int32_t bits = ((int32_t)n + 127) << 23;
    float two_n;
    memcpy(&two_n, &bits, sizeof two_n);
    return e_r * two_n;
}

/* Scalar activation helpers shared by the kernels. */
static inline float cpu_sigmoidf(float v) { return 1.0f / (1.0f + cpu_expf(-v)); }

#endif
