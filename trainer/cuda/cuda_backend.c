/*
 * trainer/cuda/cuda_backend.c - the CUDA backend's context: device and
 * library handles, memory (buffers, scratch, weight shadows), transfers
 * through pinned staging on a copy stream ahead of the compute, the loss,
 * the optimiser step with dynamic loss scaling, and sync. Ops on tensors
 * live in cuda_conv.c and cuda_ops.c.
 *
 * Asynchrony: every op enqueues on ctx->stream and returns; failures inside
 * kernels surface at the next sync or download (allowed by backend.h). The
 * host blocks only in download, sync, an fp16 optimiser step (it must know
 * whether the step overflowed) and when a staging slot is still in flight.
 */
#include "trainer/cuda/cuda_internal.h"

#include <assert.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "common/log.h"
#include "trainer/cuda/status.h"

_Static_assert((int)NAS_ACTFN_NONE == (int)NAS_CUK_ACT_NONE &&
                   (int)NAS_ACTFN_RELU == (int)NAS_CUK_ACT_RELU &&
                   (int)NAS_ACTFN_SWISH == (int)NAS_CUK_ACT_SWISH &&
                   (int)NAS_ACTFN_SIGMOID == (int)NAS_CUK_ACT_SIGMOID,
               "kernels.h activation numbering must follow nas_actfn");
_Static_assert(NAS_LOSS_STATS == 4, "k_loss.cu writes four statistics");

static const char *const precision_names[] = {"fp32", "fp16", "bf16"};

int nas_cuda_precision_parse(const char *name, nas_cuda_precision *out, nas_err *err) {
    for (int i = 0; i < 3; i++)
        if (name && strcmp(name, precision_names[i]) == 0) {
            *out = (nas_cuda_precision)i;
            return 0;
        }
    return nas_err_set(err, NAS_EINVAL, "unknown precision '%s' (expected fp32, fp16 or bf16)",
                       name ? name : "(null)");
}

const char *nas_cuda_precision_name(nas_cuda_precision p) {
    return (unsigned)p < 3 ? precision_names[p] : "?";
}

void nas_cuda_options_default(nas_cuda_options *opt) {
    *opt = (nas_cuda_options){.device = 0, .precision = NAS_CUDA_BF16, .benchmark_algos = true,
                              .workspace_limit = (size_t)1 << 30};
}

int nas_cuda_device_count(void) {
    int count = 0;
    if (cudaGetDeviceCount(&count) != cudaSuccess) {
        (void)cudaGetLastError(); /* no driver / no GPU: not sticky, clear it */
        return 0;
    }
    return count;
}

/* ---- memory ---- */

int cuda_dev_alloc(cuda_ctx *ctx, size_t bytes, const char *what, void **out, nas_err *err) {
    *out = NULL;
    if (bytes == 0) bytes = 1; /* a valid distinct pointer for empty buffers */
    cudaError_t rc = cudaMalloc(out, bytes);
    if (rc == cudaSuccess) return 0;
    *out = NULL;
    (void)cudaGetLastError();
    if (rc == cudaErrorMemoryAllocation) {
        size_t free_b = 0, total_b = 0;
        (void)cudaMemGetInfo(&free_b, &total_b);
        char asked[32], free_s[32], total_s[32];
        nas_cu_format_bytes(bytes, asked, sizeof asked);
        nas_cu_format_bytes(free_b, free_s, sizeof free_s);
        nas_cu_format_bytes(total_b, total_s, sizeof total_s);
        return nas_err_set(err, NAS_EOOM_DEVICE,
                           "out of GPU memory: cudaMalloc of %s for %s failed with %s free of %s "
                           "on %s; use a smaller batch or resolution",
                           asked, what, free_s, total_s, ctx->device_name);
    }
    return nas_cu_check(NAS_CU_LIB_CUDA, rc, "cudaMalloc", __FILE__, __LINE__, err);
}

