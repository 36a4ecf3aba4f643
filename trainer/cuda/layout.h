/*
 * trainer/cuda/layout.h - NCHW <-> NHWC index math and host transposes.
 *
 * The CPU backend keeps activations NCHW and conv weights OIHW (what im2col
 * and PyTorch use); the CUDA backend keeps NHWC activations and OHWI
 * ("KRSC") weights, the layout cuDNN's tensor-core kernels read without a
 * transpose. Weights cross between the two in checkpoints and parity tests,
 * so the mapping lives here, in one place, tested on the host. An OIHW
 * weight is an NCHW tensor with N=O, C=I/groups, H=kh, W=kw, so the same two
 * functions serve both.
 */
#ifndef NAS_TRAINER_CUDA_LAYOUT_H
#define NAS_TRAINER_CUDA_LAYOUT_H

#include <stddef.h>

/* Index helpers shared by the host code, the host tests and the kernels, so
 * the kernels' index math is the tested one. */
#ifdef __CUDACC__
#define NAS_HD __host__ __device__
#else
#define NAS_HD
#endif

/* Element i of an NHWC tensor of images of c channels x hw pixels: its
 * index in the NCHW tensor of the same shape. */
static inline NAS_HD size_t nas_nhwc_index_to_nchw(size_t i, size_t c, size_t hw) {
    size_t ch = i % c, pix = (i / c) % hw, img = i / (c * hw);
    return (img * c + ch) * hw + pix;
}

/* Element i of an NCHW tensor: its index in the NHWC tensor. */
static inline NAS_HD size_t nas_nchw_index_to_nhwc(size_t i, size_t c, size_t hw) {
    size_t pix = i % hw, ch = (i / hw) % c, img = i / (c * hw);
    return (img * hw + pix) * c + ch;
}

/* Element i of an NHWC [n][hw][c] tensor: the index of its (image, channel)
 * in an [n][c] tensor (SE gates, pooled values). */
static inline NAS_HD size_t nas_nhwc_index_to_nc(size_t i, size_t c, size_t hw) {
    return (i / (hw * c)) * c + i % c;
}

/* Row chunks per group of the column reduction (trainer/cuda/reduce.cuh):
 * about `target_blocks` blocks of 32 columns x 8 rows in flight, at least one
 * chunk, at most one per 8 rows and 65535 (the grid's y limit). */
static inline int nas_reduce_chunks(int groups, int rows, int c, int target_blocks) {
    long col_blocks = (c + 31) / 32;
    long want = target_blocks / (col_blocks * (long)groups);
    long max_useful = (rows + 7) / 8;
    if (want > max_useful) want = max_useful;
    if (want > 65535) want = 65535;
    return want < 1 ? 1 : (int)want;
}

static inline size_t nas_nchw_offset(size_t n, size_t c, size_t h, size_t w, size_t C, size_t H,
                                     size_t W) {
    return ((n * C + c) * H + h) * W + w;
}

static inline size_t nas_nhwc_offset(size_t n, size_t c, size_t h, size_t w, size_t C, size_t H,
                                     size_t W) {
    return ((n * H + h) * W + w) * C + c;
}

/* out[n,h,w,c] = in[n,c,h,w]; in and out must not overlap. */
void nas_nchw_to_nhwc(const float *in, float *out, size_t N, size_t C, size_t H, size_t W);
/* out[n,c,h,w] = in[n,h,w,c]; in and out must not overlap. */
void nas_nhwc_to_nchw(const float *in, float *out, size_t N, size_t C, size_t H, size_t W);

#endif
