/*
 * trainer/cuda/cuda_conv.c - convolutions through cuDNN 9's legacy
 * cudnnConvolution* API and fully connected layers through cublasGemmEx.
 *
 * A plan holds the filter and convolution descriptors (NHWC data, KRSC
 * filters, fp32 accumulation, grouped for depthwise); tensor descriptors are
 * re-set per call for the batch n, which is cheap host work. The algorithm
 * for each (shape, batch, precision, direction) is chosen once, by
 * cudnnFind* (measured) or cuDNN's heuristic, and kept in the algo cache;
 * one workspace buffer grows to the largest choice. fp32 runs with
 * CUDNN_FMA_MATH so that no TF32 sneaks in and parity with the CPU holds.
 *
 * In fp16/bf16 cuDNN needs the weight gradient in the data type, so it goes
 * to a scratch buffer and one cast writes the fp32 gradient; cuBLAS writes
 * fp32 fc gradients directly (mixed-type GemmEx).
 */
#include "trainer/cuda/cuda_internal.h"

#include <stdlib.h>

#include "trainer/cuda/status.h"

static const float one = 1.0f, zero = 0.0f;

static cudnnMathType_t wanted_math(const cuda_ctx *ctx) {
    return ctx->dt == NAS_CU_F32 ? CUDNN_FMA_MATH : CUDNN_TENSOR_OP_MATH;
}

int cuda_conv_plan_new(const nas_backend *be, const nas_conv_desc *desc, int max_batch,
                       nas_conv_plan **out, nas_err *err) {
    cuda_ctx *ctx = cuda_ctx_of(be);
    *out = NULL;
    const nas_conv_desc *d = desc;
    if (d->groups <= 0 || d->c_in % d->groups || d->c_out % d->groups || d->kernel <= 0 ||
        d->stride <= 0 || d->pad < 0 || max_batch <= 0)
        return nas_err_set(err, NAS_EINVAL,
                           "cuda conv plan: invalid convolution (c_in %d, c_out %d, groups %d, "
                           "kernel %d, stride %d, pad %d, batch %d)",
                           d->c_in, d->c_out, d->groups, d->kernel, d->stride, d->pad, max_batch);
    nas_conv_plan *p = calloc(1, sizeof *p);
    if (!p) return nas_err_set(err, NAS_ENOMEM, "cuda conv plan: out of host memory");
    p->d = *desc;
    p->max_batch = max_batch;
    int rc = 0;
    NAS_CUDNN_TRY_GOTO(cudnnCreateFilterDescriptor(&p->w_desc), err, rc, fail);
    NAS_CUDNN_TRY_GOTO(cudnnCreateConvolutionDescriptor(&p->conv_desc), err, rc, fail);
    NAS_CUDNN_TRY_GOTO(cudnnCreateTensorDescriptor(&p->x_desc), err, rc, fail);
    NAS_CUDNN_TRY_GOTO(cudnnCreateTensorDescriptor(&p->y_desc), err, rc, fail);
    NAS_CUDNN_TRY_GOTO(cudnnSetFilter4dDescriptor(p->w_desc, ctx->cudnn_dt, CUDNN_TENSOR_NHWC,
                                                  d->c_out, d->c_in / d->groups, d->kernel,
                                                  d->kernel),
                       err, rc, fail);
    NAS_CUDNN_TRY_GOTO(cudnnSetConvolution2dDescriptor(p->conv_desc, d->pad, d->pad, d->stride,
                                                       d->stride, 1, 1, CUDNN_CROSS_CORRELATION,
                                                       CUDNN_DATA_FLOAT),
                       err, rc, fail);
    NAS_CUDNN_TRY_GOTO(cudnnSetConvolutionGroupCount(p->conv_desc, d->groups), err, rc, fail);
    NAS_CUDNN_TRY_GOTO(cudnnSetConvolutionMathType(p->conv_desc, wanted_math(ctx)), err, rc, fail);
    /* The graph's output size must be cuDNN's. */
    NAS_CUDNN_TRY_GOTO(cudnnSetTensor4dDescriptor(p->x_desc, CUDNN_TENSOR_NHWC, ctx->cudnn_dt,
                                                  max_batch, d->c_in, d->h_in, d->w_in),
                       err, rc, fail);
    int on, oc, oh, ow;
    NAS_CUDNN_TRY_GOTO(cudnnGetConvolution2dForwardOutputDim(p->conv_desc, p->x_desc, p->w_desc,
                                                             &on, &oc, &oh, &ow),
                       err, rc, fail);
    if (oc != d->c_out || oh != d->h_out || ow != d->w_out) {
        rc = nas_err_set(err, NAS_EINVAL,
                         "cuda conv plan: output %dx%dx%d expected, cuDNN computes %dx%dx%d",
                         d->c_out, d->h_out, d->w_out, oc, oh, ow);
        goto fail;
    }
    *out = p;
    return 0;
fail:
    cuda_conv_plan_free(be, &p);
    return rc;
}

