/*
 * trainer/cuda/loss_scale.h - dynamic loss scaling for fp16 training.
 *
 * fp16 has 5 exponent bits: small gradients underflow to zero unless the loss
 * is multiplied by a large factor before the backward pass (and gradients
 * divided by it before the optimiser step). The factor is adapted: a step whose
 * gradients hold an inf or NaN is skipped and the scale halved; after
 * `growth_interval` clean steps in a row it is doubled. This is the policy of
 * PyTorch's GradScaler (init 2^16, interval 2000), so results are comparable.
 * bf16 and fp32 have fp32's exponent range and run with the scaler disabled
 * (scale 1, every step applied).
 *
 * Pure host state: the device kernel reports "found non-finite" and this
 * decides; tested without a GPU.
 */
#ifndef NAS_TRAINER_CUDA_LOSS_SCALE_H
#define NAS_TRAINER_CUDA_LOSS_SCALE_H

#include <stdbool.h>
#include <stdint.h>

typedef struct nas_loss_scaler {
    bool enabled;
    float scale;
    float growth_factor;  /* 2 */
    float backoff_factor; /* 0.5 */
    int growth_interval;  /* clean steps before growing, 2000 */
    float min_scale;      /* never below 1: below that fp16 loses range the other way */
    float max_scale;      /* 2^24: beyond it even the loss itself overflows */
    int clean_steps;      /* consecutive steps without a non-finite gradient */
    int64_t skipped_steps;
} nas_loss_scaler;

/* Defaults above; enabled only for fp16 training. */
void nas_loss_scaler_init(nas_loss_scaler *s, bool enabled);

/* Records the outcome of one backward pass; returns true if the optimiser
 * step must be applied (gradients finite or scaler disabled), false if the
 * step is to be skipped. Updates the scale for the next step. */
bool nas_loss_scaler_update(nas_loss_scaler *s, bool found_nonfinite);

/* Factor the optimiser multiplies gradients by (1/scale). */
float nas_loss_scaler_inverse(const nas_loss_scaler *s);

#endif
