/*
 * trainer/cuda/reduce.cuh - per-column sums of a [groups][rows][c] tensor,
 * the one reduction pattern the backend needs (BN statistics and gradients,
 * pooling, SE gate gradients, bias gradients).
 *
 * Two kernels: column_partial sums a quantity over a chunk of rows for 32
 * columns per block (32 x 8 threads: a warp reads 32 consecutive channels of
 * one NHWC row, coalesced), leaving one float2 per (group, chunk, column) in
 * a scratch buffer; a use-specific finalize kernel adds the chunks. Chunks
 * are sized so that about 1024 blocks are in flight whatever the shape, and
 * the partial sums are combined in fp32 in a fixed order (deterministic).
 * The quantity is a functor returning float2, so BN's backward gets both of
 * its sums (g and g*xhat) from one read of the tensors.
 */
#ifndef NAS_TRAINER_CUDA_REDUCE_CUH
#define NAS_TRAINER_CUDA_REDUCE_CUH

#include "trainer/cuda/common.cuh"
#include "trainer/cuda/layout.h"

enum { NAS_RED_COLS = 32, NAS_RED_ROWS = 8, NAS_RED_TARGET_BLOCKS = 1024 };

/* Chunks per group for a shape; the same function sizes the scratch. */
static_assert(NAS_RED_COLS == 32 && NAS_RED_ROWS == 8, "layout.h's nas_reduce_chunks assumes 32x8");
static inline int nas_red_chunks(int groups, int rows, int c) {
    return nas_reduce_chunks(groups, rows, c, NAS_RED_TARGET_BLOCKS);
}

/* Floats of scratch for one reduction of this shape (float2 partials). */
static inline size_t nas_red_scratch_floats(int groups, int rows, int c) {
    return 2 * (size_t)groups * (size_t)nas_red_chunks(groups, rows, c) * (size_t)c;
}

template <class Op>
__global__ void nas_column_partial(Op op, int rows, int c, int chunks, int rows_per_chunk,
                                   float2 *partials) {
    __shared__ float2 part[NAS_RED_ROWS][NAS_RED_COLS + 1];
    int col = blockIdx.x * NAS_RED_COLS + threadIdx.x;
    int chunk = blockIdx.y, group = blockIdx.z;
    int r0 = chunk * rows_per_chunk;
    int r1 = min(rows, r0 + rows_per_chunk);
    float2 acc = make_float2(0.0f, 0.0f);
    if (col < c) {
        for (int r = r0 + threadIdx.y; r < r1; r += NAS_RED_ROWS) {
            size_t row = (size_t)group * rows + r;
            float2 v = op(row * c + col, col, group);
            acc.x += v.x;
            acc.y += v.y;
        }
    }
    part[threadIdx.y][threadIdx.x] = acc;
    __syncthreads();
    if (threadIdx.y == 0 && col < c) {
        for (int k = 1; k < NAS_RED_ROWS; k++) {
            acc.x += part[k][threadIdx.x].x;
            acc.y += part[k][threadIdx.x].y;
        }
        partials[((size_t)group * chunks + chunk) * c + col] = acc;
    }
}

/* Sum of the partials of (group, col). */
__device__ __forceinline__ float2 nas_partials_total(const float2 *partials, int chunks, int c,
                                                     int group, int col) {
    float2 t = make_float2(0.0f, 0.0f);
    for (int k = 0; k < chunks; k++) {
        float2 v = partials[((size_t)group * chunks + k) * c + col];
        t.x += v.x;
        t.y += v.y;
    }
    return t;
}

/* Launches column_partial; returns the chunk count used. */
template <class Op>
static int nas_launch_column_partial(cudaStream_t s, const Op &op, int groups, int rows, int c,
                                     float2 *partials) {
    int chunks = nas_red_chunks(groups, rows, c);
    int rows_per_chunk = (rows + chunks - 1) / chunks;
    dim3 grid((c + NAS_RED_COLS - 1) / NAS_RED_COLS, chunks, groups);
    dim3 block(NAS_RED_COLS, NAS_RED_ROWS);
    nas_column_partial<Op><<<grid, block, 0, s>>>(op, rows, c, chunks, rows_per_chunk, partials);
    return chunks;
}

#endif
