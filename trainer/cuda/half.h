/*
 * trainer/cuda/half.h - fp16 and bf16 on the host: bit-exact conversions.
 *
 * Used to upload and download reduced-precision tensors, and by the parity
 * tests to round a CPU reference the way the GPU rounds (so tolerances only
 * cover accumulation order, not storage). Round to nearest, ties to even, as
 * the GPU's __float2half_rn / __float2bfloat16_rn do; NaN stays NaN (quiet),
 * overflow goes to infinity, fp16 subnormals are kept.
 */
#ifndef NAS_TRAINER_CUDA_HALF_H
#define NAS_TRAINER_CUDA_HALF_H

#include <stddef.h>
#include <stdint.h>

uint16_t nas_f32_to_f16(float f);
float nas_f16_to_f32(uint16_t h);
uint16_t nas_f32_to_bf16(float f);
float nas_bf16_to_f32(uint16_t b);

/* Element-wise array versions (n elements). */
void nas_f32_to_f16_array(const float *in, uint16_t *out, size_t n);
void nas_f16_to_f32_array(const uint16_t *in, float *out, size_t n);
void nas_f32_to_bf16_array(const float *in, uint16_t *out, size_t n);
void nas_bf16_to_f32_array(const uint16_t *in, float *out, size_t n);

#endif