void cuda_conv_plan_free(const nas_backend *be, nas_conv_plan **plan) {
    (void)be;
    if (!plan || !*plan) return;
    nas_conv_plan *p = *plan;
    if (p->w_desc) cudnnDestroyFilterDescriptor(p->w_desc);
    if (p->conv_desc) cudnnDestroyConvolutionDescriptor(p->conv_desc);
    if (p->x_desc) cudnnDestroyTensorDescriptor(p->x_desc);
    if (p->y_desc) cudnnDestroyTensorDescriptor(p->y_desc);
    free(p);
    *plan = NULL;
}

static int set_batch(const cuda_ctx *ctx, const nas_conv_plan *p, int n, nas_err *err) {
    const nas_conv_desc *d = &p->d;
    if (n < 1 || n > p->max_batch)
        return nas_err_set(err, NAS_EINVAL, "cuda conv: batch %d outside 1..%d", n, p->max_batch);
    NAS_CUDNN_TRY(cudnnSetTensor4dDescriptor(p->x_desc, CUDNN_TENSOR_NHWC, ctx->cudnn_dt, n,
                                             d->c_in, d->h_in, d->w_in),
                  err);
    NAS_CUDNN_TRY(cudnnSetTensor4dDescriptor(p->y_desc, CUDNN_TENSOR_NHWC, ctx->cudnn_dt, n,
                                             d->c_out, d->h_out, d->w_out),
                  err);
    return 0;
}

/* One measured or suggested algorithm, whatever the direction. */
typedef struct candidate {
    int algo;
    cudnnStatus_t status;
    size_t memory;
    float time;
    cudnnMathType_t math;
} candidate;

enum { MAX_CANDIDATES = 16 };

static int query_candidates(cuda_ctx *ctx, const nas_conv_plan *p, nas_conv_dir dir, bool measure,
                            candidate *out, int *count, nas_err *err) {
    int returned = 0;
    *count = 0;
    if (dir == NAS_CONV_FWD) {
        cudnnConvolutionFwdAlgoPerf_t perf[MAX_CANDIDATES];
        if (measure)
            NAS_CUDNN_TRY(cudnnFindConvolutionForwardAlgorithm(ctx->cudnn, p->x_desc, p->w_desc,
                                                               p->conv_desc, p->y_desc,
                                                               MAX_CANDIDATES, &returned, perf),
                          err);
        else
            NAS_CUDNN_TRY(cudnnGetConvolutionForwardAlgorithm_v7(ctx->cudnn, p->x_desc, p->w_desc,
                                                                 p->conv_desc, p->y_desc,
                                                                 MAX_CANDIDATES, &returned, perf),
                          err);
        for (int i = 0; i < returned; i++)
            out[i] = (candidate){(int)perf[i].algo, perf[i].status, perf[i].memory, perf[i].time,
                                 perf[i].mathType};
    } else if (dir == NAS_CONV_BWD_DATA) {
        cudnnConvolutionBwdDataAlgoPerf_t perf[MAX_CANDIDATES];
        if (measure)
            NAS_CUDNN_TRY(cudnnFindConvolutionBackwardDataAlgorithm(ctx->cudnn, p->w_desc,
                                                                    p->y_desc, p->conv_desc,
                                                                    p->x_desc, MAX_CANDIDATES,
                                                                    &returned, perf),
                          err);
        else
            NAS_CUDNN_TRY(cudnnGetConvolutionBackwardDataAlgorithm_v7(ctx->cudnn, p->w_desc,
                                                                      p->y_desc, p->conv_desc,
                                                                      p->x_desc, MAX_CANDIDATES,
                                                                      &returned, perf),
                          err);
        for (int i = 0; i < returned; i++)
            out[i] = (candidate){(int)perf[i].algo, perf[i].status, perf[i].memory, perf[i].time,
                                 perf[i].mathType};
    } else {
        cudnnConvolutionBwdFilterAlgoPerf_t perf[MAX_CANDIDATES];
        if (measure)
            NAS_CUDNN_TRY(cudnnFindConvolutionBackwardFilterAlgorithm(ctx->cudnn, p->x_desc,
                                                                      p->y_desc, p->conv_desc,
                                                                      p->w_desc, MAX_CANDIDATES,
                                                                      &returned, perf),
                          err);
        else
            NAS_CUDNN_TRY(cudnnGetConvolutionBackwardFilterAlgorithm_v7(ctx->cudnn, p->x_desc,
                                                                        p->y_desc, p->conv_desc,
                                                                        p->w_desc, MAX_CANDIDATES,
                                                                        &returned, perf),
                          err);
        for (int i = 0; i < returned; i++)
            out[i] = (candidate){(int)perf[i].algo, perf[i].status, perf[i].memory, perf[i].time,
                                 perf[i].mathType};
    }
    *count = returned;
    return 0;
}

