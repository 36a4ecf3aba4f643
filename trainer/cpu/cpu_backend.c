/*
 * trainer/cpu/cpu_backend.c - the CPU backend's table, memory and threads.
 *
 * Owns what is not a kernel: creating and freeing the backend, buffers
 * (64-byte aligned host memory), upload/download (plain copies: the CPU
 * layout is the logical NCHW / PyTorch layout), fill/copy, the per-thread
 * scratch that convolutions share, and the helper that runs an sgemm on one
 * thread or split across all of them. The kernels live in cpu_conv.c,
 * cpu_norm.c, cpu_elementwise.c and cpu_dense.c.
 */
#include <cblas.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "trainer/cpu/cpu_internal.h"

/* OpenBLAS extension (declared by its cblas.h, repeated here so the code does
 * not depend on which cblas.h is found first). */
void openblas_set_num_threads(int num_threads);

static void *cpu_aligned_alloc(size_t bytes)
{
    void *p = NULL;
    if (bytes == 0)
        bytes = 64;
    if (posix_memalign(&p, 64, bytes) != 0)
        return NULL;
    return p;
}

int cpu_scratch_reserve(cpu_ctx *ctx, size_t elems, nas_err *err)
{
    if (elems <= ctx->scratch_elems)
        return 0;
    for (int t = 0; t < ctx->threads; t++) {
        float *p = cpu_aligned_alloc(elems * sizeof(float));
        if (!p)
            return nas_err_set(err, NAS_ENOMEM,
                               "cpu backend: cannot allocate %zu MiB of convolution scratch",
                               elems * sizeof(float) >> 20);
        free(ctx->scratch[t]);
        ctx->scratch[t] = p;
    }
    ctx->scratch_elems = elems;
    return 0;
}

void cpu_sgemm(const cpu_ctx *ctx, bool parallel, bool trans_a, bool trans_b, int m, int n, int k,
               float alpha, const float *a, int lda, const float *b, int ldb, float beta, float *c,
               int ldc)
{
    enum CBLAS_TRANSPOSE ta = trans_a ? CblasTrans : CblasNoTrans;
    enum CBLAS_TRANSPOSE tb = trans_b ? CblasTrans : CblasNoTrans;
    int threads = ctx->threads;
    /* Splitting only pays when each thread still gets a reasonable panel. */
    if (!parallel || threads <= 1 || n < 64 * threads || (double)m * n * k < 4e5) {
        cblas_sgemm(CblasRowMajor, ta, tb, m, n, k, alpha, a, lda, b, ldb, beta, c, ldc);
        return;
    }
#pragma omp parallel num_threads(threads)
    {
        int t = 0, nt = 1;
#ifdef _OPENMP
        t = omp_get_thread_num();
        nt = omp_get_num_threads();
#endif
        /* column panels rounded to 16 for aligned vector loads */
        int chunk = ((n + nt - 1) / nt + 15) / 16 * 16;
        int n0 = t * chunk;
        int n1 = n0 + chunk < n ? n0 + chunk : n;
        if (n0 < n1) {
            const float *bp = trans_b ? b + (size_t)n0 * ldb : b + n0;
            cblas_sgemm(CblasRowMajor, ta, tb, m, n1 - n0, k, alpha, a, lda, bp, ldb, beta, c + n0,
                        ldc);
        }
    }
}

/* ---- memory ---- */

