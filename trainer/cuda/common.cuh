/*
 * trainer/cuda/common.cuh - what every kernel file shares: loading and
 * storing the three activation types as float, the activation functions and
 * their derivatives, and the dispatch from nas_cu_dtype to a template.
 * Kernels compute in fp32 whatever the storage type.
 */
#ifndef NAS_TRAINER_CUDA_COMMON_CUH
#define NAS_TRAINER_CUDA_COMMON_CUH

#include <cuda_bf16.h>
#include <cuda_fp16.h>
#include <stddef.h>

#include "trainer/cuda/kernels.h"

__device__ __forceinline__ float nas_load(const float *p, size_t i) { return p[i]; }
__device__ __forceinline__ float nas_load(const __half *p, size_t i) { return __half2float(p[i]); }
__device__ __forceinline__ float nas_load(const __nv_bfloat16 *p, size_t i) {
    return __bfloat162float(p[i]);
}
__device__ __forceinline__ void nas_store(float *p, size_t i, float v) { p[i] = v; }
__device__ __forceinline__ void nas_store(__half *p, size_t i, float v) { p[i] = __float2half_rn(v); }
__device__ __forceinline__ void nas_store(__nv_bfloat16 *p, size_t i, float v) {
    p[i] = __float2bfloat16_rn(v);
}

__device__ __forceinline__ float nas_sigmoid(float x) { return 1.0f / (1.0f + __expf(-x)); }

__device__ __forceinline__ float nas_act(int act, float x) {
    switch (act) {
    case NAS_CUK_ACT_RELU: return x > 0.0f ? x : 0.0f;
    case NAS_CUK_ACT_SWISH: return x * nas_sigmoid(x);
    case NAS_CUK_ACT_SIGMOID: return nas_sigmoid(x);
    default: return x;
    }
}

/* d act / d pre at pre-activation x (SIGMOID from its output y). */
__device__ __forceinline__ float nas_act_grad(int act, float x, float y) {
    switch (act) {
    case NAS_CUK_ACT_RELU: return x > 0.0f ? 1.0f : 0.0f;
    case NAS_CUK_ACT_SWISH: {
        float sg = nas_sigmoid(x);
        return sg * (1.0f + x * (1.0f - sg));
    }
    case NAS_CUK_ACT_SIGMOID: return y * (1.0f - y);
    default: return 1.0f;
    }
}

/* Grid size for a grid-stride loop over count elements. */
static inline unsigned nas_grid_for(size_t count, unsigned block) {
    size_t blocks = (count + block - 1) / block;
    if (blocks > 65535u * 8u) blocks = 65535u * 8u; /* grid-stride covers the rest */
    return blocks ? (unsigned)blocks : 1u;
}

#define NAS_GRID_STRIDE(i, count)                                                     \
    for (size_t i = (size_t)blockIdx.x * blockDim.x + threadIdx.x; i < (count);       \
         i += (size_t)gridDim.x * blockDim.x)

/* Calls FN<T>(args...) with T the storage type of dt. */
#define NAS_DISPATCH(dt, FN, ...)                                                     \
    ((dt) == NAS_CU_F16    ? FN<__half>(__VA_ARGS__)                                  \
     : (dt) == NAS_CU_BF16 ? FN<__nv_bfloat16>(__VA_ARGS__)                           \
                           : FN<float>(__VA_ARGS__))

#endif
