/*
 * trainer/cuda/cuda_backend.h - the CUDA backend's public entry points.
 *
 * nas_backend_cuda_new fills the backend table of trainer/backend.h with ops
 * built on cuDNN 9 (convolutions, including grouped and depthwise, through
 * the legacy cudnnConvolution* API with the algorithm picked once per shape
 * by cudnnFind*), cuBLAS (fully connected and SE layers, cublasGemmEx) and
 * the kernels in kernels.h (batch norm fused with residual and activation,
 * loss, optimiser, SE, pooling, dropout).
 *
 * Storage: activations NHWC in the training precision (fp32, fp16 or bf16);
 * parameters fp32 master copies in OHWI order with a reduced-precision shadow
 * of each conv/fc weight, refreshed by the optimiser step. fp16 training runs
 * with dynamic loss scaling (loss_scale.h). Every failure is reported with
 * the call that failed; out-of-memory is NAS_EOOM_DEVICE with the size asked
 * for, never a crash.
 *
 * Only built when NAS_HAVE_CUDA is defined (trainer/cuda/meson.build).
 */
#ifndef NAS_TRAINER_CUDA_BACKEND_H
#define NAS_TRAINER_CUDA_BACKEND_H

#include <stdbool.h>
#include <stddef.h>

#include "common/error.h"
#include "trainer/backend.h"

typedef enum { NAS_CUDA_FP32 = 0, NAS_CUDA_FP16, NAS_CUDA_BF16 } nas_cuda_precision;

/* Parses "fp32" | "fp16" | "bf16"; NAS_EINVAL with a message otherwise. */
int nas_cuda_precision_parse(const char *name, nas_cuda_precision *out, nas_err *err);
const char *nas_cuda_precision_name(nas_cuda_precision p);

typedef struct nas_cuda_options {
    int device;               /* CUDA device ordinal (after CUDA_VISIBLE_DEVICES) */
    nas_cuda_precision precision;  /* activation / compute precision */
    bool benchmark_algos;     /* cudnnFind (true) or cuDNN's heuristic (false) */
    size_t workspace_limit;   /* largest conv workspace an algorithm may use (0: 1 GiB) */
} nas_cuda_options;

/* Defaults: device 0, bf16, benchmark on, 1 GiB workspace limit. */
void nas_cuda_options_default(nas_cuda_options *opt);

/* Number of usable CUDA devices; 0 (and NAS_OK) when there is no driver or no
 * GPU, so callers and tests can skip cleanly. */
int nas_cuda_device_count(void);

/* Creates the backend on opt->device. NAS_EUNSUPPORTED when there is no
 * usable GPU, NAS_EDEVICE for other CUDA/cuDNN/cuBLAS failures. */
int nas_backend_cuda_new(const nas_cuda_options *opt, nas_backend **out, nas_err *err);

/* Current loss scale (1 unless fp16), and steps skipped for overflow. */
float nas_cuda_loss_scale(const nas_backend *be);
long nas_cuda_skipped_steps(const nas_backend *be);

/* True if be was made by nas_backend_cuda_new. */
bool nas_backend_is_cuda(const nas_backend *be);

/* ---- latency (latency_cuda.c) ----
 * Times one forward pass enqueued by `forward(ctx, err)` on the backend's
 * stream: `warmup` eager runs (which also pick conv algorithms and size
 * workspaces), then the pass is captured into a CUDA graph and replayed:
 * `warmup` untimed replays, then `runs` replays each timed with CUDA events.
 * ms_each receives `runs` per-pass times in milliseconds (caller-owned).
 * If capture fails (an op that cannot be captured), falls back to timing
 * eager runs and says so in *used_graph = false. */
typedef int (*nas_cuda_forward_fn)(void *ctx, nas_err *err);
int nas_cuda_time_forward(const nas_backend *be, nas_cuda_forward_fn forward, void *ctx,
                          int warmup, int runs, double *ms_each, bool *used_graph, nas_err *err);

/* The GENet measurement of a net on this backend: folds BN, uploads a fixed
 * pseudo-random batch, captures nas_net_forward(NAS_MODE_FOLDED) in a CUDA
 * graph and times `runs` replays (0 = NAS_LATENCY_RUNS) after `warmup`
 * (0 = NAS_LATENCY_WARMUP), summarised by nas_latency_summarize (trimmed
 * mean, p50, p90). The net must live on a CUDA backend. */
struct nas_net;
struct nas_latency_summary;
int nas_cuda_latency_measure(struct nas_net *net, int batch, int warmup, int runs,
                             struct nas_latency_summary *out, bool *used_graph, nas_err *err);

#endif
