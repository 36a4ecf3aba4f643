/*
 * trainer/cpu/cpu_conv.c - convolutions of the CPU backend (NCHW, float32).
 *
 * Three paths, picked once per conv in its plan:
 *   pointwise (1x1, stride 1, no padding, one group): the image already is
 *     the column matrix, so forward/backward are a single sgemm per image;
 *   depthwise (groups == channels): direct loops written as "shift and
 *     accumulate" over each (ky, kx) tap, so the innermost loop walks a
 *     contiguous row and vectorises;
 *   everything else (k x k, strided 1x1, grouped): im2col + sgemm per group.
 * Work is split over images (one single-threaded sgemm per image and thread)
 * when the batch has at least as many images as threads, else the sgemm is
 * split over its columns. The weight gradient is accumulated per thread in
 * scratch and reduced at the end, so results do not depend on scheduling
 * beyond float summation order.
 */
#include <stdlib.h>
#include <string.h>

#include "trainer/cpu/cpu_internal.h"

int cpu_conv_plan_new(const nas_backend *be, const nas_conv_desc *desc, int max_batch,
                      nas_conv_plan **out, nas_err *err)
{
    const nas_conv_desc *d = desc;
    *out = NULL;
    if (d->c_in < 1 || d->c_out < 1 || d->groups < 1 || d->kernel < 1 || d->stride < 1 ||
        d->pad < 0 || d->h_in < 1 || d->w_in < 1 || max_batch < 1)
        return nas_err_set(err, NAS_EINVAL, "cpu conv: invalid descriptor (c_in %d, c_out %d, "
                           "groups %d, kernel %d, stride %d, pad %d, input %dx%d)", d->c_in,
                           d->c_out, d->groups, d->kernel, d->stride, d->pad, d->h_in, d->w_in);
    if (d->c_in % d->groups || d->c_out % d->groups)
        return nas_err_set(err, NAS_EINVAL, "cpu conv: %d groups do not divide %d input and %d "
                           "output channels", d->groups, d->c_in, d->c_out);
    int h_out = (d->h_in + 2 * d->pad - d->kernel) / d->stride + 1;
    int w_out = (d->w_in + 2 * d->pad - d->kernel) / d->stride + 1;
    if (d->h_in + 2 * d->pad < d->kernel || h_out != d->h_out || w_out != d->w_out || h_out < 1)
        return nas_err_set(err, NAS_EINVAL, "cpu conv: output %dx%d does not match input %dx%d, "
                           "kernel %d, stride %d, pad %d", d->h_out, d->w_out, d->h_in, d->w_in,
                           d->kernel, d->stride, d->pad);
    nas_conv_plan *p = calloc(1, sizeof(*p));
    if (!p)
        return nas_err_set(err, NAS_ENOMEM, "cpu conv: out of memory for a plan");
    p->d = *d;
    p->max_batch = max_batch;
    p->depthwise = d->groups == d->c_in && d->groups == d->c_out && d->groups > 1;
    p->pointwise = d->kernel == 1 && d->stride == 1 && d->pad == 0 && d->groups == 1;
    int cig = d->c_in / d->groups;
    p->w_elems = (size_t)d->c_out * cig * d->kernel * d->kernel;
    p->col_elems = (p->pointwise || p->depthwise)
                       ? 0
                       : (size_t)cig * d->kernel * d->kernel * d->h_out * d->w_out;
    int rc = cpu_scratch_reserve(cpu_ctx_of(be), p->col_elems + p->w_elems, err);
    if (rc < 0) {
        free(p);
        return rc;
    }
    *out = p;
    return 0;
}

void cpu_conv_plan_free(const nas_backend *be, nas_conv_plan **plan)
{
    (void)be;
    if (!plan)
        return;
    free(*plan);
    *plan = NULL;
}

