/*
 * trainer/cuda/k_loss.cu - softmax cross-entropy with label smoothing, its
 * gradient and the top-1/top-5 counts, fused in one kernel: one block per
 * image reads the logits row a few times from L1/L2 and writes dlogits once.
 * Same definitions as the CPU reference (trainer/cpu/cpu_dense.c):
 * loss = -sum_j t_j log p_j with t_j = s/K + (1-s)[j == label], and a label
 * ranks r = number of other classes with a logit >= its own (ties count
 * against), top-1 if r < 1, top-5 if r < 5.
 */
#include "trainer/cuda/common.cuh"

enum { LOSS_THREADS = 256 };

/* Block-wide sum or max of one float per thread (LOSS_THREADS threads). */
__device__ float block_reduce(float v, bool is_max, float *shared) {
    for (int off = 16; off > 0; off >>= 1) {
        float o = __shfl_down_sync(0xffffffffu, v, off);
        v = is_max ? fmaxf(v, o) : v + o;
    }
    int warp = threadIdx.x / 32, lane = threadIdx.x % 32;
    __syncthreads(); /* shared may still be read by a previous call */
    if (lane == 0) shared[warp] = v;
    __syncthreads();
    if (warp == 0) {
        v = lane < LOSS_THREADS / 32 ? shared[lane] : (is_max ? -INFINITY : 0.0f);
        for (int off = 16; off > 0; off >>= 1) {
            float o = __shfl_down_sync(0xffffffffu, v, off);
            v = is_max ? fmaxf(v, o) : v + o;
        }
        if (lane == 0) shared[0] = v;
    }
    __syncthreads();
    return shared[0];
}

template <typename T>
__global__ void softmax_xent_kernel(int classes, const T *logits, const int32_t *labels,
                                    float smoothing, float grad_scale, T *dlogits, float *stats,
                                    int *bad_label) {
    __shared__ float shared[LOSS_THREADS / 32];
    int img = blockIdx.x;
    const T *row = logits + (size_t)img * classes;
    int label = labels[img];
    if (label < 0 || label >= classes) {
        if (threadIdx.x == 0) atomicCAS(bad_label, 0, img + 1);
        if (dlogits)
            for (int j = threadIdx.x; j < classes; j += LOSS_THREADS)
                nas_store(dlogits, (size_t)img * classes + j, 0.0f);
        return;
    }
    float label_logit = nas_load(row, label);
    float local_max = -INFINITY;
    for (int j = threadIdx.x; j < classes; j += LOSS_THREADS) local_max = fmaxf(local_max, nas_load(row, j));
    float max_logit = block_reduce(local_max, true, shared);
    /* Sums of shifted logits (z - max), as the CPU reference does, so the
     * loss does not lose digits to cancellation when logits are large. */
    float local_exp = 0.0f, local_shifted = 0.0f, local_rank = 0.0f;
    for (int j = threadIdx.x; j < classes; j += LOSS_THREADS) {
        float v = nas_load(row, j);
        local_exp += __expf(v - max_logit);
        local_shifted += v - max_logit;
        if (j != label && v >= label_logit) local_rank += 1.0f;
    }
    float log_sum = logf(block_reduce(local_exp, false, shared));
    float sum_shifted = block_reduce(local_shifted, false, shared);
    float rank = block_reduce(local_rank, false, shared);
    float off_target = smoothing / (float)classes;
    float on_target = 1.0f - smoothing + off_target;
    if (dlogits) {
        for (int j = threadIdx.x; j < classes; j += LOSS_THREADS) {
            float p = __expf(nas_load(row, j) - max_logit - log_sum);
            float target = j == label ? on_target : off_target;
            nas_store(dlogits, (size_t)img * classes + j, (p - target) * grad_scale);
        }
    }
    if (threadIdx.x == 0) {
        /* -sum_j t_j log p_j with t = off everywhere + (on - off) at the label */
        float logp_label = label_logit - max_logit - log_sum;
        float sum_logp = sum_shifted - (float)classes * log_sum;
        float loss = -(on_target - off_target) * logp_label - off_target * sum_logp;
        atomicAdd(&stats[0], loss);
        atomicAdd(&stats[1], rank < 1.0f ? 1.0f : 0.0f);
        atomicAdd(&stats[2], rank < 5.0f ? 1.0f : 0.0f);
        atomicAdd(&stats[3], 1.0f);
    }
}

template <typename T>
static void softmax_xent_impl(cudaStream_t s, int n, int classes, const void *logits,
                              const int32_t *labels, float smoothing, float grad_scale,
                              void *dlogits, float *stats, int *bad_label) {
    softmax_xent_kernel<T><<<n, LOSS_THREADS, 0, s>>>(classes, (const T *)logits, labels, smoothing,
                                                      grad_scale, (T *)dlogits, stats, bad_label);
}

extern "C" int nas_cuk_softmax_xent(cudaStream_t s, nas_cu_dtype dt, int n, int classes,
                                    const void *logits, const int32_t *labels, float smoothing,
                                    float grad_scale, void *dlogits, float *stats, int *bad_label) {
    if (n == 0) return 0;
    NAS_DISPATCH(dt, softmax_xent_impl, s, n, classes, logits, labels, smoothing, grad_scale,
                 dlogits, stats, bad_label);
    return (int)cudaGetLastError();
}
