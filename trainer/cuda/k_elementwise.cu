/*
 * trainer/cuda/k_elementwise.cu - the memory-bound kernels between the
 * library calls: activations (with the folded-BN bias fused in for
 * inference), residual add, squeeze-excite scaling, global average pooling,
 * dropout, and the column sums that pooling, SE and bias gradients share.
 * All are grid-stride loops over NHWC storage, computing in fp32.
 */
#include "trainer/cuda/reduce.cuh"

template <typename T>
__global__ void act_fwd_kernel(int act, size_t count, int c, const float *bias, const T *x, T *y) {
    NAS_GRID_STRIDE(i, count) {
        float v = nas_load(x, i);
        if (bias) v += bias[i % (size_t)c];
        nas_store(y, i, nas_act(act, v));
    }
}

template <typename T>
__global__ void act_bwd_kernel(int act, size_t count, const T *x, const T *y, const T *dy, T *dx,
                               int accumulate) {
    NAS_GRID_STRIDE(i, count) {
        float xv = x ? nas_load(x, i) : 0.0f; /* SIGMOID needs only y */
        float yv = y ? nas_load(y, i) : 0.0f;
        float v = nas_load(dy, i) * nas_act_grad(act, xv, yv);
        nas_store(dx, i, accumulate ? nas_load(dx, i) + v : v);
    }
}

template <typename T>
__global__ void add_kernel(size_t count, const T *a, const T *b, T *y) {
    NAS_GRID_STRIDE(i, count) nas_store(y, i, nas_load(a, i) + nas_load(b, i));
}

/* gate index of element i of an [n][hw][c] tensor: image * c + channel. */
__device__ __forceinline__ size_t gate_index(size_t i, int c, int hw) {
    return nas_nhwc_index_to_nc(i, (size_t)c, (size_t)hw);
}

template <typename T>
__global__ void se_scale_fwd_kernel(size_t total, int c, int hw, const T *x, const T *gate, T *y) {
    NAS_GRID_STRIDE(i, total) nas_store(y, i, nas_load(x, i) * nas_load(gate, gate_index(i, c, hw)));
}

template <typename T>
__global__ void se_scale_bwd_kernel(size_t total, int c, int hw, const T *gate, const T *dy, T *dx,
                                    int accumulate) {
    NAS_GRID_STRIDE(i, total) {
        float v = nas_load(dy, i) * nas_load(gate, gate_index(i, c, hw));
        nas_store(dx, i, accumulate ? nas_load(dx, i) + v : v);
    }
}

template <typename T>
__global__ void pool_bwd_kernel(size_t total, int c, int hw, const T *dy, T *dx, int accumulate) {
    NAS_GRID_STRIDE(i, total) {
        float v = nas_load(dy, gate_index(i, c, hw)) / (float)hw;
        nas_store(dx, i, accumulate ? nas_load(dx, i) + v : v);
    }
}

/* nas_dropout_keep_scale (trainer/backend.h), bit for bit. */
__device__ __forceinline__ float dropout_keep_scale(uint64_t seed, uint64_t index, float p) {
    uint64_t z = seed ^ (index * 0x9E3779B97F4A7C15ull);
    z += 0x9E3779B97F4A7C15ull;
    z = (z ^ (z >> 30)) * 0xBF58476D1CE4E5B9ull;
    z = (z ^ (z >> 27)) * 0x94D049BB133111EBull;
    z ^= z >> 31;
    float u = (float)(z >> 40) * (1.0f / 16777216.0f);
    return u < p ? 0.0f : 1.0f / (1.0f - p);
}

template <typename T>
__global__ void dropout_fwd_kernel(size_t count, float p, uint64_t seed, const T *x, T *y,
                                   float *mask) {
    NAS_GRID_STRIDE(i, count) {
        float m = dropout_keep_scale(seed, i, p);
        mask[i] = m;
        nas_store(y, i, nas_load(x, i) * m);
    }
}

template <typename T>
__global__ void dropout_bwd_kernel(size_t count, const float *mask, const T *dy, T *dx,
                                   int accumulate) {
    NAS_GRID_STRIDE(i, count) {
        float v = nas_load(dy, i) * mask[i];
        nas_store(dx, i, accumulate ? nas_load(dx, i) + v : v);
    }
}

