/*
 * trainer/optim.c - SGD with Nesterov momentum and the learning-rate
 * schedule; see optim.h for the formulas and why they are split this way.
 */
#include <assert.h>
#include <math.h>
#include <stdlib.h>

#include "trainer/optim.h"

double nas_lr_at(const nas_lr_schedule *s, int64_t step) {
    assert(s->total_steps > 0 && s->warmup_steps >= 0);
    if (step < 0) step = 0;
    if (step < s->warmup_steps) return s->base_lr * (double)(step + 1) / (double)s->warmup_steps;
    if (step >= s->total_steps) return s->min_lr;
    double t = (double)(step - s->warmup_steps) / (double)(s->total_steps - s->warmup_steps);
    return s->min_lr + (s->base_lr - s->min_lr) * 0.5 * (1.0 + cos(M_PI * t));
}

void nas_sgd_update_f32(float *param, const float *grad, float *momentum_buf, size_t count,
                        const nas_sgd_hparams *hp, bool decay) {
    assert(hp->momentum == 0 || momentum_buf);
    float wd = decay ? hp->weight_decay : 0.0f;
    for (size_t i = 0; i < count; i++) {
        float g = grad[i] + wd * param[i];
        if (hp->momentum != 0) {
            float m = hp->momentum * momentum_buf[i] + g;
            momentum_buf[i] = m;
            g = hp->nesterov ? g + hp->momentum * m : m;
        }
        param[i] -= hp->lr * g;
    }
}

struct nas_optim {
    nas_net *net;
    int n_params;
    nas_buf **momentum;       /* per parameter index; NULL where no gradient */
    nas_sgd_tensor *tensors;  /* scratch list handed to sgd_step */
};

int nas_optim_new(nas_net *net, nas_optim **out, nas_err *err) {
    *out = NULL;
    const nas_backend *be = nas_net_backend(net);
    nas_optim *o = calloc(1, sizeof *o);
    if (!o) return nas_err_set(err, NAS_ENOMEM, "out of memory for the optimiser");
    o->net = net;
    o->n_params = nas_net_param_count(net);
    o->momentum = calloc((size_t)o->n_params, sizeof *o->momentum);
    o->tensors = calloc((size_t)o->n_params, sizeof *o->tensors);
    if (!o->momentum || !o->tensors) {
        nas_optim_free(&o);
        return nas_err_set(err, NAS_ENOMEM, "out of memory for the optimiser");
    }
    for (int i = 0; i < o->n_params; i++) {
        const nas_param *p = nas_net_param(net, i);
        if (!p->grad) continue; /* running statistics are not optimised */
        nas_shape shape = {(int)p->count, 1, 1, 1};
        int rc = be->buf_new(be, NAS_BUF_PARAM, shape, &o->momentum[i], err);
        if (!rc) rc = be->fill(be, o->momentum[i], 0.0f, p->count, err);
        if (rc) {
            nas_err_prefix(err, "momentum buffer of %s", p->name);
            nas_optim_free(&o);
            return rc;
        }
    }
    *out = o;
    return 0;
}

void nas_optim_free(nas_optim **optim) {
    if (!optim || !*optim) return;
    nas_optim *o = *optim;
    const nas_backend *be = nas_net_backend(o->net);
    for (int i = 0; o->momentum && i < o->n_params; i++) be->buf_free(be, &o->momentum[i]);
    free(o->momentum);
    free(o->tensors);
    free(o);
    *optim = NULL;
}

int nas_optim_step(nas_optim *o, const nas_sgd_hparams *hp, bool *stepped, nas_err *err) {
    int n = 0;
    for (int i = 0; i < o->n_params; i++) {
        const nas_param *p = nas_net_param(o->net, i);
        if (!p->trainable || !p->grad) continue;
        o->tensors[n++] = (nas_sgd_tensor){.param = p->value,
                                           .grad = p->grad,
                                           .momentum = o->momentum[i],
                                           .count = p->count,
                                           .decay = p->decay};
    }
    if (stepped) *stepped = true;
    if (n == 0) return 0; /* everything frozen: nothing to update */
    const nas_backend *be = nas_net_backend(o->net);
    return be->sgd_step(be, o->tensors, n, hp, stepped, err);
}

nas_buf *nas_optim_momentum(const nas_optim *o, int index) {
    return index >= 0 && index < o->n_params ? o->momentum[index] : NULL;
}