/* Pinned host memory (page-locked, so copies run asynchronously). Failure
 * is the host's memory, not the GPU's: NAS_ENOMEM. */
static int host_alloc_pinned(size_t bytes, const char *what, void **out, nas_err *err) {
    *out = NULL;
    cudaError_t rc = cudaMallocHost(out, bytes);
    if (rc == cudaSuccess) return 0;
    *out = NULL;
    (void)cudaGetLastError();
    char asked[32];
    nas_cu_format_bytes(bytes, asked, sizeof asked);
    if (rc == cudaErrorMemoryAllocation)
        return nas_err_set(err, NAS_ENOMEM,
                           "out of pinned host memory: cudaMallocHost of %s for %s failed", asked,
                           what);
    return nas_cu_check(NAS_CU_LIB_CUDA, rc, "cudaMallocHost", __FILE__, __LINE__, err);
}

int cuda_dev_reserve(cuda_ctx *ctx, void **buf, size_t *have, size_t bytes, const char *what,
                     nas_err *err) {
    if (*have >= bytes && *buf) return 0;
    if (ctx->capturing)
        return nas_err_set(err, NAS_ESTATE,
                           "cuda: %s must grow to %zu bytes during CUDA graph capture; run the "
                           "pass once before capturing it",
                           what, bytes);
    NAS_CUDA_TRY(cudaStreamSynchronize(ctx->stream), err);
    if (*buf) NAS_CUDA_TRY(cudaFree(*buf), err);
    *buf = NULL;
    *have = 0;
    /* Grow geometrically so that a run of slightly larger requests does not
     * reallocate each time. */
    size_t want = bytes + bytes / 4;
    int rc = cuda_dev_alloc(ctx, want, what, buf, err);
    if (rc < 0) return rc;
    *have = want;
    return 0;
}

int cuda_scratch_reserve(cuda_ctx *ctx, size_t floats, nas_err *err) {
    size_t bytes = ctx->scratch_floats * sizeof(float);
    int rc = cuda_dev_reserve(ctx, (void **)&ctx->scratch, &bytes, floats * sizeof(float),
                              "reduction scratch", err);
    if (rc < 0) return rc;
    ctx->scratch_floats = bytes / sizeof(float);
    return 0;
}

int cuda_weight_ptr(cuda_ctx *ctx, nas_buf *w, const void **out, nas_err *err) {
    if (ctx->dt == NAS_CU_F32) {
        *out = w->data;
        return 0;
    }
    if (!w->shadow) {
        if (ctx->capturing)
            return nas_err_set(err, NAS_ESTATE,
                               "cuda: a weight's %s copy is created during CUDA graph capture; "
                               "run the pass once before capturing it",
                               nas_cuda_precision_name(ctx->opt.precision));
        int rc = cuda_dev_alloc(ctx, w->count * 2, "a weight's reduced-precision copy",
                                &w->shadow, err);
        if (rc < 0) return rc;
        w->shadow_version = w->version - 1;
    }
    if (w->shadow_version != w->version) {
        NAS_CUDA_TRY(nas_cuk_cast_from_f32(ctx->stream, ctx->dt, (const float *)w->data, w->shadow,
                                           w->count, 1.0f),
                     err);
        w->shadow_version = w->version;
    }
    *out = w->shadow;
    return 0;
}

