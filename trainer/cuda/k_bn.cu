/*
 * trainer/cuda/k_bn.cu - batch norm over NHWC activations, fused with the
 * residual add and the activation that follow it in every block.
 *
 * Why own kernels rather than cudnnBatchNormalization*: the fusion (one pass
 * writes act(bn(x) + residual) and one pass reads it back for the gradient,
 * where cuDNN would need separate add and activation passes), bf16 support
 * on the legacy API, and statistics computed exactly as the CPU reference
 * does (biased variance for normalising, unbiased for the running
 * estimate), so parity holds to fp32 rounding.
 *
 * Training forward: one statistics pass (shifted sums, see ShiftedSums),
 * finalize (save mean/invstd, update running stats), one apply pass.
 * Backward: one reduction pass for sum(g) and sum(g*xhat), finalize (dgamma,
 * dbeta and the two means), one pass for dx and d_residual.
 */
#include "trainer/cuda/reduce.cuh"

/* Sums of d = x - K and d*d per channel, with K the channel's value in the
 * first row: one read of x gives mean and variance, and shifting by a
 * sample of the same distribution keeps s2 - s1^2/N free of the
 * cancellation that plain sums of x and x^2 suffer when |mean| >> std. */
template <typename T>
struct ShiftedSums {
    const T *x;
    __device__ float2 operator()(size_t i, int col, int) const {
        float d = nas_load(x, i) - nas_load(x, (size_t)col);
        return make_float2(d, d * d);
    }
};

/* Pre-activation of a BN output: gamma * xhat + beta (+ residual). */
template <typename T>
__device__ __forceinline__ float bn_pre(const T *residual, size_t i, float xhat, float gamma,
                                        float beta) {
    return gamma * xhat + beta + (residual ? nas_load(residual, i) : 0.0f);
}

/* g = dy * act'(pre): the gradient that reaches the BN output (and the residual). */
template <typename T>
__device__ __forceinline__ float bn_grad_in(int act, const T *y, const T *residual, const T *dy,
                                            size_t i, float xhat, float gamma, float beta) {
    float g = nas_load(dy, i);
    if (act == NAS_CUK_ACT_RELU) return nas_load(y, i) > 0.0f ? g : 0.0f;
    if (act == NAS_CUK_ACT_NONE) return g;
    float pre = bn_pre(residual, i, xhat, gamma, beta);
    return g * nas_act_grad(act, pre, nas_load(y, i));
}

template <typename T>
struct BnBwdSums {
    const T *x, *y, *residual, *dy;
    const float *gamma, *beta, *mean, *invstd;
    int act;
    __device__ float2 operator()(size_t i, int col, int) const {
        float xhat = (nas_load(x, i) - mean[col]) * invstd[col];
        float g = bn_grad_in(act, y, residual, dy, i, xhat, gamma[col], beta[col]);
        return make_float2(g, g * xhat);
    }
};

template <typename T>
__global__ void bn_finalize_stats(const float2 *partials, int chunks, int c, int rows, const T *x,
                                  float *mean, float *invstd, float *running_mean,
                                  float *running_var, float momentum, float eps) {
    int col = blockIdx.x * blockDim.x + threadIdx.x;
    if (col >= c) return;
    float2 t = nas_partials_total(partials, chunks, c, 0, col);
    float n = (float)rows;
    float shift = nas_load(x, (size_t)col);
    float sq = fmaxf(t.y - t.x * t.x / n, 0.0f); /* sum of squared deviations */
    float m = shift + t.x / n;
    float var = sq / n;
    mean[col] = m;
    invstd[col] = rsqrtf(var + eps);
    if (running_mean) running_mean[col] = (1.0f - momentum) * running_mean[col] + momentum * m;
    if (running_var) {
        float unbiased = rows > 1 ? sq / (float)(rows - 1) : var;
        running_var[col] = (1.0f - momentum) * running_var[col] + momentum * unbiased;
    }
}

/* Eval mode: the statistics are the running ones; save them as mean/invstd
 * so that the apply kernel and a frozen BN's backward read one form. */
__global__ void bn_eval_stats(int c, const float *running_mean, const float *running_var, float eps,
                              float *mean, float *invstd) {
    int col = blockIdx.x * blockDim.x + threadIdx.x;
    if (col >= c) return;
    mean[col] = running_mean[col];
    invstd[col] = rsqrtf(running_var[col] + eps);
}

template <typename T>
__global__ void bn_apply(const T *x, const T *residual, T *y, size_t total, int c,
                         const float *gamma, const float *beta, const float *mean,
                         const float *invstd, int act) {
    NAS_GRID_STRIDE(i, total) {
        int col = (int)(i % (size_t)c);
        float xhat = (nas_load(x, i) - mean[col]) * invstd[col];
        nas_store(y, i, nas_act(act, bn_pre(residual, i, xhat, gamma[col], beta[col])));
    }
}

/* scratch layout: [c] mean_g, [c] mean_gxhat, then the float2 partials. */
__global__ void bn_bwd_finalize(const float2 *partials, int chunks, int c, int rows, int frozen,
                                float *dgamma, float *dbeta, float *mean_g, float *mean_gxhat) {
    int col = blockIdx.x * blockDim.x + threadIdx.x;
    if (col >= c) return;
    float2 t = nas_partials_total(partials, chunks, c, 0, col);
    if (dbeta) dbeta[col] = t.x;
    if (dgamma) dgamma[col] = t.y;
    /* A frozen BN's statistics are constants: no terms through them. */
    mean_g[col] = frozen ? 0.0f : t.x / (float)rows;
    mean_gxhat[col] = frozen ? 0.0f : t.y / (float)rows;
}

