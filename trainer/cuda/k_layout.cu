/*
 * trainer/cuda/k_layout.cu - layout and precision conversion kernels: the
 * host's NCHW float32 to the device's NHWC storage type and back (uploads,
 * downloads), casts (weight shadows, weight gradients) and fill.
 * Memory-bound and run once per batch or per step, so they are simple
 * index-mapping kernels with coalesced writes.
 */
#include "trainer/cuda/common.cuh"
#include "trainer/cuda/layout.h"

size_t nas_cu_dtype_size(nas_cu_dtype dt) { return dt == NAS_CU_F32 ? 4 : 2; }

template <typename T>
__global__ void nchw_to_nhwc_kernel(const float *src, T *dst, size_t total, int c, int hw) {
    NAS_GRID_STRIDE(i, total) nas_store(dst, i, src[nas_nhwc_index_to_nchw(i, c, hw)]);
}

template <typename T>
__global__ void nhwc_to_nchw_kernel(const T *src, float *dst, size_t total, int c, int hw) {
    NAS_GRID_STRIDE(i, total) dst[i] = nas_load(src, nas_nchw_index_to_nhwc(i, c, hw));
}

template <typename T>
__global__ void cast_from_f32_kernel(const float *src, T *dst, size_t count, float scale) {
    NAS_GRID_STRIDE(i, count) nas_store(dst, i, src[i] * scale);
}

template <typename T>
__global__ void cast_to_f32_kernel(const T *src, float *dst, size_t count, float scale) {
    NAS_GRID_STRIDE(i, count) dst[i] = nas_load(src, i) * scale;
}

template <typename T>
__global__ void fill_kernel(T *dst, size_t count, float value) {
    NAS_GRID_STRIDE(i, count) nas_store(dst, i, value);
}

template <typename T>
static void launch_nchw_to_nhwc(cudaStream_t s, const float *src, void *dst, int n, int c, int hw) {
    size_t total = (size_t)n * c * hw;
    nchw_to_nhwc_kernel<T><<<nas_grid_for(total, 256), 256, 0, s>>>(src, (T *)dst, total, c, hw);
}

template <typename T>
static void launch_nhwc_to_nchw(cudaStream_t s, const void *src, float *dst, int n, int c, int hw) {
    size_t total = (size_t)n * c * hw;
    nhwc_to_nchw_kernel<T><<<nas_grid_for(total, 256), 256, 0, s>>>((const T *)src, dst, total, c, hw);
}

template <typename T>
static void launch_cast_from(cudaStream_t s, const float *src, void *dst, size_t count, float scale) {
    cast_from_f32_kernel<T><<<nas_grid_for(count, 256), 256, 0, s>>>(src, (T *)dst, count, scale);
}

template <typename T>
static void launch_cast_to(cudaStream_t s, const void *src, float *dst, size_t count, float scale) {
    cast_to_f32_kernel<T><<<nas_grid_for(count, 256), 256, 0, s>>>((const T *)src, dst, count, scale);
}

template <typename T>
static void launch_fill(cudaStream_t s, void *dst, size_t count, float value) {
    fill_kernel<T><<<nas_grid_for(count, 256), 256, 0, s>>>((T *)dst, count, value);
}

extern "C" int nas_cuk_nchw_f32_to_nhwc(cudaStream_t s, nas_cu_dtype dt, const float *src, void *dst,
                                        int n, int c, int hw) {
    if ((size_t)n * c * hw == 0) return 0;
    NAS_DISPATCH(dt, launch_nchw_to_nhwc, s, src, dst, n, c, hw);
    return (int)cudaGetLastError();
}

extern "C" int nas_cuk_nhwc_to_nchw_f32(cudaStream_t s, nas_cu_dtype dt, const void *src, float *dst,
                                        int n, int c, int hw) {
    if ((size_t)n * c * hw == 0) return 0;
    NAS_DISPATCH(dt, launch_nhwc_to_nchw, s, src, dst, n, c, hw);
    return (int)cudaGetLastError();
}

extern "C" int nas_cuk_cast_from_f32(cudaStream_t s, nas_cu_dtype dt, const float *src, void *dst,
                                     size_t count, float scale) {
    if (count == 0) return 0;
    NAS_DISPATCH(dt, launch_cast_from, s, src, dst, count, scale);
    return (int)cudaGetLastError();
}

extern "C" int nas_cuk_cast_to_f32(cudaStream_t s, nas_cu_dtype dt, const void *src, float *dst,
                                   size_t count, float scale) {
    if (count == 0) return 0;
    NAS_DISPATCH(dt, launch_cast_to, s, src, dst, count, scale);
    return (int)cudaGetLastError();
}

extern "C" int nas_cuk_fill(cudaStream_t s, nas_cu_dtype dt, void *dst, size_t count, float value) {
    if (count == 0) return 0;
    NAS_DISPATCH(dt, launch_fill, s, dst, count, value);
    return (int)cudaGetLastError();
}