static int cuda_buf_new(const nas_backend *be, nas_buf_kind kind, nas_shape shape, nas_buf **out,
                        nas_err *err) {
    cuda_ctx *ctx = cuda_ctx_of(be);
    *out = NULL;
    if (shape.n < 0 || shape.c < 0 || shape.h < 0 || shape.w < 0)
        return nas_err_set(err, NAS_EINVAL, "cuda: negative buffer shape %dx%dx%dx%d", shape.n,
                           shape.c, shape.h, shape.w);
    nas_buf *b = calloc(1, sizeof *b);
    if (!b) return nas_err_set(err, NAS_ENOMEM, "cuda: out of host memory for a buffer");
    b->kind = kind;
    b->shape = shape;
    b->count = nas_shape_count(shape);
    b->elem_size = kind == NAS_BUF_ACT ? nas_cu_dtype_size(ctx->dt) : 4;
    static const char *const what[] = {"activations", "parameters", "float32 statistics",
                                       "labels"};
    int rc = cuda_dev_alloc(ctx, b->count * b->elem_size, what[kind], &b->data, err);
    if (rc < 0) {
        free(b);
        return rc;
    }
    /* Freshly allocated memory is garbage; zero it so that an op reading a
     * buffer nobody wrote (a bug) gives zeros, not NaNs, and accumulate ops
     * on a first use behave. */
    rc = nas_cu_check(NAS_CU_LIB_CUDA,
                      cudaMemsetAsync(b->data, 0, b->count * b->elem_size, ctx->stream),
                      "cudaMemsetAsync", __FILE__, __LINE__, err);
    if (rc < 0) {
        cudaFree(b->data);
        free(b);
        return rc;
    }
    b->version = 1;
    *out = b;
    return 0;
}

/* Frees device memory where no caller can take an error (free paths): a
 * failure is logged, since it usually means an earlier kernel faulted. */
static void dev_free_logged(void *p, const char *what) {
    if (!p) return;
    cudaError_t rc = cudaFree(p);
    if (rc != cudaSuccess)
        nas_warn("cuda: cudaFree of %s failed: %s (an earlier GPU fault?)", what,
                 cudaGetErrorString(rc));
}

static void cuda_buf_free(const nas_backend *be, nas_buf **buf) {
    (void)be;
    if (!buf || !*buf) return;
    /* cudaFree waits for the device to finish with the memory. */
    dev_free_logged((*buf)->data, "a buffer");
    dev_free_logged((*buf)->shadow, "a weight copy");
    free(*buf);
    *buf = NULL;
}

/* ---- transfers ---- */

/* The next staging slot, with room for `bytes`, free to overwrite. */
static int staging_acquire(cuda_ctx *ctx, size_t bytes, cuda_staging **out, nas_err *err) {
    if (ctx->capturing)
        return nas_err_set(err, NAS_ESTATE, "cuda: upload during CUDA graph capture");
    cuda_staging *st = &ctx->staging[ctx->next_staging];
    ctx->next_staging = (ctx->next_staging + 1) % CUDA_STAGING_SLOTS;
    /* The previous batch in this slot must have been consumed by the device. */
    if (st->used) NAS_CUDA_TRY(cudaEventSynchronize(st->consumed), err);
    if (st->bytes < bytes) {
        if (st->host) NAS_CUDA_TRY(cudaFreeHost(st->host), err);
        if (st->device) NAS_CUDA_TRY(cudaFree(st->device), err);
        st->host = st->device = NULL;
        st->bytes = 0;
        int rc = host_alloc_pinned(bytes, "upload staging", &st->host, err);
        if (rc < 0) return rc;
        rc = cuda_dev_alloc(ctx, bytes, "upload staging", &st->device, err);
        if (rc < 0) return rc;
        st->bytes = bytes;
    }
    *out = st;
    return 0;
}

