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