/* col[(c*k + ky)*k + kx][oy*wo + ox] = x[c][oy*s - p + ky][ox*s - p + kx] (0 outside). */
static void im2col(const nas_conv_desc *d, int channels, const float *x, float *col)
{
    int k = d->kernel, s = d->stride, p = d->pad;
    int hi = d->h_in, wi = d->w_in, ho = d->h_out, wo = d->w_out;
    for (int c = 0; c < channels; c++) {
        const float *xc = x + (size_t)c * hi * wi;
        for (int ky = 0; ky < k; ky++) {
            for (int kx = 0; kx < k; kx++) {
                float *row = col + ((size_t)(c * k + ky) * k + kx) * ho * wo;
                for (int oy = 0; oy < ho; oy++) {
                    int iy = oy * s - p + ky;
                    float *r = row + (size_t)oy * wo;
                    if (iy < 0 || iy >= hi) {
                        memset(r, 0, sizeof(float) * wo);
                        continue;
                    }
                    const float *xr = xc + (size_t)iy * wi;
                    if (s == 1) {
                        int lo = p - kx > 0 ? p - kx : 0;  /* first ox with ix >= 0 */
                        int hi_ox = wi + p - kx;           /* first ox with ix >= wi */
                        if (hi_ox > wo)
                            hi_ox = wo;
                        for (int ox = 0; ox < lo && ox < wo; ox++)
                            r[ox] = 0.0f;
                        if (hi_ox > lo)
                            memcpy(r + lo, xr + lo - p + kx, sizeof(float) * (hi_ox - lo));
                        for (int ox = hi_ox > lo ? hi_ox : lo; ox < wo; ox++)
                            r[ox] = 0.0f;
                    } else {
                        for (int ox = 0; ox < wo; ox++) {
                            int ix = ox * s - p + kx;
                            r[ox] = (ix >= 0 && ix < wi) ? xr[ix] : 0.0f;
                        }
                    }
                }
            }
        }
    }
}

static void valid_range(int size, int out, int s, int p, int tap, int *lo, int *hi);

/* x[c][iy][ix] += col[...] (the adjoint of im2col); x must be initialised. */
static void col2im(const nas_conv_desc *d, int channels, const float *col, float *x)
{
    int k = d->kernel, s = d->stride, p = d->pad;
    int hi = d->h_in, wi = d->w_in, ho = d->h_out, wo = d->w_out;
    for (int c = 0; c < channels; c++) {
        float *xc = x + (size_t)c * hi * wi;
        for (int ky = 0; ky < k; ky++) {
            int oy0, oy1;
            valid_range(hi, ho, s, p, ky, &oy0, &oy1);
            for (int kx = 0; kx < k; kx++) {
                int ox0, ox1;
                valid_range(wi, wo, s, p, kx, &ox0, &ox1);
                const float *row = col + ((size_t)(c * k + ky) * k + kx) * ho * wo;
                for (int oy = oy0; oy < oy1; oy++) {
                    float *xr = xc + (size_t)(oy * s - p + ky) * wi - p + kx;
                    const float *r = row + (size_t)oy * wo;
                    if (s == 1) {
                        for (int ox = ox0; ox < ox1; ox++)
                            xr[ox] += r[ox];
                    } else {
                        for (int ox = ox0; ox < ox1; ox++)
                            xr[ox * s] += r[ox];
                    }
                }
            }
        }
    }
}

/* Range [*lo, *hi) of output positions o whose input o*s - p + tap is inside [0, size). */
static void valid_range(int size, int out, int s, int p, int tap, int *lo, int *hi)
{
    int first = p - tap; /* o*s >= p - tap */
    int l = first <= 0 ? 0 : (first + s - 1) / s;
    int last = size - 1 + p - tap; /* o*s <= size-1+p-tap */
    int h = last < 0 ? 0 : last / s + 1;
    if (h > out)
        h = out;
    *lo = l;
    *hi = h > l ? h : l;
}