static int cpu_buf_new(const nas_backend *be, nas_buf_kind kind, nas_shape shape, nas_buf **out,
                       nas_err *err)
{
    (void)be;
    *out = NULL;
    if (shape.n < 1 || shape.c < 1 || shape.h < 1 || shape.w < 1)
        return nas_err_set(err, NAS_EINVAL, "cpu backend: buffer shape %dx%dx%dx%d has an empty "
                           "dimension", shape.n, shape.c, shape.h, shape.w);
    nas_buf *b = calloc(1, sizeof(*b));
    if (!b)
        return nas_err_set(err, NAS_ENOMEM, "cpu backend: out of memory for a buffer header");
    b->kind = kind;
    b->shape = shape;
    b->count = nas_shape_count(shape);
    size_t elem = kind == NAS_BUF_I32 ? sizeof(int32_t) : sizeof(float);
    b->data.raw = cpu_aligned_alloc(b->count * elem);
    if (!b->data.raw) {
        size_t mib = b->count * elem >> 20;
        free(b);
        return nas_err_set(err, NAS_ENOMEM, "cpu backend: cannot allocate %zu MiB for a %dx%dx%dx%d "
                           "buffer", mib, shape.n, shape.c, shape.h, shape.w);
    }
    /* Zeroed so that a buffer read before its first write is deterministic. */
    memset(b->data.raw, 0, b->count * elem);
    *out = b;
    return 0;
}

static void cpu_buf_free(const nas_backend *be, nas_buf **buf)
{
    (void)be;
    if (!buf || !*buf)
        return;
    free((*buf)->data.raw);
    free(*buf);
    *buf = NULL;
}

static int cpu_check_count(const nas_buf *b, size_t count, const char *op, nas_err *err)
{
    if (count > b->count)
        return nas_err_set(err, NAS_ERANGE, "cpu backend: %s of %zu elements into a buffer of %zu",
                           op, count, b->count);
    return 0;
}

static int cpu_upload(const nas_backend *be, nas_buf *dst, const void *src, size_t count,
                      nas_err *err)
{
    (void)be;
    int rc = cpu_check_count(dst, count, "upload", err);
    if (rc < 0)
        return rc;
    memcpy(dst->data.raw, src, count * (dst->kind == NAS_BUF_I32 ? 4 : sizeof(float)));
    return 0;
}

static int cpu_download(const nas_backend *be, const nas_buf *src, void *dst, size_t count,
                        nas_err *err)
{
    (void)be;
    int rc = cpu_check_count(src, count, "download", err);
    if (rc < 0)
        return rc;
    memcpy(dst, src->data.raw, count * (src->kind == NAS_BUF_I32 ? 4 : sizeof(float)));
    return 0;
}

static int cpu_fill(const nas_backend *be, nas_buf *dst, float value, size_t count, nas_err *err)
{
    (void)be;
    int rc = cpu_check_count(dst, count, "fill", err);
    if (rc < 0)
        return rc;
    if (dst->kind == NAS_BUF_I32)
        return nas_err_set(err, NAS_EINVAL, "cpu backend: fill of an int32 buffer");
    float *d = dst->data.f;
    for (size_t i = 0; i < count; i++)
        d[i] = value;
    return 0;
}

static int cpu_copy(const nas_backend *be, nas_buf *dst, const nas_buf *src, size_t count,
                    nas_err *err)
{
    (void)be;
    int rc = cpu_check_count(dst, count, "copy", err);
    if (rc == 0)
        rc = cpu_check_count(src, count, "copy", err);
    if (rc < 0)
        return rc;
    memcpy(dst->data.raw, src->data.raw, count * (src->kind == NAS_BUF_I32 ? 4 : sizeof(float)));
    return 0;
}

static int cpu_sync(const nas_backend *be, nas_err *err)
{
    (void)be;
    (void)err;
    return 0; /* every CPU op has finished when it returns */
}

static const char *cpu_device_name(const nas_backend *be) { return cpu_ctx_of(be)->device; }

static void cpu_destroy(nas_backend *be)
{
    cpu_ctx *ctx = cpu_ctx_of(be);
    if (ctx) {
        for (int t = 0; t < ctx->threads; t++)
            free(ctx->scratch[t]);
        free(ctx->scratch);
        free(ctx);
    }
    free(be);
}

