/*
 * trainer/cuda/loss_scale.c - the dynamic loss-scale state machine (see
 * loss_scale.h for the policy and why).
 */
#include "trainer/cuda/loss_scale.h"

#include <assert.h>

void nas_loss_scaler_init(nas_loss_scaler *s, bool enabled) {
    *s = (nas_loss_scaler){
        .enabled = enabled,
        .scale = enabled ? 65536.0f : 1.0f,
        .growth_factor = 2.0f,
        .backoff_factor = 0.5f,
        .growth_interval = 2000,
        .min_scale = 1.0f,
        .max_scale = 16777216.0f,
    };
}

bool nas_loss_scaler_update(nas_loss_scaler *s, bool found_nonfinite) {
    if (!s->enabled) return true;
    if (found_nonfinite) {
        s->skipped_steps++;
        s->clean_steps = 0;
        float lowered = s->scale * s->backoff_factor;
        s->scale = lowered < s->min_scale ? s->min_scale : lowered;
        return false;
    }
    if (++s->clean_steps >= s->growth_interval) {
        s->clean_steps = 0;
        float raised = s->scale * s->growth_factor;
        s->scale = raised > s->max_scale ? s->max_scale : raised;
    }
    assert(s->scale >= s->min_scale && s->scale <= s->max_scale);
    return true;
}

float nas_loss_scaler_inverse(const nas_loss_scaler *s) { return 1.0f / s->scale; }