/* One depthwise plane: y (+)= conv(x, w) for a single channel of a single image. */
static void dw_plane_fwd(const nas_conv_desc *d, const float *x, const float *w, float *y)
{
    int k = d->kernel, s = d->stride, p = d->pad;
    int hi = d->h_in, wi = d->w_in, ho = d->h_out, wo = d->w_out;
    for (int ky = 0; ky < k; ky++) {
        int oy0, oy1;
        valid_range(hi, ho, s, p, ky, &oy0, &oy1);
        for (int kx = 0; kx < k; kx++) {
            int ox0, ox1;
            valid_range(wi, wo, s, p, kx, &ox0, &ox1);
            float wv = w[ky * k + kx];
            for (int oy = oy0; oy < oy1; oy++) {
                const float *xr = x + (size_t)(oy * s - p + ky) * wi - p + kx;
                float *yr = y + (size_t)oy * wo;
                if (s == 1) {
                    for (int ox = ox0; ox < ox1; ox++)
                        yr[ox] += wv * xr[ox];
                } else {
                    for (int ox = ox0; ox < ox1; ox++)
                        yr[ox] += wv * xr[ox * s];
                }
            }
        }
    }
}

static void dw_plane_bwd_data(const nas_conv_desc *d, const float *dy, const float *w, float *dx)
{
    int k = d->kernel, s = d->stride, p = d->pad;
    int hi = d->h_in, wi = d->w_in, ho = d->h_out, wo = d->w_out;
    for (int ky = 0; ky < k; ky++) {
        int oy0, oy1;
        valid_range(hi, ho, s, p, ky, &oy0, &oy1);
        for (int kx = 0; kx < k; kx++) {
            int ox0, ox1;
            valid_range(wi, wo, s, p, kx, &ox0, &ox1);
            float wv = w[ky * k + kx];
            for (int oy = oy0; oy < oy1; oy++) {
                float *xr = dx + (size_t)(oy * s - p + ky) * wi - p + kx;
                const float *yr = dy + (size_t)oy * wo;
                if (s == 1) {
                    for (int ox = ox0; ox < ox1; ox++)
                        xr[ox] += wv * yr[ox];
                } else {
                    for (int ox = ox0; ox < ox1; ox++)
                        xr[ox * s] += wv * yr[ox];
                }
            }
        }
    }
}

/* dw[tap] += sum over the plane of dy * shifted x. */
static void dw_plane_bwd_filter(const nas_conv_desc *d, const float *x, const float *dy, float *dw)
{
    int k = d->kernel, s = d->stride, p = d->pad;
    int hi = d->h_in, wi = d->w_in, ho = d->h_out, wo = d->w_out;
    for (int ky = 0; ky < k; ky++) {
        int oy0, oy1;
        valid_range(hi, ho, s, p, ky, &oy0, &oy1);
        for (int kx = 0; kx < k; kx++) {
            int ox0, ox1;
            valid_range(wi, wo, s, p, kx, &ox0, &ox1);
            float acc = 0.0f;
            for (int oy = oy0; oy < oy1; oy++) {
                const float *xr = x + (size_t)(oy * s - p + ky) * wi - p + kx;
                const float *yr = dy + (size_t)oy * wo;
                if (s == 1) {
                    for (int ox = ox0; ox < ox1; ox++)
                        acc += yr[ox] * xr[ox];
                } else {
                    for (int ox = ox0; ox < ox1; ox++)
                        acc += yr[ox] * xr[ox * s];
                }
            }
            dw[ky * k + kx] += acc;
        }
    }
}

/* y[c][:] = act(y[c][:] + bias[c]) for one image. */
static void bias_act_epilogue(float *y, int channels, int plane, const float *bias,
                              nas_actfn act)
{
    for (int c = 0; c < channels; c++) {
        float b = bias ? bias[c] : 0.0f;
        float *yc = y + (size_t)c * plane;
        switch (act) {
        case NAS_ACTFN_RELU:
            for (int i = 0; i < plane; i++) {
                float v = yc[i] + b;
                yc[i] = v > 0.0f ? v : 0.0f;
            }
            break;
        case NAS_ACTFN_SWISH:
            for (int i = 0; i < plane; i++) {
                float v = yc[i] + b;
                yc[i] = v * cpu_sigmoidf(v);
            }
            break;
        case NAS_ACTFN_SIGMOID:
            for (int i = 0; i < plane; i++)
                yc[i] = cpu_sigmoidf(yc[i] + b);
            break;
        case NAS_ACTFN_NONE:
            if (bias)
                for (int i = 0; i < plane; i++)
                    yc[i] += b;
            break;
        }
    }
}