static int cuda_upload(const nas_backend *be, nas_buf *dst, const void *src, size_t count,
                       nas_err *err) {
    cuda_ctx *ctx = cuda_ctx_of(be);
    if (count > dst->count)
        return nas_err_set(err, NAS_EINVAL, "cuda upload: %zu elements into a buffer of %zu",
                           count, dst->count);
    if (count == 0) return 0;
    size_t per_image = (size_t)dst->shape.c * dst->shape.h * dst->shape.w;
    bool transposed = dst->kind == NAS_BUF_ACT || dst->kind == NAS_BUF_PARAM;
    if (transposed && (per_image == 0 || count % per_image != 0))
        return nas_err_set(err, NAS_EINVAL,
                           "cuda upload: %zu elements is not a whole number of %zu-element images",
                           count, per_image);
    size_t bytes = count * 4;
    cuda_staging *st;
    int rc = staging_acquire(ctx, bytes, &st, err);
    if (rc < 0) return rc;
    memcpy(st->host, src, bytes);
    if (!transposed) {
        /* Plain vectors: straight into place, ordered on the compute stream. */
        NAS_CUDA_TRY(cudaMemcpyAsync(dst->data, st->host, bytes, cudaMemcpyHostToDevice,
                                     ctx->stream),
                     err);
    } else {
        NAS_CUDA_TRY(cudaMemcpyAsync(st->device, st->host, bytes, cudaMemcpyHostToDevice,
                                     ctx->copy_stream),
                     err);
        NAS_CUDA_TRY(cudaEventRecord(st->copied, ctx->copy_stream), err);
        NAS_CUDA_TRY(cudaStreamWaitEvent(ctx->stream, st->copied, 0), err);
        /* Parameters keep fp32 in OHWI; activations NHWC in the compute type. */
        nas_cu_dtype to = dst->kind == NAS_BUF_ACT ? ctx->dt : NAS_CU_F32;
        int images = (int)(count / per_image);
        NAS_CUDA_TRY(nas_cuk_nchw_f32_to_nhwc(ctx->stream, to, (const float *)st->device,
                                              dst->data, images, dst->shape.c,
                                              dst->shape.h * dst->shape.w),
                     err);
    }
    NAS_CUDA_TRY(cudaEventRecord(st->consumed, ctx->stream), err);
    st->used = true;
    dst->version++;
    return 0;
}

/* Waits for the stream, then reports an asynchronous failure or a bad label
 * seen by the loss kernel since the last check. */
static int drain(cuda_ctx *ctx, nas_err *err) {
    NAS_CUDA_TRY(cudaMemcpyAsync(ctx->host_flags, ctx->dev_flags, CUDA_FLAGS * sizeof(int),
                                 cudaMemcpyDeviceToHost, ctx->stream),
                 err);
    NAS_CUDA_TRY(cudaStreamSynchronize(ctx->stream), err);
    NAS_CUDA_TRY(cudaGetLastError(), err);
    int bad_label = ctx->host_flags[CUDA_FLAG_BAD_LABEL];
    if (bad_label) {
        NAS_CUDA_TRY(cudaMemsetAsync(ctx->dev_flags, 0, sizeof(int), ctx->stream), err);
        return nas_err_set(err, NAS_ERANGE,
                           "cuda loss: the label of image %d is outside [0, classes); check the "
                           "dataset's labels against the model's number of classes",
                           bad_label - 1);
    }
    return 0;
}

static int cuda_download(const nas_backend *be, const nas_buf *src, void *dst, size_t count,
                         nas_err *err) {
    cuda_ctx *ctx = cuda_ctx_of(be);
    if (count > src->count)
        return nas_err_set(err, NAS_EINVAL, "cuda download: %zu elements from a buffer of %zu",
                           count, src->count);
    if (count == 0) return 0;
    if (ctx->capturing) return nas_err_set(err, NAS_ESTATE, "cuda: download during graph capture");
    size_t per_image = (size_t)src->shape.c * src->shape.h * src->shape.w;
    bool transposed = src->kind == NAS_BUF_ACT || src->kind == NAS_BUF_PARAM;
    if (transposed && (per_image == 0 || count % per_image != 0))
        return nas_err_set(err, NAS_EINVAL,
                           "cuda download: %zu elements is not a whole number of %zu-element images",
                           count, per_image);
    size_t bytes = count * 4;
    if (ctx->download_bytes < bytes) {
        if (ctx->download_host) NAS_CUDA_TRY(cudaFreeHost(ctx->download_host), err);
        ctx->download_host = NULL;
        ctx->download_bytes = 0;
        int rc = host_alloc_pinned(bytes, "download staging", &ctx->download_host, err);
        if (rc < 0) return rc;
        ctx->download_bytes = bytes;
    }
    if (transposed) {
        int rc = cuda_dev_reserve(ctx, (void **)&ctx->download_device, &ctx->download_device_bytes,
                                  bytes, "download staging", err);
        if (rc < 0) return rc;
        nas_cu_dtype from = src->kind == NAS_BUF_ACT ? ctx->dt : NAS_CU_F32;
        NAS_CUDA_TRY(nas_cuk_nhwc_to_nchw_f32(ctx->stream, from, src->data, ctx->download_device,
                                              (int)(count / per_image), src->shape.c,
                                              src->shape.h * src->shape.w),
                     err);
        NAS_CUDA_TRY(cudaMemcpyAsync(ctx->download_host, ctx->download_device, bytes,
                                     cudaMemcpyDeviceToHost, ctx->stream),
                     err);
    } else {
        NAS_CUDA_TRY(cudaMemcpyAsync(ctx->download_host, src->data, bytes, cudaMemcpyDeviceToHost,
                                     ctx->stream),
                     err);
    }
    int rc = drain(ctx, err);
    if (rc < 0) return rc;
    memcpy(dst, ctx->download_host, bytes);
    return 0;
}