template <typename T>
struct ColX {
    const T *x;
    __device__ float2 operator()(size_t i, int, int) const { return make_float2(nas_load(x, i), 0.0f); }
};

template <typename T>
struct ColXY {
    const T *x, *y;
    __device__ float2 operator()(size_t i, int, int) const {
        return make_float2(nas_load(x, i) * nas_load(y, i), 0.0f);
    }
};

template <typename T>
__global__ void column_sum_finalize(const float2 *partials, int chunks, int groups, int c,
                                    float scale, float *out, T *out_dt) {
    size_t total = (size_t)groups * c;
    NAS_GRID_STRIDE(i, total) {
        int col = (int)(i % (size_t)c), group = (int)(i / (size_t)c);
        float v = nas_partials_total(partials, chunks, c, group, col).x * scale;
        if (out_dt)
            nas_store(out_dt, i, v);
        else
            out[i] = v;
    }
}

/* ---- launchers ---- */

template <typename T>
static void act_fwd_impl(cudaStream_t s, int act, size_t count, int c, const float *bias,
                         const void *x, void *y) {
    act_fwd_kernel<T><<<nas_grid_for(count, 256), 256, 0, s>>>(act, count, c, bias, (const T *)x, (T *)y);
}

template <typename T>
static void act_bwd_impl(cudaStream_t s, int act, size_t count, const void *x, const void *y,
                         const void *dy, void *dx, int accumulate) {
    act_bwd_kernel<T><<<nas_grid_for(count, 256), 256, 0, s>>>(act, count, (const T *)x, (const T *)y,
                                                               (const T *)dy, (T *)dx, accumulate);
}

template <typename T>
static void add_impl(cudaStream_t s, size_t count, const void *a, const void *b, void *y) {
    add_kernel<T><<<nas_grid_for(count, 256), 256, 0, s>>>(count, (const T *)a, (const T *)b, (T *)y);
}

template <typename T>
static void se_fwd_impl(cudaStream_t s, size_t total, int c, int hw, const void *x, const void *gate,
                        void *y) {
    se_scale_fwd_kernel<T><<<nas_grid_for(total, 256), 256, 0, s>>>(total, c, hw, (const T *)x,
                                                                    (const T *)gate, (T *)y);
}

template <typename T>
static void se_bwd_impl(cudaStream_t s, size_t total, int c, int hw, const void *gate, const void *dy,
                        void *dx, int accumulate) {
    se_scale_bwd_kernel<T><<<nas_grid_for(total, 256), 256, 0, s>>>(total, c, hw, (const T *)gate,
                                                                    (const T *)dy, (T *)dx, accumulate);
}

template <typename T>
static void pool_bwd_impl(cudaStream_t s, size_t total, int c, int hw, const void *dy, void *dx,
                          int accumulate) {
    pool_bwd_kernel<T><<<nas_grid_for(total, 256), 256, 0, s>>>(total, c, hw, (const T *)dy, (T *)dx,
                                                                accumulate);
}

template <typename T>
static void dropout_fwd_impl(cudaStream_t s, size_t count, float p, uint64_t seed, const void *x,
                             void *y, float *mask) {
    dropout_fwd_kernel<T><<<nas_grid_for(count, 256), 256, 0, s>>>(count, p, seed, (const T *)x,
                                                                   (T *)y, mask);
}

template <typename T>
static void dropout_bwd_impl(cudaStream_t s, size_t count, const float *mask, const void *dy,
                             void *dx, int accumulate) {
    dropout_bwd_kernel<T><<<nas_grid_for(count, 256), 256, 0, s>>>(count, mask, (const T *)dy,
                                                                   (T *)dx, accumulate);
}

template <typename T>
static void column_sum_impl(cudaStream_t s, nas_cuk_sum_what what, int groups, int rows, int c,
                            const void *x, const void *y, float scale, float *out, void *out_dt,
                            float *scratch) {
    float2 *partials = (float2 *)scratch;
    int chunks = what == NAS_CUK_SUM_X_MUL_Y
                     ? nas_launch_column_partial(s, ColXY<T>{(const T *)x, (const T *)y}, groups,
                                                 rows, c, partials)
                     : nas_launch_column_partial(s, ColX<T>{(const T *)x}, groups, rows, c, partials);
    size_t total = (size_t)groups * c;
    column_sum_finalize<T><<<nas_grid_for(total, 256), 256, 0, s>>>(partials, chunks, groups, c,
                                                                    scale, out, (T *)out_dt);
}

