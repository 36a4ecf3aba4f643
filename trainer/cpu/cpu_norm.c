/*
 * trainer/cpu/cpu_norm.c - batch norm with the residual add and the
 * activation fused in (CPU backend).
 *
 * Forward: one pass computes a channel's batch statistics, a second writes
 * act(gamma * xhat + beta + residual). The moments are summed around a pivot
 * (the channel's first value) so the one-pass variance does not cancel when
 * the mean is large, per plane in float (vectorised) and across planes in
 * double. Backward recomputes g = dy * act'(pre) instead of storing the
 * pre-activation (ReLU reads its mask from y, swish recomputes pre from x and
 * the saved statistics), which saves one activation-sized buffer per BN.
 * Every inner loop is written for one activation at a time (the act argument
 * of the always-inlined helpers is a constant at each call site), so the
 * compiler emits branch-free vector loops. Channels are independent, so
 * threads split channels.
 */
#include <math.h>

#include "trainer/cpu/cpu_internal.h"

#define ALWAYS_INLINE static inline __attribute__((always_inline))

ALWAYS_INLINE float act_value(nas_actfn act, float v)
{
    switch (act) {
    case NAS_ACTFN_RELU:
        return v > 0.0f ? v : 0.0f;
    case NAS_ACTFN_SWISH:
        return v * cpu_sigmoidf(v);
    case NAS_ACTFN_SIGMOID:
        return cpu_sigmoidf(v);
    case NAS_ACTFN_NONE:
        break;
    }
    return v;
}

/* g = dy * act'(pre); pre is only computed for activations that need it. */
ALWAYS_INLINE float act_backprop(nas_actfn act, float dy, float y, float x, float r, float mean,
                                 float invstd, float gam, float bet)
{
    switch (act) {
    case NAS_ACTFN_RELU:
        return y > 0.0f ? dy : 0.0f;
    case NAS_ACTFN_SWISH: {
        float pre = (x - mean) * invstd * gam + bet + r;
        float s = cpu_sigmoidf(pre);
        return dy * s * (1.0f + pre * (1.0f - s));
    }
    case NAS_ACTFN_SIGMOID:
        return dy * y * (1.0f - y);
    case NAS_ACTFN_NONE:
        break;
    }
    return dy;
}

/* y = act(x * scale + shift [+ r]) over one plane. */
ALWAYS_INLINE void apply_plane(nas_actfn act, const float *x, const float *r, float *y, int hw,
                               float scale, float shift)
{
    if (r) {
#pragma omp simd
        for (int j = 0; j < hw; j++)
            y[j] = act_value(act, x[j] * scale + shift + r[j]);
    } else {
#pragma omp simd
        for (int j = 0; j < hw; j++)
            y[j] = act_value(act, x[j] * scale + shift);
    }
}

static void apply_plane_any(nas_actfn act, const float *x, const float *r, float *y, int hw,
                            float scale, float shift)
{
    switch (act) {
    case NAS_ACTFN_NONE:
        apply_plane(NAS_ACTFN_NONE, x, r, y, hw, scale, shift);
        break;
    case NAS_ACTFN_RELU:
        apply_plane(NAS_ACTFN_RELU, x, r, y, hw, scale, shift);
        break;
    case NAS_ACTFN_SWISH:
        apply_plane(NAS_ACTFN_SWISH, x, r, y, hw, scale, shift);
        break;
    case NAS_ACTFN_SIGMOID:
        apply_plane(NAS_ACTFN_SIGMOID, x, r, y, hw, scale, shift);
        break;
    }
}