static int cuda_fill(const nas_backend *be, nas_buf *dst, float value, size_t count,
                     nas_err *err) {
    cuda_ctx *ctx = cuda_ctx_of(be);
    if (dst->kind == NAS_BUF_I32)
        return nas_err_set(err, NAS_EINVAL, "cuda fill: labels buffers hold integers, not floats");
    if (count > dst->count)
        return nas_err_set(err, NAS_EINVAL, "cuda fill: %zu elements of a buffer of %zu", count,
                           dst->count);
    nas_cu_dtype dt = dst->kind == NAS_BUF_ACT ? ctx->dt : NAS_CU_F32;
    NAS_CUDA_TRY(nas_cuk_fill(ctx->stream, dt, dst->data, count, value), err);
    dst->version++;
    return 0;
}

static int cuda_copy(const nas_backend *be, nas_buf *dst, const nas_buf *src, size_t count,
                     nas_err *err) {
    cuda_ctx *ctx = cuda_ctx_of(be);
    if (dst->kind != src->kind || count > dst->count || count > src->count)
        return nas_err_set(err, NAS_EINVAL, "cuda copy: buffers differ in kind or are too small");
    NAS_CUDA_TRY(cudaMemcpyAsync(dst->data, src->data, count * dst->elem_size,
                                 cudaMemcpyDeviceToDevice, ctx->stream),
                 err);
    dst->version++;
    return 0;
}

/* ---- loss and optimiser ---- */

static int cuda_softmax_xent(const nas_backend *be, int n, int classes, const nas_buf *logits,
                             const nas_buf *labels, float smoothing, float grad_scale,
                             nas_buf *dlogits, nas_buf *stats, nas_err *err) {
    cuda_ctx *ctx = cuda_ctx_of(be);
    if (labels->kind != NAS_BUF_I32 || stats->kind != NAS_BUF_F32 || stats->count < NAS_LOSS_STATS)
        return nas_err_set(err, NAS_EINVAL, "cuda loss: labels must be I32 and stats F32[4]");
    /* fp16: the loss is scaled here so every gradient below is too; the
     * optimiser divides the factor out (loss_scale.h). */
    float scale = grad_scale * ctx->scaler.scale;
    NAS_CUDA_TRY(nas_cuk_softmax_xent(ctx->stream, ctx->dt, n, classes, logits->data,
                                      (const int32_t *)labels->data, smoothing, scale,
                                      dlogits ? dlogits->data : NULL, (float *)stats->data,
                                      ctx->dev_flags + CUDA_FLAG_BAD_LABEL),
                 err);
    return 0;
}

