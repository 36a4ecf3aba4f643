/*
 * trainer/cpu/cpu_norm.c - batch norm with the residual add and the
 * activation fused in (CPU backend).
 *
 * One pass computes the batch statistics of a channel (double accumulators,
 * so the one-pass variance does not cancel), a second writes
 * act(gamma * xhat + beta + residual). The backward recomputes
 * g = dy * act'(pre) instead of storing the pre-activation (ReLU reads its
 * mask from y, swish recomputes pre from x and the saved statistics), which
 * saves one activation-sized buffer per BN. Channels are independent, so
 * threads split channels.
 */
#include <math.h>

#include "trainer/cpu/cpu_internal.h"

static inline float apply_act(nas_actfn act, float v)
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

/* d act(pre) / d pre, with y = act(pre) already known. */
static inline float act_grad(nas_actfn act, float pre, float y)
{
    switch (act) {
    case NAS_ACTFN_RELU:
        return y > 0.0f ? 1.0f : 0.0f;
    case NAS_ACTFN_SWISH: {
        float s = cpu_sigmoidf(pre);
        return s * (1.0f + pre * (1.0f - s));
    }
    case NAS_ACTFN_SIGMOID:
        return y * (1.0f - y);
    case NAS_ACTFN_NONE:
        break;
    }
    return 1.0f;
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
            double sum = 0.0, sumsq = 0.0;
            for (int i = 0; i < n; i++) {
                const float *p = xf + i * img + (size_t)ch * hw;
                float s = 0.0f, s2 = 0.0f; /* per-plane float partials, summed in double */
                for (int j = 0; j < hw; j++) {
                    s += p[j];
                    s2 += p[j] * p[j];
                }
                sum += s;
                sumsq += s2;
            }
            double m = sum / count;
            double var = sumsq / count - m * m;
            if (var < 0.0)
                var = 0.0;
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
            const float *p = xf + off;
            float *q = yf + off;
            if (rf) {
                const float *r = rf + off;
                for (int j = 0; j < hw; j++)
                    q[j] = apply_act(act, p[j] * scale + shift + r[j]);
            } else if (act == NAS_ACTFN_RELU) {
                for (int j = 0; j < hw; j++) {
                    float v = p[j] * scale + shift;
                    q[j] = v > 0.0f ? v : 0.0f;
                }
            } else if (act == NAS_ACTFN_NONE) {
                for (int j = 0; j < hw; j++)
                    q[j] = p[j] * scale + shift;
            } else {
                for (int j = 0; j < hw; j++)
                    q[j] = apply_act(act, p[j] * scale + shift);
            }
        }
    }
    return 0;
}

int cpu_bn_bwd(const nas_backend *be, bool frozen, int n, int c, int hw, const nas_buf *x,
               const nas_buf *y, const nas_buf *residual, const nas_buf *dy, const nas_buf *gamma,
               const nas_buf *beta, const nas_buf *save_mean, const nas_buf *save_invstd,
               nas_actfn act, nas_buf *dx,
               bool accumulate_dx, nas_buf *d_residual, bool accumulate_dres, nas_buf *dgamma,
               nas_buf *dbeta, nas_err *err)
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

#pragma omp parallel for num_threads(ctx->threads) schedule(static) \
    if ((size_t)n * img > CPU_PAR_MIN)
    for (int ch = 0; ch < c; ch++) {
        float mean = smf[ch], invstd = sif[ch];
        float gam = gf[ch], bet = bf[ch];
        /* pass 1: g = dy * act'(pre); sums for dbeta and dgamma; d_residual */
        double sum_g = 0.0, sum_gx = 0.0;
        for (int i = 0; i < n; i++) {
            size_t off = i * img + (size_t)ch * hw;
            const float *xp = xf + off, *yp = yf + off, *dyp = dyf + off;
            const float *rp = rf ? rf + off : NULL;
            float *drp = drf ? drf + off : NULL;
            float s = 0.0f, sx = 0.0f;
            for (int j = 0; j < hw; j++) {
                float g = dyp[j];
                if (act == NAS_ACTFN_RELU) {
                    g = yp[j] > 0.0f ? g : 0.0f;
                } else if (act != NAS_ACTFN_NONE) {
                    float pre = (xp[j] - mean) * invstd * gam + bet + (rp ? rp[j] : 0.0f);
                    g *= act_grad(act, pre, yp[j]);
                }
                if (drp)
                    drp[j] = accumulate_dres ? drp[j] + g : g;
                s += g;
                sx += g * (xp[j] - mean);
            }
            sum_g += s;
            sum_gx += sx;
        }
        if (dgf)
            dgf[ch] = (float)(sum_gx * invstd);
        if (dbf)
            dbf[ch] = (float)sum_g;
        if (!dxf)
            continue;
        /* pass 2: dx = gamma*invstd * (g - mean(g) - xhat * mean(g*xhat)) (frozen: gamma*invstd*g) */
        float k_scale = gam * invstd;
        float mean_g = frozen ? 0.0f : (float)(sum_g / count);
        float mean_gxhat = frozen ? 0.0f : (float)(sum_gx * invstd / count);
        for (int i = 0; i < n; i++) {
            size_t off = i * img + (size_t)ch * hw;
            const float *xp = xf + off, *yp = yf + off, *dyp = dyf + off;
            const float *rp = rf ? rf + off : NULL;
            float *dxp = dxf + off;
            for (int j = 0; j < hw; j++) {
                float g = dyp[j];
                if (act == NAS_ACTFN_RELU) {
                    g = yp[j] > 0.0f ? g : 0.0f;
                } else if (act != NAS_ACTFN_NONE) {
                    float pre = (xp[j] - mean) * invstd * gam + bet + (rp ? rp[j] : 0.0f);
                    g *= act_grad(act, pre, yp[j]);
                }
                float xhat = (xp[j] - mean) * invstd;
                float v = k_scale * (g - mean_g - xhat * mean_gxhat);
                dxp[j] = accumulate_dx ? dxp[j] + v : v;
            }
        }
    }
    return 0;
}