static int thread_id(void)
{
#ifdef _OPENMP
    return omp_get_thread_num();
#else
    return 0;
#endif
}

static int check_batch(const nas_conv_plan *plan, int n, nas_err *err)
{
    if (n < 1 || n > plan->max_batch)
        return nas_err_set(err, NAS_ERANGE, "cpu conv: batch %d outside [1, %d] of its plan", n,
                           plan->max_batch);
    return 0;
}

/* Forward of one image through the gemm paths (pointwise / im2col). */
static void conv_image_fwd(const cpu_ctx *ctx, bool parallel_gemm, const nas_conv_plan *plan,
                           const float *x, const float *w, float *y, float *col)
{
    const nas_conv_desc *d = &plan->d;
    int g = d->groups, cig = d->c_in / g, cog = d->c_out / g;
    int howo = d->h_out * d->w_out, kk = cig * d->kernel * d->kernel;
    if (plan->pointwise) {
        cpu_sgemm(ctx, parallel_gemm, false, false, d->c_out, howo, d->c_in, 1.0f, w, d->c_in, x,
                  howo, 0.0f, y, howo);
        return;
    }
    for (int gi = 0; gi < g; gi++) {
        im2col(d, cig, x + (size_t)gi * cig * d->h_in * d->w_in, col);
        cpu_sgemm(ctx, parallel_gemm, false, false, cog, howo, kk, 1.0f, w + (size_t)gi * cog * kk,
                  kk, col, howo, 0.0f, y + (size_t)gi * cog * howo, howo);
    }
}

int cpu_conv_fwd(const nas_backend *be, const nas_conv_plan *plan, int n, const nas_buf *x,
                 const nas_buf *w, const nas_buf *bias, nas_actfn act, nas_buf *y, nas_err *err)
{
    int rc = check_batch(plan, n, err);
    if (rc < 0)
        return rc;
    const cpu_ctx *ctx = cpu_ctx_of(be);
    const nas_conv_desc *d = &plan->d;
    size_t in_img = (size_t)d->c_in * d->h_in * d->w_in;
    size_t out_img = (size_t)d->c_out * d->h_out * d->w_out;
    int plane = d->h_out * d->w_out;
    const float *xf = x->data.f, *wf = w->data.f, *bf = bias ? bias->data.f : NULL;
    float *yf = y->data.f;

    if (plan->depthwise) {
        int k2 = d->kernel * d->kernel;
        long planes = (long)n * d->c_out;
#pragma omp parallel for num_threads(ctx->threads) schedule(static) \
    if ((size_t)planes * plane > CPU_PAR_MIN)
        for (long i = 0; i < planes; i++) {
            int c = (int)(i % d->c_out);
            float *yp = yf + (size_t)i * plane;
            memset(yp, 0, sizeof(float) * plane);
            dw_plane_fwd(d, xf + (size_t)i * d->h_in * d->w_in, wf + (size_t)c * k2, yp);
            if (bf || act != NAS_ACTFN_NONE) {
                float bias_c = bf ? bf[c] : 0.0f;
                bias_act_epilogue(yp, 1, plane, bf ? &bias_c : NULL, act);
            }
        }
        return 0;
    }
    if (n >= ctx->threads) {
#pragma omp parallel for num_threads(ctx->threads) schedule(static) \
    if ((size_t)n * out_img > CPU_PAR_MIN)
        for (int i = 0; i < n; i++) {
            float *col = ctx->scratch[thread_id()];
            conv_image_fwd(ctx, false, plan, xf + i * in_img, wf, yf + i * out_img, col);
            if (bf || act != NAS_ACTFN_NONE)
                bias_act_epilogue(yf + i * out_img, d->c_out, plane, bf, act);
        }
    } else {
        for (int i = 0; i < n; i++) {
            conv_image_fwd(ctx, true, plan, xf + i * in_img, wf, yf + i * out_img, ctx->scratch[0]);
            if (bf || act != NAS_ACTFN_NONE)
                bias_act_epilogue(yf + i * out_img, d->c_out, plane, bf, act);
        }
    }
    return 0;
}