static int cuda_sgd_step(const nas_backend *be, const nas_sgd_tensor *tensors, int n_tensors,
                         const nas_sgd_hparams *hp, bool *stepped, nas_err *err) {
    cuda_ctx *ctx = cuda_ctx_of(be);
    float inverse = nas_loss_scaler_inverse(&ctx->scaler);
    if (ctx->scaler.enabled) {
        /* A step with any inf/NaN gradient is skipped as a whole. */
        NAS_CUDA_TRY(cudaMemsetAsync(ctx->dev_flags + CUDA_FLAG_NONFINITE, 0, sizeof(int),
                                     ctx->stream),
                     err);
        for (int i = 0; i < n_tensors; i++)
            NAS_CUDA_TRY(nas_cuk_check_finite(ctx->stream, (const float *)tensors[i].grad->data,
                                              tensors[i].count, ctx->dev_flags + CUDA_FLAG_NONFINITE),
                         err);
        int rc = drain(ctx, err);
        if (rc < 0) return rc;
        bool apply = nas_loss_scaler_update(&ctx->scaler, ctx->host_flags[CUDA_FLAG_NONFINITE] != 0);
        if (stepped) *stepped = apply;
        if (!apply) return 0;
    } else if (stepped) {
        *stepped = true;
    }
    for (int i = 0; i < n_tensors; i++) {
        const nas_sgd_tensor *t = &tensors[i];
        if (t->count > t->param->count || t->count > t->grad->count)
            return nas_err_set(err, NAS_EINVAL, "cuda sgd: tensor %d count %zu exceeds its buffer",
                               i, t->count);
        nas_buf *p = t->param;
        /* Keep the shadow current in the same pass when it exists and was
         * current before (otherwise cuda_weight_ptr converts it lazily). */
        bool refresh_shadow = p->shadow && p->shadow_version == p->version;
        NAS_CUDA_TRY(nas_cuk_sgd(ctx->stream, (float *)p->data, (const float *)t->grad->data,
                                 t->momentum ? (float *)t->momentum->data : NULL, t->count, hp->lr,
                                 t->momentum ? hp->momentum : 0.0f,
                                 t->decay ? hp->weight_decay : 0.0f, hp->nesterov ? 1 : 0, inverse,
                                 ctx->dt, refresh_shadow ? p->shadow : NULL),
                     err);
        p->version++;
        if (refresh_shadow) p->shadow_version = p->version;
        if (t->momentum) t->momentum->version++;
    }
    return 0;
}

static int cuda_sync(const nas_backend *be, nas_err *err) { return drain(cuda_ctx_of(be), err); }

static const char *cuda_device_name(const nas_backend *be) { return cuda_ctx_of(be)->device_name; }

float nas_cuda_loss_scale(const nas_backend *be) { return cuda_ctx_of(be)->scaler.scale; }

long nas_cuda_skipped_steps(const nas_backend *be) {
    return (long)cuda_ctx_of(be)->scaler.skipped_steps;
}

/* ---- lifetime ---- */

static void ctx_free(cuda_ctx *ctx) {
    if (!ctx) return;
    if (ctx->stream) cudaStreamSynchronize(ctx->stream);
    for (int i = 0; i < CUDA_STAGING_SLOTS; i++) {
        cuda_staging *st = &ctx->staging[i];
        if (st->host) cudaFreeHost(st->host);
        if (st->device) cudaFree(st->device);
        if (st->copied) cudaEventDestroy(st->copied);
        if (st->consumed) cudaEventDestroy(st->consumed);
    }
    if (ctx->download_host) cudaFreeHost(ctx->download_host);
    if (ctx->download_device) cudaFree(ctx->download_device);
    if (ctx->host_flags) cudaFreeHost(ctx->host_flags);
    if (ctx->dev_flags) cudaFree(ctx->dev_flags);
    if (ctx->workspace) cudaFree(ctx->workspace);
    if (ctx->scratch) cudaFree(ctx->scratch);
    if (ctx->dw_scratch) cudaFree(ctx->dw_scratch);
    if (ctx->cublas_workspace) cudaFree(ctx->cublas_workspace);
    nas_conv_algo_cache_free(&ctx->algos);
    if (ctx->cublas) cublasDestroy(ctx->cublas);
    if (ctx->cudnn) cudnnDestroy(ctx->cudnn);
    if (ctx->copy_stream) cudaStreamDestroy(ctx->copy_stream);
    if (ctx->stream) cudaStreamDestroy(ctx->stream);
    free(ctx);
}

