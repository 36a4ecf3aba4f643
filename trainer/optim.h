/*
 * trainer/optim.h - SGD with Nesterov momentum and the learning-rate schedule.
 *
 * Three layers, each usable alone:
 *   - nas_lr_at: the schedule (linear warm-up, then cosine decay to lr_min),
 *     a pure function of the step so a resumed run continues exactly;
 *   - nas_sgd_update_f32: the update rule over plain float arrays, the
 *     reference the backends' sgd_step must match (PyTorch's SGD, dampening 0);
 *   - nas_optim: the optimiser state of one network: a momentum buffer per
 *     trainable parameter on the network's backend, and one step that hands
 *     every trainable tensor to the backend's sgd_step. Weight decay goes to
 *     conv/fc weights only, never to BN parameters or biases (nas_param.decay).
 * Label smoothing is part of the loss (backend softmax_xent), not of this file.
 */
#ifndef NAS_TRAINER_OPTIM_H
#define NAS_TRAINER_OPTIM_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "common/error.h"
#include "trainer/backend.h"
#include "trainer/graph.h"

typedef struct nas_lr_schedule {
    double base_lr;        /* peak learning rate, reached at the end of warm-up */
    double min_lr;         /* value the cosine decays to at the last step */
    int64_t warmup_steps;  /* linear ramp from base_lr/warmup_steps to base_lr; 0 = none */
    int64_t total_steps;   /* steps of the whole run (warm-up included) */
} nas_lr_schedule;

/* Learning rate of 0-based step `step`: base_lr * (step+1) / warmup_steps
 * during warm-up, then min_lr + (base_lr - min_lr) * (1 + cos(pi * t)) / 2 with
 * t = (step - warmup) / (total - warmup) going from 0 towards 1. Steps past the end
 * get min_lr. */
double nas_lr_at(const nas_lr_schedule *schedule, int64_t step);

/* One SGD update over count floats (the formula of backend.h's sgd_step):
 *   g = grad + (decay ? weight_decay * param : 0);  m = momentum * m + g;
 *   g = nesterov ? g + momentum * m : m;             param -= lr * g.
 * momentum_buf may be NULL when hp->momentum == 0. */
void nas_sgd_update_f32(float *param, const float *grad, float *momentum_buf, size_t count,
                        const nas_sgd_hparams *hp, bool decay);

typedef struct nas_optim nas_optim;

/* Creates momentum buffers (zeroed) for every parameter of net that has a
 * gradient; which of them are stepped is decided at each step from
 * nas_param.trainable, so freezing stages after creation works. */
int nas_optim_new(nas_net *net, nas_optim **out, nas_err *err);
void nas_optim_free(nas_optim **optim);

/* Applies one step with these hyper-parameters to every trainable parameter.
 * *stepped (may be NULL) is false when a mixed-precision backend skipped it. */
int nas_optim_step(nas_optim *optim, const nas_sgd_hparams *hp, bool *stepped, nas_err *err);

/* Momentum buffer of parameter `index` of the net (NULL for running stats);
 * host layout as the parameter's value (checkpoints save and restore it). */
nas_buf *nas_optim_momentum(const nas_optim *optim, int index);

#endif
