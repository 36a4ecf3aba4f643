/*
 * trainer/cuda/cuda_ops.c - the backend ops that are not library calls:
 * batch norm, activations, add, squeeze-excite, pooling and dropout, each a
 * thin check-and-launch over kernels.h. Reductions share ctx->scratch, sized
 * here before each launch (so never inside a graph capture, where the first
 * eager pass has already sized it).
 */
#include "trainer/cuda/cuda_internal.h"

#include "trainer/cuda/status.h"

static const void *opt_data(const nas_buf *b) { return b ? b->data : NULL; }

int cuda_bn_fwd(const nas_backend *be, bool training, int n, int c, int hw, const nas_buf *x,
                const nas_buf *residual, const nas_buf *gamma, const nas_buf *beta,
                nas_buf *running_mean, nas_buf *running_var, float momentum, float eps,
                nas_actfn act, nas_buf *y, nas_buf *save_mean, nas_buf *save_invstd,
                nas_err *err) {
    cuda_ctx *ctx = cuda_ctx_of(be);
    int rows = n * hw;
    if (training && (!save_mean || !save_invstd))
        return nas_err_set(err, NAS_EINVAL, "cuda bn forward: training needs save_mean/invstd");
    int rc = cuda_scratch_reserve(ctx, nas_cuk_bn_scratch_floats(rows, c), err);
    if (rc < 0) return rc;
    nas_cuk_bn_args a = {
        .rows = rows, .c = c, .x = x->data, .residual = opt_data(residual), .y = y->data,
        .gamma = gamma->data, .beta = beta->data,
        .running_mean = running_mean->data, .running_var = running_var->data,
        .momentum = momentum, .eps = eps, .act = (int)act,
        .save_mean = save_mean ? save_mean->data : NULL,
        .save_invstd = save_invstd ? save_invstd->data : NULL,
        .scratch = ctx->scratch,
    };
    if (training) {
        NAS_CUDA_TRY(nas_cuk_bn_fwd_train(ctx->stream, ctx->dt, &a), err);
        running_mean->version++;
        running_var->version++;
    } else {
        NAS_CUDA_TRY(nas_cuk_bn_fwd_eval(ctx->stream, ctx->dt, &a), err);
    }
    return 0;
}

int cuda_bn_bwd(const nas_backend *be, bool frozen, int n, int c, int hw, const nas_buf *x,
                const nas_buf *y, const nas_buf *residual, const nas_buf *dy,
                const nas_buf *gamma, const nas_buf *beta, const nas_buf *save_mean,
                const nas_buf *save_invstd, nas_actfn act, nas_buf *dx, bool accumulate_dx,
                nas_buf *d_residual, bool accumulate_dres, nas_buf *dgamma, nas_buf *dbeta,
                nas_err *err) {
    cuda_ctx *ctx = cuda_ctx_of(be);
    if (!save_mean || !save_invstd)
        return nas_err_set(err, NAS_EINVAL, "cuda bn backward: needs the saved statistics");
    int rows = n * hw;
    int rc = cuda_scratch_reserve(ctx, nas_cuk_bn_scratch_floats(rows, c), err);
    if (rc < 0) return rc;
    nas_cuk_bn_bwd_args a = {
        .rows = rows, .c = c, .frozen = frozen ? 1 : 0,
        .x = x->data, .y = y->data, .residual = opt_data(residual), .dy = dy->data,
        .gamma = gamma->data, .beta = beta->data,
        .save_mean = save_mean->data, .save_invstd = save_invstd->data,
        .act = (int)act,
        .dx = dx ? dx->data : NULL, .accumulate_dx = accumulate_dx ? 1 : 0,
        .d_residual = d_residual ? d_residual->data : NULL,
        .accumulate_dres = accumulate_dres ? 1 : 0,
        .dgamma = dgamma ? dgamma->data : NULL, .dbeta = dbeta ? dbeta->data : NULL,
        .scratch = ctx->scratch,
    };
    NAS_CUDA_TRY(nas_cuk_bn_bwd(ctx->stream, ctx->dt, &a), err);
    if (dgamma) dgamma->version++;
    if (dbeta) dbeta->version++;
    return 0;
}

int cuda_act_fwd(const nas_backend *be, nas_actfn act, size_t count, const nas_buf *x, nas_buf *y,
                 nas_err *err) {
    cuda_ctx *ctx = cuda_ctx_of(be);
    NAS_CUDA_TRY(nas_cuk_act_fwd(ctx->stream, ctx->dt, (int)act, count, 1, NULL, x->data, y->data),
                 err);
    return 0;
}

int cuda_act_bwd(const nas_backend *be, nas_actfn act, size_t count, const nas_buf *x,
                 const nas_buf *y, const nas_buf *dy, nas_buf *dx, bool accumulate, nas_err *err) {
    cuda_ctx *ctx = cuda_ctx_of(be);
    if (act == NAS_ACTFN_SIGMOID && !y)
        return nas_err_set(err, NAS_EINVAL, "cuda act backward: sigmoid needs its output y");
    NAS_CUDA_TRY(nas_cuk_act_bwd(ctx->stream, ctx->dt, (int)act, count, x ? x->data : NULL,
                                 opt_data(y), dy->data, dx->data, accumulate ? 1 : 0),
                 err);
    return 0;
}