static void conv_image_bwd_data(const cpu_ctx *ctx, bool parallel_gemm, const nas_conv_plan *plan,
                                const float *dy, const float *w, float *dx, bool accumulate,
                                float *col)
{
    const nas_conv_desc *d = &plan->d;
    int g = d->groups, cig = d->c_in / g, cog = d->c_out / g;
    int howo = d->h_out * d->w_out, kk = cig * d->kernel * d->kernel;
    size_t in_plane = (size_t)d->h_in * d->w_in;
    if (plan->pointwise) {
        cpu_sgemm(ctx, parallel_gemm, true, false, d->c_in, howo, d->c_out, 1.0f, w, d->c_in, dy,
                  howo, accumulate ? 1.0f : 0.0f, dx, howo);
        return;
    }
    if (!accumulate)
        memset(dx, 0, sizeof(float) * d->c_in * in_plane);
    for (int gi = 0; gi < g; gi++) {
        cpu_sgemm(ctx, parallel_gemm, true, false, kk, howo, cog, 1.0f, w + (size_t)gi * cog * kk,
                  kk, dy + (size_t)gi * cog * howo, howo, 0.0f, col, howo);
        col2im(d, cig, col, dx + (size_t)gi * cig * in_plane);
    }
}

int cpu_conv_bwd_data(const nas_backend *be, const nas_conv_plan *plan, int n, const nas_buf *dy,
                      const nas_buf *w, nas_buf *dx, bool accumulate, nas_err *err)
{
    int rc = check_batch(plan, n, err);
    if (rc < 0)
        return rc;
    const cpu_ctx *ctx = cpu_ctx_of(be);
    const nas_conv_desc *d = &plan->d;
    size_t in_img = (size_t)d->c_in * d->h_in * d->w_in;
    size_t out_img = (size_t)d->c_out * d->h_out * d->w_out;
    const float *dyf = dy->data.f, *wf = w->data.f;
    float *dxf = dx->data.f;

    if (plan->depthwise) {
        int k2 = d->kernel * d->kernel;
        size_t in_plane = (size_t)d->h_in * d->w_in;
        long planes = (long)n * d->c_in;
#pragma omp parallel for num_threads(ctx->threads) schedule(static) \
    if ((size_t)planes * in_plane > CPU_PAR_MIN)
        for (long i = 0; i < planes; i++) {
            int c = (int)(i % d->c_in);
            float *xp = dxf + (size_t)i * in_plane;
            if (!accumulate)
                memset(xp, 0, sizeof(float) * in_plane);
            dw_plane_bwd_data(d, dyf + (size_t)i * d->h_out * d->w_out, wf + (size_t)c * k2, xp);
        }
        return 0;
    }
    if (n >= ctx->threads) {
#pragma omp parallel for num_threads(ctx->threads) schedule(static) \
    if ((size_t)n * in_img > CPU_PAR_MIN)
        for (int i = 0; i < n; i++)
            conv_image_bwd_data(ctx, false, plan, dyf + i * out_img, wf, dxf + i * in_img,
                                accumulate, ctx->scratch[thread_id()]);
    } else {
        for (int i = 0; i < n; i++)
            conv_image_bwd_data(ctx, true, plan, dyf + i * out_img, wf, dxf + i * in_img,
                                accumulate, ctx->scratch[0]);
    }
    return 0;
}

