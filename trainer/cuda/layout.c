/*
 * trainer/cuda/layout.c - host transposes between NCHW and NHWC (see
 * layout.h). Loops run in the order of the output so writes stream.
 */
#include "trainer/cuda/layout.h"

void nas_nchw_to_nhwc(const float *in, float *out, size_t N, size_t C, size_t H, size_t W) {
    for (size_t n = 0; n < N; n++)
        for (size_t h = 0; h < H; h++)
            for (size_t w = 0; w < W; w++)
                for (size_t c = 0; c < C; c++)
                    out[nas_nhwc_offset(n, c, h, w, C, H, W)] =
                        in[nas_nchw_offset(n, c, h, w, C, H, W)];
}

void nas_nhwc_to_nchw(const float *in, float *out, size_t N, size_t C, size_t H, size_t W) {
    for (size_t n = 0; n < N; n++)
        for (size_t c = 0; c < C; c++)
            for (size_t h = 0; h < H; h++)
                for (size_t w = 0; w < W; w++)
                    out[nas_nchw_offset(n, c, h, w, C, H, W)] =
                        in[nas_nhwc_offset(n, c, h, w, C, H, W)];
}