/* The algorithm for this plan at batch n in one direction: from the cache,
 * else chosen now (outside graph capture), with the workspace grown to fit. */
static int choose_algo(cuda_ctx *ctx, const nas_conv_plan *p, int n, nas_conv_dir dir,
                       nas_conv_algo *out, nas_err *err) {
    const nas_conv_desc *d = &p->d;
    nas_conv_key key = {.batch = n, .c_in = d->c_in, .height = d->h_in, .width = d->w_in,
                        .c_out = d->c_out, .kernel_h = d->kernel, .kernel_w = d->kernel,
                        .stride = d->stride, .pad = d->pad, .groups = d->groups,
                        .dtype = (int)ctx->cudnn_dt, .dir = dir};
    if (nas_conv_algo_cache_get(ctx->algos, &key, out)) return 0;
    if (ctx->capturing)
        return nas_err_set(err, NAS_ESTATE,
                           "cuda conv: no algorithm chosen yet for this shape during graph "
                           "capture; run the pass once before capturing it");
    /* cudnnFind runs the convolutions synchronously with its own buffers. */
    NAS_CUDA_TRY(cudaStreamSynchronize(ctx->stream), err);
    candidate cands[MAX_CANDIDATES];
    int count = 0;
    bool measured = ctx->opt.benchmark_algos;
    int rc = query_candidates(ctx, p, dir, measured, cands, &count, err);
    if (rc < 0 && measured) {
        /* cudnnFind needs memory for its trial runs; cuDNN's heuristic does
         * not, so a shape that cannot be benchmarked can still run. */
        (void)cudaGetLastError();
        measured = false;
        rc = query_candidates(ctx, p, dir, false, cands, &count, err);
    }
    if (rc < 0) return rc;
    int pick = -1;
    for (int pass = 0; pass < 2 && pick < 0; pass++) {
        for (int i = 0; i < count && pick < 0; i++) {
            if (cands[i].status != CUDNN_STATUS_SUCCESS) continue;
            if (cands[i].memory > ctx->opt.workspace_limit) continue;
            /* fp32 prefers candidates reported as plain FMA math; since the
             * descriptor asks for FMA only, any other one found still runs
             * FMA-only below (second pass). */
            if (pass == 0 && ctx->dt == NAS_CU_F32 && cands[i].math != CUDNN_FMA_MATH &&
                cands[i].math != CUDNN_DEFAULT_MATH)
                continue;
            pick = i;
        }
    }
    if (pick < 0)
        return nas_err_set(err, NAS_EUNSUPPORTED,
                           "cuda conv: cuDNN offers no %s algorithm for c_in %d, c_out %d, "
                           "kernel %d, stride %d, groups %d at %dx%d, batch %d, within a %zu-byte "
                           "workspace",
                           dir == NAS_CONV_FWD ? "forward"
                           : dir == NAS_CONV_BWD_DATA ? "backward-data" : "backward-filter",
                           d->c_in, d->c_out, d->kernel, d->stride, d->groups, d->h_in, d->w_in, n,
                           ctx->opt.workspace_limit);
    *out = (nas_conv_algo){.algo = cands[pick].algo, .workspace_bytes = cands[pick].memory,
                           /* fp32 always runs FMA-only, whatever cuDNN reported */
                           .math_type = ctx->dt == NAS_CU_F32 ? (int)CUDNN_FMA_MATH
                                                              : (int)cands[pick].math,
                           .time_ms = measured ? cands[pick].time : 0.0f};
    rc = cuda_dev_reserve(ctx, &ctx->workspace, &ctx->workspace_bytes, out->workspace_bytes,
                          "cuDNN workspace", err);
    if (rc < 0) return rc;
    return nas_conv_algo_cache_put(ctx->algos, &key, out, err);
}