extern "C" int nas_cuk_act_fwd(cudaStream_t s, nas_cu_dtype dt, int act, size_t count, int c,
                               const float *bias, const void *x, void *y) {
    if (count == 0) return 0;
    NAS_DISPATCH(dt, act_fwd_impl, s, act, count, c, bias, x, y);
    return (int)cudaGetLastError();
}

extern "C" int nas_cuk_act_bwd(cudaStream_t s, nas_cu_dtype dt, int act, size_t count, const void *x,
                               const void *y, const void *dy, void *dx, int accumulate) {
    if (count == 0) return 0;
    NAS_DISPATCH(dt, act_bwd_impl, s, act, count, x, y, dy, dx, accumulate);
    return (int)cudaGetLastError();
}

extern "C" int nas_cuk_add(cudaStream_t s, nas_cu_dtype dt, size_t count, const void *a,
                           const void *b, void *y) {
    if (count == 0) return 0;
    NAS_DISPATCH(dt, add_impl, s, count, a, b, y);
    return (int)cudaGetLastError();
}

extern "C" int nas_cuk_se_scale_fwd(cudaStream_t s, nas_cu_dtype dt, int n, int c, int hw,
                                    const void *x, const void *gate, void *y) {
    size_t total = (size_t)n * c * hw;
    if (total == 0) return 0;
    NAS_DISPATCH(dt, se_fwd_impl, s, total, c, hw, x, gate, y);
    return (int)cudaGetLastError();
}

extern "C" int nas_cuk_se_scale_bwd_data(cudaStream_t s, nas_cu_dtype dt, int n, int c, int hw,
                                         const void *gate, const void *dy, void *dx, int accumulate) {
    size_t total = (size_t)n * c * hw;
    if (total == 0) return 0;
    NAS_DISPATCH(dt, se_bwd_impl, s, total, c, hw, gate, dy, dx, accumulate);
    return (int)cudaGetLastError();
}

extern "C" int nas_cuk_pool_bwd(cudaStream_t s, nas_cu_dtype dt, int n, int c, int hw, const void *dy,
                                void *dx, int accumulate) {
    size_t total = (size_t)n * c * hw;
    if (total == 0) return 0;
    NAS_DISPATCH(dt, pool_bwd_impl, s, total, c, hw, dy, dx, accumulate);
    return (int)cudaGetLastError();
}

extern "C" int nas_cuk_dropout_fwd(cudaStream_t s, nas_cu_dtype dt, size_t count, float p,
                                   uint64_t seed, const void *x, void *y, float *mask) {
    if (count == 0) return 0;
    NAS_DISPATCH(dt, dropout_fwd_impl, s, count, p, seed, x, y, mask);
    return (int)cudaGetLastError();
}

extern "C" int nas_cuk_dropout_bwd(cudaStream_t s, nas_cu_dtype dt, size_t count, const float *mask,
                                   const void *dy, void *dx, int accumulate) {
    if (count == 0) return 0;
    NAS_DISPATCH(dt, dropout_bwd_impl, s, count, mask, dy, dx, accumulate);
    return (int)cudaGetLastError();
}

extern "C" size_t nas_cuk_reduce_scratch_floats(int groups, int rows, int c) {
    return nas_red_scratch_floats(groups, rows, c);
}

extern "C" int nas_cuk_column_sum(cudaStream_t s, nas_cu_dtype dt, nas_cuk_sum_what what, int groups,
                                  int rows, int c, const void *x, const void *y, float scale,
                                  float *out, void *out_dt, float *scratch) {
    if ((size_t)groups * c == 0) return 0;
    NAS_DISPATCH(dt, column_sum_impl, s, what, groups, rows, c, x, y, scale, out, out_dt, scratch);
    return (int)cudaGetLastError();
}
