/*
 * trainer/cpu/cpu_elementwise.c - activations, residual add, squeeze-excite
 * scaling, global average pooling and dropout of the CPU backend.
 *
 * Memory-bound loops, so they are plain parallel loops over contiguous
 * elements (or over (image, channel) planes where a plane is the unit).
 */
#include <string.h>

#include "trainer/cpu/cpu_internal.h"

int cpu_act_fwd(const nas_backend *be, nas_actfn act, size_t count, const nas_buf *x, nas_buf *y,
                nas_err *err)
{
    (void)err;
    const cpu_ctx *ctx = cpu_ctx_of(be);
    const float *xf = x->data.f;
    float *yf = y->data.f;
    long cnt = (long)count;
    switch (act) {
    case NAS_ACTFN_NONE:
        if (xf != yf)
            memcpy(yf, xf, sizeof(float) * count);
        break;
    case NAS_ACTFN_RELU:
#pragma omp parallel for num_threads(ctx->threads) schedule(static) if (cnt > CPU_PAR_MIN)
        for (long i = 0; i < cnt; i++)
            yf[i] = xf[i] > 0.0f ? xf[i] : 0.0f;
        break;
    case NAS_ACTFN_SWISH:
#pragma omp parallel for num_threads(ctx->threads) schedule(static) if (cnt > CPU_PAR_MIN)
        for (long i = 0; i < cnt; i++)
            yf[i] = xf[i] * cpu_sigmoidf(xf[i]);
        break;
    case NAS_ACTFN_SIGMOID:
#pragma omp parallel for num_threads(ctx->threads) schedule(static) if (cnt > CPU_PAR_MIN)
        for (long i = 0; i < cnt; i++)
            yf[i] = cpu_sigmoidf(xf[i]);
        break;
    }
    return 0;
}

int cpu_act_bwd(const nas_backend *be, nas_actfn act, size_t count, const nas_buf *x,
                const nas_buf *y, const nas_buf *dy, nas_buf *dx, bool accumulate, nas_err *err)
{
    (void)err;
    const cpu_ctx *ctx = cpu_ctx_of(be);
    const float *xf = x ? x->data.f : NULL, *yf = y ? y->data.f : NULL, *dyf = dy->data.f;
    float *dxf = dx->data.f;
    long cnt = (long)count;
    if ((act == NAS_ACTFN_RELU || act == NAS_ACTFN_SWISH) && !xf)
        return nas_err_set(err, NAS_EINVAL, "cpu act backward: relu/swish need the input x");
    if (act == NAS_ACTFN_SIGMOID && !yf)
        return nas_err_set(err, NAS_EINVAL, "cpu act backward: sigmoid needs the output y");
#pragma omp parallel for num_threads(ctx->threads) schedule(static) if (cnt > CPU_PAR_MIN)
    for (long i = 0; i < cnt; i++) {
        float g = dyf[i];
        switch (act) {
        case NAS_ACTFN_RELU:
            g = xf[i] > 0.0f ? g : 0.0f;
            break;
        case NAS_ACTFN_SWISH: {
            float s = cpu_sigmoidf(xf[i]);
            g *= s * (1.0f + xf[i] * (1.0f - s));
            break;
        }
        case NAS_ACTFN_SIGMOID:
            g *= yf[i] * (1.0f - yf[i]);
            break;
        case NAS_ACTFN_NONE:
            break;
        }
        dxf[i] = accumulate ? dxf[i] + g : g;
    }
    return 0;
}

int cpu_add(const nas_backend *be, size_t count, const nas_buf *a, const nas_buf *b, nas_buf *y,
            nas_err *err)
{
    (void)err;
    const cpu_ctx *ctx = cpu_ctx_of(be);
    const float *af = a->data.f, *bf = b->data.f;
    float *yf = y->data.f;
    long cnt = (long)count;
#pragma omp parallel for num_threads(ctx->threads) schedule(static) if (cnt > CPU_PAR_MIN)
    for (long i = 0; i < cnt; i++)
        yf[i] = af[i] + bf[i];
    return 0;
}

int cpu_se_scale_fwd(const nas_backend *be, int n, int c, int hw, const nas_buf *x,
                     const nas_buf *gate, nas_buf *y, nas_err *err)
{
    (void)err;
    const cpu_ctx *ctx = cpu_ctx_of(be);
    const float *xf = x->data.f, *gf = gate->data.f;
    float *yf = y->data.f;
    long planes = (long)n * c;
#pragma omp parallel for num_threads(ctx->threads) schedule(static) \
    if ((size_t)planes * hw > CPU_PAR_MIN)
    for (long p = 0; p < planes; p++) {
        float g = gf[p];
        const float *xp = xf + (size_t)p * hw;
        float *yp = yf + (size_t)p * hw;
        for (int j = 0; j < hw; j++)
            yp[j] = xp[j] * g;
    }
    return 0;
}