static void cuda_destroy(nas_backend *be) {
    if (!be) return;
    ctx_free(cuda_ctx_of(be));
    free(be);
}

bool nas_backend_is_cuda(const nas_backend *be) {
    return be && be->destroy == cuda_destroy;
}

enum { CUBLAS_WORKSPACE_BYTES = 32 << 20 };

static int ctx_init(cuda_ctx *ctx, const nas_cuda_options *opt, nas_err *err) {
    ctx->opt = *opt;
    if (ctx->opt.workspace_limit == 0) ctx->opt.workspace_limit = (size_t)1 << 30;
    int count = nas_cuda_device_count();
    if (count == 0)
        return nas_err_set(err, NAS_EUNSUPPORTED,
                           "cuda backend: no CUDA device is visible (no driver, no GPU, or "
                           "CUDA_VISIBLE_DEVICES hides them); use --backend cpu here");
    if (opt->device < 0 || opt->device >= count)
        return nas_err_set(err, NAS_EINVAL, "cuda backend: device %d does not exist (%d visible)",
                           opt->device, count);
    ctx->device = opt->device;
    NAS_CUDA_TRY(cudaSetDevice(ctx->device), err);
    struct cudaDeviceProp prop;
    NAS_CUDA_TRY(cudaGetDeviceProperties(&prop, ctx->device), err);
    snprintf(ctx->device_name, sizeof ctx->device_name, "cuda: %.120s (sm_%d%d, %.0f GiB, %s)",
             prop.name, prop.major, prop.minor, (double)prop.totalGlobalMem / (1 << 30),
             nas_cuda_precision_name(opt->precision));
    if (prop.major < 8 && opt->precision == NAS_CUDA_BF16)
        return nas_err_set(err, NAS_EUNSUPPORTED,
                           "cuda backend: bf16 needs compute capability 8.0 or newer, %s is %d.%d; "
                           "use fp16",
                           prop.name, prop.major, prop.minor);
    switch (opt->precision) {
    case NAS_CUDA_FP32: ctx->dt = NAS_CU_F32; ctx->cudnn_dt = CUDNN_DATA_FLOAT; ctx->blas_dt = CUDA_R_32F; break;
    case NAS_CUDA_FP16: ctx->dt = NAS_CU_F16; ctx->cudnn_dt = CUDNN_DATA_HALF; ctx->blas_dt = CUDA_R_16F; break;
    case NAS_CUDA_BF16: ctx->dt = NAS_CU_BF16; ctx->cudnn_dt = CUDNN_DATA_BFLOAT16; ctx->blas_dt = CUDA_R_16BF; break;
    }
    nas_loss_scaler_init(&ctx->scaler, opt->precision == NAS_CUDA_FP16);
    NAS_CUDA_TRY(cudaStreamCreateWithFlags(&ctx->stream, cudaStreamNonBlocking), err);
    NAS_CUDA_TRY(cudaStreamCreateWithFlags(&ctx->copy_stream, cudaStreamNonBlocking), err);
    NAS_CUDNN_TRY(cudnnCreate(&ctx->cudnn), err);
    NAS_CUDNN_TRY(cudnnSetStream(ctx->cudnn, ctx->stream), err);
    NAS_CUBLAS_TRY(cublasCreate(&ctx->cublas), err);
    NAS_CUBLAS_TRY(cublasSetStream(ctx->cublas, ctx->stream), err);
    /* A workspace of our own keeps cuBLAS from allocating inside a CUDA
     * graph capture. fp32 stays true fp32 (no TF32) so parity holds. */
    int rc = cuda_dev_alloc(ctx, CUBLAS_WORKSPACE_BYTES, "cuBLAS workspace", &ctx->cublas_workspace, err);
    if (rc < 0) return rc;
    NAS_CUBLAS_TRY(cublasSetWorkspace(ctx->cublas, ctx->cublas_workspace, CUBLAS_WORKSPACE_BYTES), err);
    NAS_CUBLAS_TRY(cublasSetMathMode(ctx->cublas, CUBLAS_DEFAULT_MATH), err);
    ctx->algos = nas_conv_algo_cache_new();
    if (!ctx->algos) return nas_err_set(err, NAS_ENOMEM, "cuda backend: out of host memory");
    for (int i = 0; i < CUDA_STAGING_SLOTS; i++) {
        NAS_CUDA_TRY(cudaEventCreateWithFlags(&ctx->staging[i].copied, cudaEventDisableTiming), err);
        NAS_CUDA_TRY(cudaEventCreateWithFlags(&ctx->staging[i].consumed, cudaEventDisableTiming), err);
    }
    rc = cuda_dev_alloc(ctx, CUDA_FLAGS * sizeof(int), "status flags", (void **)&ctx->dev_flags, err);
    if (rc < 0) return rc;
    NAS_CUDA_TRY(cudaMemsetAsync(ctx->dev_flags, 0, CUDA_FLAGS * sizeof(int), ctx->stream), err);
    return host_alloc_pinned(CUDA_FLAGS * sizeof(int), "status flags", (void **)&ctx->host_flags,
                             err);
}