template <typename T>
__global__ void bn_bwd_apply(const T *x, const T *y, const T *residual, const T *dy, size_t total,
                             int c, const float *gamma, const float *beta, const float *mean,
                             const float *invstd, int act, const float *mean_g,
                             const float *mean_gxhat, T *dx, int accumulate_dx, T *d_residual,
                             int accumulate_dres) {
    NAS_GRID_STRIDE(i, total) {
        int col = (int)(i % (size_t)c);
        float xhat = (nas_load(x, i) - mean[col]) * invstd[col];
        float g = bn_grad_in(act, y, residual, dy, i, xhat, gamma[col], beta[col]);
        if (d_residual)
            nas_store(d_residual, i, accumulate_dres ? nas_load(d_residual, i) + g : g);
        if (dx) {
            float v = gamma[col] * invstd[col] * (g - mean_g[col] - xhat * mean_gxhat[col]);
            nas_store(dx, i, accumulate_dx ? nas_load(dx, i) + v : v);
        }
    }
}

extern "C" size_t nas_cuk_bn_scratch_floats(int rows, int c) {
    return 2 * (size_t)c + nas_red_scratch_floats(1, rows, c);
}

static unsigned col_blocks(int c) { return (unsigned)((c + 255) / 256); }

template <typename T>
static void bn_fwd_train_impl(cudaStream_t s, const nas_cuk_bn_args *a) {
    const T *x = (const T *)a->x;
    float2 *partials = (float2 *)(a->scratch + 2 * (size_t)a->c);
    int chunks = nas_launch_column_partial(s, ShiftedSums<T>{x}, 1, a->rows, a->c, partials);
    bn_finalize_stats<T><<<col_blocks(a->c), 256, 0, s>>>(partials, chunks, a->c, a->rows, x,
                                                          a->save_mean, a->save_invstd,
                                                          a->running_mean, a->running_var,
                                                          a->momentum, a->eps);
    size_t total = (size_t)a->rows * a->c;
    bn_apply<T><<<nas_grid_for(total, 256), 256, 0, s>>>(
        x, (const T *)a->residual, (T *)a->y, total, a->c, a->gamma, a->beta, a->save_mean,
        a->save_invstd, a->act);
}

template <typename T>
static void bn_fwd_eval_impl(cudaStream_t s, const nas_cuk_bn_args *a) {
    /* save_* may be NULL in eval: use the head of the scratch instead. */
    float *mean = a->save_mean ? a->save_mean : a->scratch;
    float *invstd = a->save_invstd ? a->save_invstd : a->scratch + a->c;
    bn_eval_stats<<<col_blocks(a->c), 256, 0, s>>>(a->c, a->running_mean, a->running_var, a->eps,
                                                   mean, invstd);
    size_t total = (size_t)a->rows * a->c;
    bn_apply<T><<<nas_grid_for(total, 256), 256, 0, s>>>((const T *)a->x, (const T *)a->residual,
                                                         (T *)a->y, total, a->c, a->gamma, a->beta,
                                                         mean, invstd, a->act);
}

template <typename T>
static void bn_bwd_impl(cudaStream_t s, const nas_cuk_bn_bwd_args *a) {
    float *mean_g = a->scratch, *mean_gxhat = a->scratch + a->c;
    float2 *partials = (float2 *)(a->scratch + 2 * (size_t)a->c);
    BnBwdSums<T> op{(const T *)a->x, (const T *)a->y, (const T *)a->residual, (const T *)a->dy,
                    a->gamma, a->beta, a->save_mean, a->save_invstd, a->act};
    int chunks = nas_launch_column_partial(s, op, 1, a->rows, a->c, partials);
    bn_bwd_finalize<<<col_blocks(a->c), 256, 0, s>>>(partials, chunks, a->c, a->rows, a->frozen,
                                                     a->dgamma, a->dbeta, mean_g, mean_gxhat);
    if (!a->dx && !a->d_residual) return;
    size_t total = (size_t)a->rows * a->c;
    bn_bwd_apply<T><<<nas_grid_for(total, 256), 256, 0, s>>>(
        (const T *)a->x, (const T *)a->y, (const T *)a->residual, (const T *)a->dy, total, a->c,
        a->gamma, a->beta, a->save_mean, a->save_invstd, a->act, mean_g, mean_gxhat, (T *)a->dx,
        a->accumulate_dx, (T *)a->d_residual, a->accumulate_dres);
}

extern "C" int nas_cuk_bn_fwd_train(cudaStream_t s, nas_cu_dtype dt, const nas_cuk_bn_args *a) {
    if (a->rows == 0 || a->c == 0) return 0;
    NAS_DISPATCH(dt, bn_fwd_train_impl, s, a);
    return (int)cudaGetLastError();
}

extern "C" int nas_cuk_bn_fwd_eval(cudaStream_t s, nas_cu_dtype dt, const nas_cuk_bn_args *a) {
    if (a->rows == 0 || a->c == 0) return 0;
    NAS_DISPATCH(dt, bn_fwd_eval_impl, s, a);
    return (int)cudaGetLastError();
}

extern "C" int nas_cuk_bn_bwd(cudaStream_t s, nas_cu_dtype dt, const nas_cuk_bn_bwd_args *a) {
    if (a->rows == 0 || a->c == 0) return 0;
    NAS_DISPATCH(dt, bn_bwd_impl, s, a);
    return (int)cudaGetLastError();
}