int cpu_bn_fwd(const nas_backend *be, bool training, int n, int c, int hw, const nas_buf *x,
               const nas_buf *residual, const nas_buf *gamma, const nas_buf *beta,
               nas_buf *running_mean, nas_buf *running_var, float momentum, float eps,
               nas_actfn act, nas_buf *y, nas_buf *save_mean, nas_buf *save_invstd, nas_err *err)
{
    const cpu_ctx *ctx = cpu_ctx_of(be);
    if (training && (!save_mean || !save_invstd))
        return nas_err_set(err, NAS_EINVAL, "cpu bn: training mode needs save_mean and save_invstd");
    const float *xf = x->data.f, *rf = residual ? residual->data.f : NULL;
    const float *gf = gamma->data.f, *bf = beta->data.f;
    float *rm = running_mean->data.f, *rv = running_var->data.f, *yf = y->data.f;
    float *sm = save_mean ? save_mean->data.f : NULL, *si = save_invstd ? save_invstd->data.f : NULL;
    size_t img = (size_t)c * hw;
    double count = (double)n * hw;

#pragma omp parallel for num_threads(ctx->threads) schedule(static) \
    if ((size_t)n * img > CPU_PAR_MIN)
    for (int ch = 0; ch < c; ch++) {
        float mean, invstd;
        if (training) {
            float pivot = xf[(size_t)ch * hw];
            double sum = 0.0, sumsq = 0.0;
            for (int i = 0; i < n; i++) {
                const float *p = xf + i * img + (size_t)ch * hw;
                float s = 0.0f, s2 = 0.0f;
#pragma omp simd reduction(+ : s, s2)
                for (int j = 0; j < hw; j++) {
                    float d = p[j] - pivot;
                    s += d;
                    s2 += d * d;
                }
                sum += s;
                sumsq += s2;
            }
            double shifted_mean = sum / count;
            double var = sumsq / count - shifted_mean * shifted_mean;
            if (var < 0.0)
                var = 0.0;
            double m = pivot + shifted_mean;
            mean = (float)m;
            invstd = (float)(1.0 / sqrt(var + eps));
            sm[ch] = mean;
            si[ch] = invstd;
            double unbiased = count > 1.0 ? var * count / (count - 1.0) : var;
            rm[ch] = (float)((1.0 - momentum) * rm[ch] + momentum * m);
            rv[ch] = (float)((1.0 - momentum) * rv[ch] + momentum * unbiased);
        } else {
            mean = rm[ch];
            invstd = 1.0f / sqrtf(rv[ch] + eps);
            if (sm && si) {
                sm[ch] = mean;
                si[ch] = invstd;
            }
        }
        float scale = gf[ch] * invstd, shift = bf[ch] - mean * scale;
        for (int i = 0; i < n; i++) {
            size_t off = i * img + (size_t)ch * hw;
            apply_plane_any(act, xf + off, rf ? rf + off : NULL, yf + off, hw, scale, shift);
        }
    }
    return 0;
}

/* The statistics one channel's backward needs. */
typedef struct bn_chan {
    float mean, invstd, gam, bet;
} bn_chan;

/* Planes are processed in chunks so that g = dy * act'(pre) can be computed
 * once into a stack buffer by a branch-free loop and then consumed by simple
 * vector loops (stores under a condition would keep the loop scalar). */
#define BN_CHUNK 1024
static const float bn_zeros[BN_CHUNK];

/* g[j] = dy * act'(pre) for one chunk; r may be NULL (treated as zeros). */
ALWAYS_INLINE void chunk_grad(nas_actfn act, const bn_chan *k, const float *x, const float *y,
                              const float *r, const float *dy, float *g, int len)
{
    const float *rr = r ? r : bn_zeros;
    float mean = k->mean, invstd = k->invstd, gam = k->gam, bet = k->bet;
#pragma omp simd
    for (int j = 0; j < len; j++)
        g[j] = act_backprop(act, dy[j], y[j], x[j], rr[j], mean, invstd, gam, bet);
}

/* Pass 1 over a plane: d_residual (+)= g, and the sums of g and g*(x-mean).
 * With stash != NULL (the plane of dx, when dx is overwritten) g is kept
 * there for pass 2 instead of being recomputed: swish's exp is the costly
 * part of its backward. */
ALWAYS_INLINE void bwd_sums_plane(nas_actfn act, const bn_chan *k, const float *x, const float *y,
                                  const float *r, const float *dy, float *dr, bool acc_dr,
                                  float *stash, double *sum_g, double *sum_gx, int hw)
{
    float chunk[BN_CHUNK];
    float mean = k->mean;
    for (int j0 = 0; j0 < hw; j0 += BN_CHUNK) {
        int len = hw - j0 < BN_CHUNK ? hw - j0 : BN_CHUNK;
        const float *xc = x + j0;
        float *g = stash ? stash + j0 : chunk;
        chunk_grad(act, k, xc, y + j0, r ? r + j0 : NULL, dy + j0, g, len);
        if (dr && acc_dr) {
            float *d = dr + j0;
#pragma omp simd
            for (int j = 0; j < len; j++)
                d[j] += g[j];
        } else if (dr) {
            float *d = dr + j0;
#pragma omp simd
            for (int j = 0; j < len; j++)
                d[j] = g[j];
        }
        float s = 0.0f, sx = 0.0f;
#pragma omp simd reduction(+ : s, sx)
        for (int j = 0; j < len; j++) {
            s += g[j];
            sx += g[j] * (xc[j] - mean);
        }
        *sum_g += s;
        *sum_gx += sx;
    }
}

/* Pass 2 over a plane: dx (+)= k_scale * (g - mean_g - xhat * mean_gxhat).
 * stashed: pass 1 left g in dx (then acc_dx is false). */