int nas_backend_cuda_new(const nas_cuda_options *opt, nas_backend **out, nas_err *err) {
    *out = NULL;
    nas_cuda_options defaults;
    if (!opt) {
        nas_cuda_options_default(&defaults);
        opt = &defaults;
    }
    cuda_ctx *ctx = calloc(1, sizeof *ctx);
    nas_backend *be = calloc(1, sizeof *be);
    if (!ctx || !be) {
        free(ctx);
        free(be);
        return nas_err_set(err, NAS_ENOMEM, "cuda backend: out of host memory");
    }
    int rc = ctx_init(ctx, opt, err);
    if (rc < 0) {
        ctx_free(ctx);
        free(be);
        return rc;
    }
    *be = (nas_backend){
        .name = "cuda",
        .self = ctx,
        .destroy = cuda_destroy,
        .device_name = cuda_device_name,
        .buf_new = cuda_buf_new,
        .buf_free = cuda_buf_free,
        .upload = cuda_upload,
        .download = cuda_download,
        .fill = cuda_fill,
        .copy = cuda_copy,
        .conv_plan_new = cuda_conv_plan_new,
        .conv_plan_free = cuda_conv_plan_free,
        .conv_fwd = cuda_conv_fwd,
        .conv_bwd_data = cuda_conv_bwd_data,
        .conv_bwd_filter = cuda_conv_bwd_filter,
        .bn_fwd = cuda_bn_fwd,
        .bn_bwd = cuda_bn_bwd,
        .act_fwd = cuda_act_fwd,
        .act_bwd = cuda_act_bwd,
        .add = cuda_add,
        .se_scale_fwd = cuda_se_scale_fwd,
        .se_scale_bwd = cuda_se_scale_bwd,
        .pool_fwd = cuda_pool_fwd,
        .pool_bwd = cuda_pool_bwd,
        .dropout_fwd = cuda_dropout_fwd,
        .dropout_bwd = cuda_dropout_bwd,
        .fc_fwd = cuda_fc_fwd,
        .fc_bwd = cuda_fc_bwd,
        .softmax_xent = cuda_softmax_xent,
        .sgd_step = cuda_sgd_step,
        .sync = cuda_sync,
    };
    *out = be;
    return 0;
}