static int prepare(cuda_ctx *ctx, const nas_conv_plan *p, int n, nas_conv_dir dir,
                   nas_conv_algo *algo, nas_err *err) {
    int rc = set_batch(ctx, p, n, err);
    if (rc < 0) return rc;
    rc = choose_algo(ctx, p, n, dir, algo, err);
    if (rc < 0) return rc;
    NAS_CUDNN_TRY(cudnnSetConvolutionMathType(p->conv_desc, (cudnnMathType_t)algo->math_type), err);
    return 0;
}

int cuda_conv_fwd(const nas_backend *be, const nas_conv_plan *plan, int n, const nas_buf *x,
                  const nas_buf *w, const nas_buf *bias, nas_actfn act, nas_buf *y, nas_err *err) {
    cuda_ctx *ctx = cuda_ctx_of(be);
    nas_conv_algo algo;
    int rc = prepare(ctx, plan, n, NAS_CONV_FWD, &algo, err);
    if (rc < 0) return rc;
    const void *wp;
    rc = cuda_weight_ptr(ctx, (nas_buf *)w, &wp, err);
    if (rc < 0) return rc;
    NAS_CUDNN_TRY(cudnnConvolutionForward(ctx->cudnn, &one, plan->x_desc, x->data, plan->w_desc, wp,
                                          plan->conv_desc, (cudnnConvolutionFwdAlgo_t)algo.algo,
                                          ctx->workspace, algo.workspace_bytes, &zero, plan->y_desc,
                                          y->data),
                  err);
    if (bias || act != NAS_ACTFN_NONE) {
        /* Folded BN at inference: bias + activation in one pass over y. */
        size_t count = (size_t)n * plan->d.c_out * plan->d.h_out * plan->d.w_out;
        NAS_CUDA_TRY(nas_cuk_act_fwd(ctx->stream, ctx->dt, (int)act, count, plan->d.c_out,
                                     bias ? (const float *)bias->data : NULL, y->data, y->data),
                     err);
    }
    return 0;
}

int cuda_conv_bwd_data(const nas_backend *be, const nas_conv_plan *plan, int n, const nas_buf *dy,
                       const nas_buf *w, nas_buf *dx, bool accumulate, nas_err *err) {
    cuda_ctx *ctx = cuda_ctx_of(be);
    nas_conv_algo algo;
    int rc = prepare(ctx, plan, n, NAS_CONV_BWD_DATA, &algo, err);
    if (rc < 0) return rc;
    const void *wp;
    rc = cuda_weight_ptr(ctx, (nas_buf *)w, &wp, err);
    if (rc < 0) return rc;
    NAS_CUDNN_TRY(cudnnConvolutionBackwardData(ctx->cudnn, &one, plan->w_desc, wp, plan->y_desc,
                                               dy->data, plan->conv_desc,
                                               (cudnnConvolutionBwdDataAlgo_t)algo.algo,
                                               ctx->workspace, algo.workspace_bytes,
                                               accumulate ? &one : &zero, plan->x_desc, dx->data),
                  err);
    return 0;
}

int cuda_conv_bwd_filter(const nas_backend *be, const nas_conv_plan *plan, int n,
                         const nas_buf *x, const nas_buf *dy, nas_buf *dw, nas_buf *dbias,
                         nas_err *err) {
    cuda_ctx *ctx = cuda_ctx_of(be);
    const nas_conv_desc *d = &plan->d;
    nas_conv_algo algo;
    int rc = prepare(ctx, plan, n, NAS_CONV_BWD_FILTER, &algo, err);
    if (rc < 0) return rc;
    size_t w_count = (size_t)d->c_out * (d->c_in / d->groups) * d->kernel * d->kernel;
    void *target = dw->data;
    if (ctx->dt != NAS_CU_F32) {
        rc = cuda_dev_reserve(ctx, &ctx->dw_scratch, &ctx->dw_scratch_bytes, w_count * 2,
                              "weight-gradient scratch", err);
        if (rc < 0) return rc;
        target = ctx->dw_scratch;
    }
    NAS_CUDNN_TRY(cudnnConvolutionBackwardFilter(ctx->cudnn, &one, plan->x_desc, x->data,
                                                 plan->y_desc, dy->data, plan->conv_desc,
                                                 (cudnnConvolutionBwdFilterAlgo_t)algo.algo,
                                                 ctx->workspace, algo.workspace_bytes, &zero,
                                                 plan->w_desc, target),
                  err);
    if (target != dw->data)
        NAS_CUDA_TRY(nas_cuk_cast_to_f32(ctx->stream, ctx->dt, target, (float *)dw->data, w_count,
                                         1.0f),
                     err);
    dw->version++;
    if (dbias) {
        int rows = n * d->h_out * d->w_out;
        rc = cuda_scratch_reserve(ctx, nas_cuk_reduce_scratch_floats(1, rows, d->c_out), err);
        if (rc < 0) return rc;
        NAS_CUDA_TRY(nas_cuk_column_sum(ctx->stream, ctx->dt, NAS_CUK_SUM_X, 1, rows, d->c_out,
                                        dy->data, NULL, 1.0f, (float *)dbias->data, NULL,
                                        ctx->scratch),
                     err);
        dbias->version++;
    }
    return 0;
}