int cuda_add(const nas_backend *be, size_t count, const nas_buf *a, const nas_buf *b, nas_buf *y,
             nas_err *err) {
    cuda_ctx *ctx = cuda_ctx_of(be);
    NAS_CUDA_TRY(nas_cuk_add(ctx->stream, ctx->dt, count, a->data, b->data, y->data), err);
    return 0;
}

int cuda_se_scale_fwd(const nas_backend *be, int n, int c, int hw, const nas_buf *x,
                      const nas_buf *gate, nas_buf *y, nas_err *err) {
    cuda_ctx *ctx = cuda_ctx_of(be);
    NAS_CUDA_TRY(nas_cuk_se_scale_fwd(ctx->stream, ctx->dt, n, c, hw, x->data, gate->data, y->data),
                 err);
    return 0;
}

int cuda_se_scale_bwd(const nas_backend *be, int n, int c, int hw, const nas_buf *x,
                      const nas_buf *gate, const nas_buf *dy, nas_buf *dx, bool accumulate,
                      nas_buf *dgate, nas_err *err) {
    cuda_ctx *ctx = cuda_ctx_of(be);
    if (dgate) {
        /* dgate[n][c] = sum over the image's pixels of dy * x. */
        int rc = cuda_scratch_reserve(ctx, nas_cuk_reduce_scratch_floats(n, hw, c), err);
        if (rc < 0) return rc;
        NAS_CUDA_TRY(nas_cuk_column_sum(ctx->stream, ctx->dt, NAS_CUK_SUM_X_MUL_Y, n, hw, c,
                                        dy->data, x->data, 1.0f, NULL, dgate->data, ctx->scratch),
                     err);
    }
    if (dx)
        NAS_CUDA_TRY(nas_cuk_se_scale_bwd_data(ctx->stream, ctx->dt, n, c, hw, gate->data,
                                               dy->data, dx->data, accumulate ? 1 : 0),
                     err);
    return 0;
}

int cuda_pool_fwd(const nas_backend *be, int n, int c, int hw, const nas_buf *x, nas_buf *y,
                  nas_err *err) {
    cuda_ctx *ctx = cuda_ctx_of(be);
    if (hw <= 0) return nas_err_set(err, NAS_EINVAL, "cuda pool: empty feature map");
    int rc = cuda_scratch_reserve(ctx, nas_cuk_reduce_scratch_floats(n, hw, c), err);
    if (rc < 0) return rc;
    NAS_CUDA_TRY(nas_cuk_column_sum(ctx->stream, ctx->dt, NAS_CUK_SUM_X, n, hw, c, x->data, NULL,
                                    1.0f / (float)hw, NULL, y->data, ctx->scratch),
                 err);
    return 0;
}

int cuda_pool_bwd(const nas_backend *be, int n, int c, int hw, const nas_buf *dy, nas_buf *dx,
                  bool accumulate, nas_err *err) {
    cuda_ctx *ctx = cuda_ctx_of(be);
    NAS_CUDA_TRY(nas_cuk_pool_bwd(ctx->stream, ctx->dt, n, c, hw, dy->data, dx->data,
                                  accumulate ? 1 : 0),
                 err);
    return 0;
}

/* Dropout runs on (n, c, 1, 1) tensors before the classifier, where NHWC and
 * NCHW orders coincide, so the mask index is the CPU backend's index. */
int cuda_dropout_fwd(const nas_backend *be, size_t count, float p, uint64_t seed, const nas_buf *x,
                     nas_buf *y, nas_buf *mask, nas_err *err) {
    cuda_ctx *ctx = cuda_ctx_of(be);
    if (x->shape.h * x->shape.w != 1)
        return nas_err_set(err, NAS_EUNSUPPORTED,
                           "cuda dropout: only on pooled (n, c, 1, 1) tensors, got %dx%d maps",
                           x->shape.h, x->shape.w);
    if (mask->kind != NAS_BUF_F32)
        return nas_err_set(err, NAS_EINVAL, "cuda dropout: the mask must be an F32 buffer");
    NAS_CUDA_TRY(nas_cuk_dropout_fwd(ctx->stream, ctx->dt, count, p, seed, x->data, y->data,
                                     (float *)mask->data),
                 err);
    return 0;
}

int cuda_dropout_bwd(const nas_backend *be, size_t count, const nas_buf *mask, const nas_buf *dy,
                     nas_buf *dx, bool accumulate, nas_err *err) {
    cuda_ctx *ctx = cuda_ctx_of(be);
    NAS_CUDA_TRY(nas_cuk_dropout_bwd(ctx->stream, ctx->dt, count, (const float *)mask->data,
                                     dy->data, dx->data, accumulate ? 1 : 0),
                 err);
    return 0;
}
