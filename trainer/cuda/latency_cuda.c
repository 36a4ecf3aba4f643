/*
 * trainer/cuda/latency_cuda.c - inference latency on the GPU, the GENet
 * paper's way (section 3.2) with GPU-side timing: BN folded into the convs,
 * the forward pass captured once into a CUDA graph (so host launch overhead,
 * which a deployed engine does not pay per layer, stays out of the figure),
 * warm-up replays, then each timed replay bracketed by CUDA events. The
 * statistic (trimmed mean, p50, p90) is trainer/latency.c's, so CPU and GPU
 * figures are computed identically.
 */
#include <stdlib.h>

#include "common/rng.h"
#include "trainer/cuda/cuda_internal.h"
#include "trainer/cuda/status.h"
#include "trainer/graph.h"
#include "trainer/latency.h"

/* Times `runs` launches of either the instantiated graph or, without one,
 * the eager forward; each run waits for the previous one. */
static int time_runs(cuda_ctx *ctx, cudaGraphExec_t exec, nas_cuda_forward_fn forward, void *fctx,
                     int runs, double *ms_each, nas_err *err) {
    cudaEvent_t start = NULL, stop = NULL;
    int rc = 0;
    NAS_CUDA_TRY_GOTO(cudaEventCreate(&start), err, rc, done);
    NAS_CUDA_TRY_GOTO(cudaEventCreate(&stop), err, rc, done);
    for (int i = 0; i < runs; i++) {
        NAS_CUDA_TRY_GOTO(cudaEventRecord(start, ctx->stream), err, rc, done);
        if (exec)
            NAS_CUDA_TRY_GOTO(cudaGraphLaunch(exec, ctx->stream), err, rc, done);
        else if ((rc = forward(fctx, err)) < 0)
            goto done;
        NAS_CUDA_TRY_GOTO(cudaEventRecord(stop, ctx->stream), err, rc, done);
        NAS_CUDA_TRY_GOTO(cudaEventSynchronize(stop), err, rc, done);
        float ms = 0.0f;
        NAS_CUDA_TRY_GOTO(cudaEventElapsedTime(&ms, start, stop), err, rc, done);
        ms_each[i] = ms;
    }
done:
    if (start) cudaEventDestroy(start);
    if (stop) cudaEventDestroy(stop);
    return rc;
}

/* Captures one forward pass; *exec stays NULL if the pass cannot be
 * captured (the caller then times eager runs). */
static int capture(cuda_ctx *ctx, nas_cuda_forward_fn forward, void *fctx, cudaGraphExec_t *exec,
                   nas_err *err) {
    *exec = NULL;
    cudaGraph_t graph = NULL;
    NAS_CUDA_TRY(cudaStreamBeginCapture(ctx->stream, cudaStreamCaptureModeThreadLocal), err);
    ctx->capturing = true;
    nas_err forward_err;
    nas_err_clear(&forward_err);
    int frc = forward(fctx, &forward_err);
    ctx->capturing = false;
    cudaError_t end_rc = cudaStreamEndCapture(ctx->stream, &graph);
    if (frc < 0 || end_rc != cudaSuccess || !graph) {
        (void)cudaGetLastError(); /* an invalidated capture is not sticky */
        if (graph) cudaGraphDestroy(graph);
        return 0;
    }
    cudaError_t inst_rc = cudaGraphInstantiate(exec, graph, 0);
    cudaGraphDestroy(graph);
    if (inst_rc != cudaSuccess) {
        *exec = NULL;
        return nas_cu_check(NAS_CU_LIB_CUDA, inst_rc, "cudaGraphInstantiate", __FILE__, __LINE__,
                            err);
    }
    return 0;
}

int nas_cuda_time_forward(const nas_backend *be, nas_cuda_forward_fn forward, void *fctx,
                          int warmup, int runs, double *ms_each, bool *used_graph, nas_err *err) {
    cuda_ctx *ctx = cuda_ctx_of(be);
    if (runs < 1) return nas_err_set(err, NAS_EINVAL, "cuda latency: runs must be at least 1");
    if (warmup < 1) warmup = 1; /* at least one eager pass sizes workspaces and picks algorithms */
    int rc = 0;
    for (int i = 0; i < warmup; i++)
        if ((rc = forward(fctx, err)) < 0) return rc;
    if ((rc = be->sync(be, err)) < 0) return rc;
    cudaGraphExec_t exec = NULL;
    if ((rc = capture(ctx, forward, fctx, &exec, err)) < 0) return rc;
    if (used_graph) *used_graph = exec != NULL;
    if (exec) {
        for (int i = 0; i < warmup && rc == 0; i++)
            rc = nas_cu_check(NAS_CU_LIB_CUDA, cudaGraphLaunch(exec, ctx->stream),
                              "cudaGraphLaunch (warm-up)", __FILE__, __LINE__, err);
        if (rc == 0) rc = be->sync(be, err);
    }
    if (rc == 0) rc = time_runs(ctx, exec, forward, fctx, runs, ms_each, err);
    if (exec) cudaGraphExecDestroy(exec);
    return rc;
}

typedef struct folded_pass {
    nas_net *net;
    int batch;
} folded_pass;

static int run_folded(void *ctx, nas_err *err) {
    folded_pass *p = ctx;
    return nas_net_forward(p->net, p->batch, NAS_MODE_FOLDED, err);
}

int nas_cuda_latency_measure(nas_net *net, int batch, int warmup, int runs,
                             nas_latency_summary *out, bool *used_graph, nas_err *err) {
    const nas_backend *be = nas_net_backend(net);
    if (!nas_backend_is_cuda(be))
        return nas_err_set(err, NAS_EINVAL, "cuda latency: the network is not on a CUDA backend");
    if (batch < 1 || batch > nas_net_max_batch(net))
        return nas_err_set(err, NAS_EINVAL, "latency batch %d must be in [1, %d] for this network",
                           batch, nas_net_max_batch(net));
    if (warmup <= 0) warmup = NAS_LATENCY_WARMUP;
    if (runs <= 0) runs = NAS_LATENCY_RUNS;
    const nas_arch *arch = nas_net_arch(net);
    size_t count = (size_t)arch->in_channels * arch->resolution * arch->resolution * (size_t)batch;
    float *input = malloc(sizeof(float) * count);
    double *timings = malloc(sizeof(double) * (size_t)runs);
    int rc = 0;
    if (!input || !timings) {
        rc = nas_err_set(err, NAS_ENOMEM, "cuda latency: out of host memory for a batch of %d",
                         batch);
        goto done;
    }
    /* Same fixed input as the CPU measurement (trainer/latency.c). */
    nas_rng rng;
    nas_rng_seed(&rng, 12345);
    for (size_t i = 0; i < count; i++) input[i] = (float)nas_rng_normal(&rng);
    rc = nas_net_fold_bn(net, err);
    if (!rc) rc = nas_net_set_batch(net, input, NULL, batch, err);
    folded_pass pass = {net, batch};
    if (!rc) rc = nas_cuda_time_forward(be, run_folded, &pass, warmup, runs, timings, used_graph, err);
    if (!rc) rc = nas_latency_summarize(timings, runs, out, err);
    if (rc) nas_err_prefix(err, "cuda latency at batch %d", batch);
done:
    free(input);
    free(timings);
    return rc;
}