/* Row-major y[n][out] = x[n][in] . w[out][in]^T is, in cuBLAS's column-major
 * view, Y (out x n) = W^T (out x in) . X (in x n) with W stored in x out. */
int cuda_fc_fwd(const nas_backend *be, int n, int in, int out, const nas_buf *x, const nas_buf *w,
                const nas_buf *b, nas_buf *y, nas_err *err) {
    cuda_ctx *ctx = cuda_ctx_of(be);
    if (n <= 0 || in <= 0 || out <= 0) return 0;
    const void *wp;
    int rc = cuda_weight_ptr(ctx, (nas_buf *)w, &wp, err);
    if (rc < 0) return rc;
    NAS_CUBLAS_TRY(cublasGemmEx(ctx->cublas, CUBLAS_OP_T, CUBLAS_OP_N, out, n, in, &one, wp,
                                ctx->blas_dt, in, x->data, ctx->blas_dt, in, &zero, y->data,
                                ctx->blas_dt, out, CUBLAS_COMPUTE_32F, CUBLAS_GEMM_DEFAULT),
                   err);
    if (b)
        NAS_CUDA_TRY(nas_cuk_act_fwd(ctx->stream, ctx->dt, NAS_CUK_ACT_NONE, (size_t)n * out, out,
                                     (const float *)b->data, y->data, y->data),
                     err);
    return 0;
}

int cuda_fc_bwd(const nas_backend *be, int n, int in, int out, const nas_buf *x, const nas_buf *w,
                const nas_buf *dy, nas_buf *dx, bool accumulate, nas_buf *dw, nas_buf *db,
                nas_err *err) {
    cuda_ctx *ctx = cuda_ctx_of(be);
    if (n <= 0 || in <= 0 || out <= 0) return 0;
    if (dx) {
        /* dX (in x n) = W (in x out) . dY (out x n) */
        const void *wp;
        int rc = cuda_weight_ptr(ctx, (nas_buf *)w, &wp, err);
        if (rc < 0) return rc;
        NAS_CUBLAS_TRY(cublasGemmEx(ctx->cublas, CUBLAS_OP_N, CUBLAS_OP_N, in, n, out, &one, wp,
                                    ctx->blas_dt, in, dy->data, ctx->blas_dt, out,
                                    accumulate ? &one : &zero, dx->data, ctx->blas_dt, in,
                                    CUBLAS_COMPUTE_32F, CUBLAS_GEMM_DEFAULT),
                       err);
    }
    if (dw) {
        /* dW (in x out, fp32) = X (in x n) . dY^T (n x out) */
        NAS_CUBLAS_TRY(cublasGemmEx(ctx->cublas, CUBLAS_OP_N, CUBLAS_OP_T, in, out, n, &one,
                                    x->data, ctx->blas_dt, in, dy->data, ctx->blas_dt, out, &zero,
                                    dw->data, CUDA_R_32F, in, CUBLAS_COMPUTE_32F,
                                    CUBLAS_GEMM_DEFAULT),
                       err);
        dw->version++;
    }
    if (db) {
        int rc = cuda_scratch_reserve(ctx, nas_cuk_reduce_scratch_floats(1, n, out), err);
        if (rc < 0) return rc;
        NAS_CUDA_TRY(nas_cuk_column_sum(ctx->stream, ctx->dt, NAS_CUK_SUM_X, 1, n, out, dy->data,
                                        NULL, 1.0f, (float *)db->data, NULL, ctx->scratch),
                     err);
        db->version++;
    }
    return 0;
}
