/*
 * trainer/cpu/cpu_dense.c - fully connected layer, softmax cross-entropy
 * with label smoothing, and the SGD step of the CPU backend.
 *
 * The fully connected layer is three sgemms (forward, input gradient,
 * weight gradient) split over threads by cpu_sgemm. The loss computes
 * log-softmax with the max subtracted (no overflow for large logits) and
 * accumulates its statistics in double before adding them to the float
 * stats buffer.
 */
#include <math.h>

#include "trainer/cpu/cpu_internal.h"

int cpu_fc_fwd(const nas_backend *be, int n, int in, int out, const nas_buf *x, const nas_buf *w,
               const nas_buf *b, nas_buf *y, nas_err *err)
{
    (void)err;
    const cpu_ctx *ctx = cpu_ctx_of(be);
    float *yf = y->data.f;
    cpu_sgemm(ctx, true, false, true, n, out, in, 1.0f, x->data.f, in, w->data.f, in, 0.0f, yf, out);
    if (b) {
        const float *bf = b->data.f;
        for (int i = 0; i < n; i++)
            for (int o = 0; o < out; o++)
                yf[(size_t)i * out + o] += bf[o];
    }
    return 0;
}

int cpu_fc_bwd(const nas_backend *be, int n, int in, int out, const nas_buf *x, const nas_buf *w,
               const nas_buf *dy, nas_buf *dx, bool accumulate, nas_buf *dw, nas_buf *db,
               nas_err *err)
{
    (void)err;
    const cpu_ctx *ctx = cpu_ctx_of(be);
    const float *dyf = dy->data.f;
    if (dx)
        cpu_sgemm(ctx, true, false, false, n, in, out, 1.0f, dyf, out, w->data.f, in,
                  accumulate ? 1.0f : 0.0f, dx->data.f, in);
    if (dw)
        cpu_sgemm(ctx, true, true, false, out, in, n, 1.0f, dyf, out, x->data.f, in, 0.0f,
                  dw->data.f, in);
    if (db) {
        float *dbf = db->data.f;
        for (int o = 0; o < out; o++) {
            double acc = 0.0;
            for (int i = 0; i < n; i++)
                acc += dyf[(size_t)i * out + o];
            dbf[o] = (float)acc;
        }
    }
    return 0;
}

int cpu_softmax_xent(const nas_backend *be, int n, int classes, const nas_buf *logits,
                     const nas_buf *labels, float smoothing, float grad_scale, nas_buf *dlogits,
                     nas_buf *stats, nas_err *err)
{
    (void)be;
    const float *lf = logits->data.f;
    const int32_t *lab = labels->data.i;
    float *df = dlogits ? dlogits->data.f : NULL;
    for (int i = 0; i < n; i++)
        if (lab[i] < 0 || lab[i] >= classes)
            return nas_err_set(err, NAS_ERANGE, "softmax cross-entropy: label %d of image %d is "
                               "outside [0, %d)", (int)lab[i], i, classes);
    double loss_sum = 0.0, top1 = 0.0, top5 = 0.0;
    double off = smoothing / classes, on = 1.0 - smoothing + off;
    for (int i = 0; i < n; i++) {
        const float *z = lf + (size_t)i * classes;
        int y = lab[i];
        float zmax = z[0];
        for (int j = 1; j < classes; j++)
            zmax = z[j] > zmax ? z[j] : zmax;
        double sum = 0.0, sum_z = 0.0;
        for (int j = 0; j < classes; j++) {
            sum += exp((double)z[j] - zmax);
            sum_z += (double)z[j] - zmax;
        }
        double log_sum = log(sum);
        /* loss = -sum_j t_j log p_j with t = off everywhere + (on - off) at y */
        double logp_y = (double)z[y] - zmax - log_sum;
        double sum_logp = sum_z - classes * log_sum;
        loss_sum += -(on - off) * logp_y - off * sum_logp;
        int rank = 0; /* classes at least as large as the label's, ties count against */
        for (int j = 0; j < classes; j++)
            if (j != y && z[j] >= z[y])
                rank++;
        top1 += rank < 1;
        top5 += rank < 5;
        if (df) {
            float *d = df + (size_t)i * classes;
            for (int j = 0; j < classes; j++) {
                double p = exp((double)z[j] - zmax - log_sum);
                double t = j == y ? on : off;
                d[j] = (float)((p - t) * grad_scale);
            }
        }
    }
    if (stats) {
        float *s = stats->data.f;
        s[NAS_LOSS_STAT_LOSS_SUM] += (float)loss_sum;
        s[NAS_LOSS_STAT_TOP1] += (float)top1;
        s[NAS_LOSS_STAT_TOP5] += (float)top5;
        s[NAS_LOSS_STAT_COUNT] += (float)n;
    }
    return 0;
}

int cpu_sgd_step(const nas_backend *be, const nas_sgd_tensor *tensors, int n_tensors,
                 const nas_sgd_hparams *hp, bool *stepped, nas_err *err)
{
    const cpu_ctx *ctx = cpu_ctx_of(be);
    float lr = hp->lr, mu = hp->momentum, wd = hp->weight_decay;
    for (int t = 0; t < n_tensors; t++) {
        const nas_sgd_tensor *st = &tensors[t];
        if (mu != 0.0f && !st->momentum)
            return nas_err_set(err, NAS_EINVAL, "sgd step: tensor %d has no momentum buffer", t);
    }
    for (int t = 0; t < n_tensors; t++) {
        const nas_sgd_tensor *st = &tensors[t];
        float *p = st->param->data.f, *m = st->momentum ? st->momentum->data.f : NULL;
        const float *g = st->grad->data.f;
        float decay = st->decay ? wd : 0.0f;
        long cnt = (long)st->count;
        bool nesterov = hp->nesterov;
#pragma omp parallel for num_threads(ctx->threads) schedule(static) if (cnt > CPU_PAR_MIN)
        for (long i = 0; i < cnt; i++) {
            float gi = g[i] + decay * p[i];
            if (m) {
                m[i] = mu * m[i] + gi;
                gi = nesterov ? gi + mu * m[i] : m[i];
            }
            p[i] -= lr * gi;
        }
    }
    if (stepped)
        *stepped = true;
    return 0;
}