/* dw (+)= dy_image . col(x_image)^T for one image. */
static void conv_image_bwd_filter(const cpu_ctx *ctx, bool parallel_gemm,
                                  const nas_conv_plan *plan, const float *x, const float *dy,
                                  float *dw, float beta, float *col)
{
    const nas_conv_desc *d = &plan->d;
    int g = d->groups, cig = d->c_in / g, cog = d->c_out / g;
    int howo = d->h_out * d->w_out, kk = cig * d->kernel * d->kernel;
    if (plan->pointwise) {
        cpu_sgemm(ctx, parallel_gemm, false, true, d->c_out, d->c_in, howo, 1.0f, dy, howo, x,
                  howo, beta, dw, d->c_in);
        return;
    }
    for (int gi = 0; gi < g; gi++) {
        im2col(d, cig, x + (size_t)gi * cig * d->h_in * d->w_in, col);
        cpu_sgemm(ctx, parallel_gemm, false, true, cog, kk, howo, 1.0f,
                  dy + (size_t)gi * cog * howo, howo, col, howo, beta, dw + (size_t)gi * cog * kk,
                  kk);
    }
}

int cpu_conv_bwd_filter(const nas_backend *be, const nas_conv_plan *plan, int n, const nas_buf *x,
                        const nas_buf *dy, nas_buf *dw, nas_buf *dbias, nas_err *err)
{
    int rc = check_batch(plan, n, err);
    if (rc < 0)
        return rc;
    const cpu_ctx *ctx = cpu_ctx_of(be);
    const nas_conv_desc *d = &plan->d;
    size_t in_img = (size_t)d->c_in * d->h_in * d->w_in;
    size_t out_img = (size_t)d->c_out * d->h_out * d->w_out;
    int plane = d->h_out * d->w_out;
    const float *xf = x->data.f, *dyf = dy->data.f;

    if (dbias) {
        float *db = dbias->data.f;
#pragma omp parallel for num_threads(ctx->threads) schedule(static) \
    if ((size_t)n * out_img > CPU_PAR_MIN)
        for (int c = 0; c < d->c_out; c++) {
            double acc = 0.0;
            for (int i = 0; i < n; i++) {
                const float *p = dyf + i * out_img + (size_t)c * plane;
                for (int j = 0; j < plane; j++)
                    acc += p[j];
            }
            db[c] = (float)acc;
        }
    }
    if (!dw)
        return 0;
    float *dwf = dw->data.f;

    if (plan->depthwise) {
        int k2 = d->kernel * d->kernel;
        size_t in_plane = (size_t)d->h_in * d->w_in;
#pragma omp parallel for num_threads(ctx->threads) schedule(static) \
    if ((size_t)n * in_img > CPU_PAR_MIN)
        for (int c = 0; c < d->c_in; c++) {
            float *wc = dwf + (size_t)c * k2;
            memset(wc, 0, sizeof(float) * k2);
            for (int i = 0; i < n; i++)
                dw_plane_bwd_filter(d, xf + i * in_img + c * in_plane, dyf + i * out_img + c * plane,
                                    wc);
        }
        return 0;
    }
    if (n >= ctx->threads) {
        /* Each thread sums its images into a private partial, then the partials are added. */
        int threads = ctx->threads;
        size_t w_elems = plan->w_elems;
        int used[256] = {0};
#pragma omp parallel num_threads(threads) if ((size_t)n * out_img > CPU_PAR_MIN)
        {
            int t = thread_id();
            float *scratch = ctx->scratch[t];
            float *partial = scratch + plan->col_elems;
            bool first = true;
#pragma omp for schedule(static)
            for (int i = 0; i < n; i++) {
                conv_image_bwd_filter(ctx, false, plan, xf + i * in_img, dyf + i * out_img, partial,
                                      first ? 0.0f : 1.0f, scratch);
                first = false;
            }
            used[t] = !first;
#pragma omp barrier
#pragma omp for schedule(static)
            for (size_t j = 0; j < w_elems; j++) {
                float acc = 0.0f;
                for (int u = 0; u < threads; u++)
                    if (used[u])
                        acc += ctx->scratch[u][plan->col_elems + j];
                dwf[j] = acc;
            }
        }
    } else {
        for (int i = 0; i < n; i++)
            conv_image_bwd_filter(ctx, true, plan, xf + i * in_img, dyf + i * out_img, dwf,
                                  i == 0 ? 0.0f : 1.0f, ctx->scratch[0]);
    }
    return 0;
}