/* First "model name" line of /proc/cpuinfo, or "unknown CPU". */
static void cpu_model_name(char *out, size_t size)
{
    snprintf(out, size, "unknown CPU");
    FILE *f = fopen("/proc/cpuinfo", "r");
    if (!f)
        return;
    char line[512];
    while (fgets(line, sizeof(line), f)) {
        if (strncmp(line, "model name", 10) == 0) {
            char *colon = strchr(line, ':');
            if (colon) {
                colon++;
                while (*colon == ' ' || *colon == '\t')
                    colon++;
                colon[strcspn(colon, "\n")] = '\0';
                snprintf(out, size, "%s", colon);
            }
            break;
        }
    }
    fclose(f);
}

int nas_backend_cpu_new(int threads, nas_backend **out, nas_err *err)
{
    *out = NULL;
    if (threads <= 0) {
        long online = sysconf(_SC_NPROCESSORS_ONLN);
        threads = online > 0 ? (int)online : 1;
    }
    if (threads > 256)
        return nas_err_set(err, NAS_ERANGE, "cpu backend: %d threads is more than the 256 supported",
                           threads);
    nas_backend *be = calloc(1, sizeof(*be));
    cpu_ctx *ctx = calloc(1, sizeof(*ctx));
    float **scratch = calloc((size_t)threads, sizeof(*scratch));
    if (!be || !ctx || !scratch) {
        free(be);
        free(ctx);
        free(scratch);
        return nas_err_set(err, NAS_ENOMEM, "cpu backend: out of memory");
    }
    ctx->threads = threads;
    ctx->scratch = scratch;
    char model[128];
    cpu_model_name(model, sizeof(model));
    snprintf(ctx->device, sizeof(ctx->device), "cpu: %s x %d threads", model, threads);
    /* See cpu_internal.h: parallelism comes from our own loops. */
    openblas_set_num_threads(1);

    be->name = "cpu";
    be->self = ctx;
    be->destroy = cpu_destroy;
    be->device_name = cpu_device_name;
    be->buf_new = cpu_buf_new;
    be->buf_free = cpu_buf_free;
    be->upload = cpu_upload;
    be->download = cpu_download;
    be->fill = cpu_fill;
    be->copy = cpu_copy;
    be->conv_plan_new = cpu_conv_plan_new;
    be->conv_plan_free = cpu_conv_plan_free;
    be->conv_fwd = cpu_conv_fwd;
    be->conv_bwd_data = cpu_conv_bwd_data;
    be->conv_bwd_filter = cpu_conv_bwd_filter;
    be->bn_fwd = cpu_bn_fwd;
    be->bn_bwd = cpu_bn_bwd;
    be->act_fwd = cpu_act_fwd;
    be->act_bwd = cpu_act_bwd;
    be->add = cpu_add;
    be->se_scale_fwd = cpu_se_scale_fwd;
    be->se_scale_bwd = cpu_se_scale_bwd;
    be->pool_fwd = cpu_pool_fwd;
    be->pool_bwd = cpu_pool_bwd;
    be->dropout_fwd = cpu_dropout_fwd;
    be->dropout_bwd = cpu_dropout_bwd;
    be->fc_fwd = cpu_fc_fwd;
    be->fc_bwd = cpu_fc_bwd;
    be->softmax_xent = cpu_softmax_xent;
    be->sgd_step = cpu_sgd_step;
    be->sync = cpu_sync;
    *out = be;
    return 0;
}

void nas_backend_free(nas_backend **be)
{
    if (!be || !*be)
        return;
    (*be)->destroy(*be);
    *be = NULL;
}

float nas_dropout_keep_scale(uint64_t seed, uint64_t index, float p)
{
    uint64_t z = seed ^ (index * 0x9E3779B97F4A7C15ull);
    z += 0x9E3779B97F4A7C15ull;
    z = (z ^ (z >> 30)) * 0xBF58476D1CE4E5B9ull;
    z = (z ^ (z >> 27)) * 0x94D049BB133111EBull;
    z ^= z >> 31;
    float u = (float)(z >> 40) * (1.0f / 16777216.0f); /* top 24 bits in [0,1) */
    return u < p ? 0.0f : 1.0f / (1.0f - p);
}
