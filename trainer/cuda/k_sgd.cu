/*
 * trainer/cuda/k_sgd.cu - the optimiser step on fp32 master weights.
 *
 * One pass per tensor reads grad, param and momentum and writes param,
 * momentum and (in fp16/bf16 training) the reduced-precision shadow of the
 * weights that cuDNN and cuBLAS read in the next forward, so no separate
 * cast pass runs. The loss scale is divided out here (grad_scale = 1/scale);
 * check_finite runs first over every gradient so that a step with an
 * overflow is skipped as a whole (see loss_scale.h).
 */
#include "trainer/cuda/common.cuh"

__global__ void check_finite_kernel(const float *grad, size_t count, int *found) {
    bool bad = false;
    NAS_GRID_STRIDE(i, count) bad |= !isfinite(grad[i]);
    if (__any_sync(0xffffffffu, bad) && threadIdx.x % 32 == 0) atomicOr(found, 1);
}

template <typename T>
__global__ void sgd_kernel(float *param, const float *grad, float *momentum, size_t count, float lr,
                           float mu, float weight_decay, int nesterov, float grad_scale, T *shadow) {
    NAS_GRID_STRIDE(i, count) {
        float p = param[i];
        float g = grad[i] * grad_scale + weight_decay * p;
        if (momentum) {
            float m = mu * momentum[i] + g;
            momentum[i] = m;
            g = nesterov ? g + mu * m : m;
        }
        p -= lr * g;
        param[i] = p;
        if (shadow) nas_store(shadow, i, p);
    }
}

extern "C" int nas_cuk_check_finite(cudaStream_t s, const float *grad, size_t count, int *found) {
    if (count == 0) return 0;
    check_finite_kernel<<<nas_grid_for(count, 256), 256, 0, s>>>(grad, count, found);
    return (int)cudaGetLastError();
}

template <typename T>
static void sgd_impl(cudaStream_t s, float *param, const float *grad, float *momentum, size_t count,
                     float lr, float mu, float weight_decay, int nesterov, float grad_scale,
                     void *shadow) {
    sgd_kernel<T><<<nas_grid_for(count, 256), 256, 0, s>>>(param, grad, momentum, count, lr, mu,
                                                           weight_decay, nesterov, grad_scale,
                                                           (T *)shadow);
}

extern "C" int nas_cuk_sgd(cudaStream_t s, float *param, const float *grad, float *momentum,
                           size_t count, float lr, float mu, float weight_decay, int nesterov,
                           float grad_scale, nas_cu_dtype dt, void *shadow) {
    if (count == 0) return 0;
    NAS_DISPATCH(dt, sgd_impl, s, param, grad, momentum, count, lr, mu, weight_decay, nesterov,
                 grad_scale, shadow);
    return (int)cudaGetLastError();
}