int cpu_se_scale_bwd(const nas_backend *be, int n, int c, int hw, const nas_buf *x,
                     const nas_buf *gate, const nas_buf *dy, nas_buf *dx, bool accumulate,
                     nas_buf *dgate, nas_err *err)
{
    (void)err;
    const cpu_ctx *ctx = cpu_ctx_of(be);
    const float *xf = x->data.f, *gf = gate->data.f, *dyf = dy->data.f;
    float *dxf = dx ? dx->data.f : NULL, *dgf = dgate->data.f;
    long planes = (long)n * c;
#pragma omp parallel for num_threads(ctx->threads) schedule(static) \
    if ((size_t)planes * hw > CPU_PAR_MIN)
    for (long p = 0; p < planes; p++) {
        float g = gf[p], acc = 0.0f;
        const float *xp = xf + (size_t)p * hw, *dyp = dyf + (size_t)p * hw;
        float *dxp = dxf ? dxf + (size_t)p * hw : NULL;
        for (int j = 0; j < hw; j++) {
            acc += dyp[j] * xp[j];
            if (dxp)
                dxp[j] = accumulate ? dxp[j] + dyp[j] * g : dyp[j] * g;
        }
        dgf[p] = acc;
    }
    return 0;
}

int cpu_pool_fwd(const nas_backend *be, int n, int c, int hw, const nas_buf *x, nas_buf *y,
                 nas_err *err)
{
    (void)err;
    const cpu_ctx *ctx = cpu_ctx_of(be);
    const float *xf = x->data.f;
    float *yf = y->data.f;
    long planes = (long)n * c;
    float inv = 1.0f / (float)hw;
#pragma omp parallel for num_threads(ctx->threads) schedule(static) \
    if ((size_t)planes * hw > CPU_PAR_MIN)
    for (long p = 0; p < planes; p++) {
        const float *xp = xf + (size_t)p * hw;
        float acc = 0.0f;
        for (int j = 0; j < hw; j++)
            acc += xp[j];
        yf[p] = acc * inv;
    }
    return 0;
}

int cpu_pool_bwd(const nas_backend *be, int n, int c, int hw, const nas_buf *dy, nas_buf *dx,
                 bool accumulate, nas_err *err)
{
    (void)err;
    const cpu_ctx *ctx = cpu_ctx_of(be);
    const float *dyf = dy->data.f;
    float *dxf = dx->data.f;
    long planes = (long)n * c;
    float inv = 1.0f / (float)hw;
#pragma omp parallel for num_threads(ctx->threads) schedule(static) \
    if ((size_t)planes * hw > CPU_PAR_MIN)
    for (long p = 0; p < planes; p++) {
        float g = dyf[p] * inv;
        float *dxp = dxf + (size_t)p * hw;
        for (int j = 0; j < hw; j++)
            dxp[j] = accumulate ? dxp[j] + g : g;
    }
    return 0;
}

int cpu_dropout_fwd(const nas_backend *be, size_t count, float p, uint64_t seed, const nas_buf *x,
                    nas_buf *y, nas_buf *mask, nas_err *err)
{
    const cpu_ctx *ctx = cpu_ctx_of(be);
    if (!(p >= 0.0f && p < 1.0f))
        return nas_err_set(err, NAS_ERANGE, "cpu dropout: probability %g outside [0, 1)", (double)p);
    const float *xf = x->data.f;
    float *yf = y->data.f, *mf = mask->data.f;
    long cnt = (long)count;
#pragma omp parallel for num_threads(ctx->threads) schedule(static) if (cnt > CPU_PAR_MIN)
    for (long i = 0; i < cnt; i++) {
        mf[i] = nas_dropout_keep_scale(seed, (uint64_t)i, p);
        yf[i] = xf[i] * mf[i];
    }
    return 0;
}

int cpu_dropout_bwd(const nas_backend *be, size_t count, const nas_buf *mask, const nas_buf *dy,
                    nas_buf *dx, bool accumulate, nas_err *err)
{
    (void)err;
    const cpu_ctx *ctx = cpu_ctx_of(be);
    const float *mf = mask->data.f, *dyf = dy->data.f;
    float *dxf = dx->data.f;
    long cnt = (long)count;
#pragma omp parallel for num_threads(ctx->threads) schedule(static) if (cnt > CPU_PAR_MIN)
    for (long i = 0; i < cnt; i++)
        dxf[i] = accumulate ? dxf[i] + dyf[i] * mf[i] : dyf[i] * mf[i];
    return 0;
}