ALWAYS_INLINE void bwd_dx_plane(nas_actfn act, const bn_chan *k, const float *x, const float *y,
                                const float *r, const float *dy, float *dx, bool acc_dx,
                                bool stashed, float mean_g, float mean_gxhat, int hw)
{
    float chunk[BN_CHUNK];
    float mean = k->mean, invstd = k->invstd;
    float k_scale = k->gam * invstd;
    /* v = k_scale * (g - mean_g - (x - mean) * invstd * mean_gxhat) = a*g + b*x + c */
    float coef_x = -k_scale * invstd * mean_gxhat;
    float offset = -k_scale * mean_g - coef_x * mean;
    for (int j0 = 0; j0 < hw; j0 += BN_CHUNK) {
        int len = hw - j0 < BN_CHUNK ? hw - j0 : BN_CHUNK;
        const float *xc = x + j0;
        float *d = dx + j0;
        if (stashed) {
#pragma omp simd
            for (int j = 0; j < len; j++)
                d[j] = k_scale * d[j] + coef_x * xc[j] + offset;
            continue;
        }
        float *g = chunk;
        chunk_grad(act, k, xc, y + j0, r ? r + j0 : NULL, dy + j0, g, len);
        if (acc_dx) {
#pragma omp simd
            for (int j = 0; j < len; j++)
                d[j] += k_scale * g[j] + coef_x * xc[j] + offset;
        } else {
#pragma omp simd
            for (int j = 0; j < len; j++)
                d[j] = k_scale * g[j] + coef_x * xc[j] + offset;
        }
    }
}

/* Calls call_with(A) with the activation as a compile-time constant. */
#define DISPATCH_ACT(act, call_with)                                                               \
    switch (act) {                                                                                 \
    case NAS_ACTFN_NONE:                                                                           \
        call_with(NAS_ACTFN_NONE);                                                                 \
        break;                                                                                     \
    case NAS_ACTFN_RELU:                                                                           \
        call_with(NAS_ACTFN_RELU);                                                                 \
        break;                                                                                     \
    case NAS_ACTFN_SWISH:                                                                          \
        call_with(NAS_ACTFN_SWISH);                                                                \
        break;                                                                                     \
    case NAS_ACTFN_SIGMOID:                                                                        \
        call_with(NAS_ACTFN_SIGMOID);                                                              \
        break;                                                                                     \
    }

int cpu_bn_bwd(const nas_backend *be, bool frozen, int n, int c, int hw, const nas_buf *x,
               const nas_buf *y, const nas_buf *residual, const nas_buf *dy, const nas_buf *gamma,
               const nas_buf *beta, const nas_buf *save_mean, const nas_buf *save_invstd,
               nas_actfn act, nas_buf *dx, bool accumulate_dx, nas_buf *d_residual,
               bool accumulate_dres, nas_buf *dgamma, nas_buf *dbeta, nas_err *err)
{
    const cpu_ctx *ctx = cpu_ctx_of(be);
    if (!save_mean || !save_invstd)
        return nas_err_set(err, NAS_EINVAL, "cpu bn backward: needs the saved statistics");
    const float *xf = x->data.f, *yf = y->data.f, *dyf = dy->data.f;
    const float *rf = residual ? residual->data.f : NULL;
    const float *gf = gamma->data.f, *bf = beta->data.f;
    const float *smf = save_mean->data.f, *sif = save_invstd->data.f;
    float *dxf = dx ? dx->data.f : NULL, *drf = d_residual ? d_residual->data.f : NULL;
    float *dgf = dgamma ? dgamma->data.f : NULL, *dbf = dbeta ? dbeta->data.f : NULL;
    size_t img = (size_t)c * hw;
    double count = (double)n * hw;
    /* keep g in dx between the passes where recomputing it costs an exp */
    bool stash_g = dxf && !accumulate_dx && (act == NAS_ACTFN_SWISH || act == NAS_ACTFN_SIGMOID);

#pragma omp parallel for num_threads(ctx->threads) schedule(static) \
    if ((size_t)n * img > CPU_PAR_MIN)
    for (int ch = 0; ch < c; ch++) {
        bn_chan k = {smf[ch], sif[ch], gf[ch], bf[ch]};
        double sum_g = 0.0, sum_gx = 0.0;
        for (int i = 0; i < n; i++) {
            size_t off = i * img + (size_t)ch * hw;
            const float *rp = rf ? rf + off : NULL;
            float *drp = drf ? drf + off : NULL;
            float *stash = stash_g ? dxf + off : NULL;
#define SUMS(A)                                                                                    \
    bwd_sums_plane(A, &k, xf + off, yf + off, rp, dyf + off, drp, accumulate_dres, stash, &sum_g, \
                   &sum_gx, hw)
            DISPATCH_ACT(act, SUMS)
#undef SUMS
        }
        if (dgf)
            dgf[ch] = (float)(sum_gx * k.invstd);
        if (dbf)
            dbf[ch] = (float)sum_g;
        if (!dxf)
            continue;
        /* frozen: the statistics are constants, so only the g * gamma * invstd term remains */
        float mean_g = frozen ? 0.0f : (float)(sum_g / count);
        float mean_gxhat = frozen ? 0.0f : (float)(sum_gx * k.invstd / count);
        for (int i = 0; i < n; i++) {
            size_t off = i * img + (size_t)ch * hw;
            const float *rp = rf ? rf + off : NULL;
#define DX(A)                                                                                      \
    bwd_dx_plane(A, &k, xf + off, yf + off, rp, dyf + off, dxf + off, accumulate_dx, stash_g,      \
                 mean_g, mean_gxhat, hw)
            DISPATCH_ACT(act, DX)
#undef DX
        }
    }
    return 0;
}
