/*
 * trainer/graph_exec.c - runs a built nas_net: input upload, forward in the
 * three modes, the loss, and the backward pass.
 *
 * Backward walks the node list in reverse and stops at the lowest node that
 * holds trainable parameters (LLR-NAS's train_only freezes early stages, so
 * nothing below them needs a gradient). Input gradients of a tensor read by
 * two nodes are summed through the backend's accumulate flags: the first
 * writer overwrites, later ones add.
 */
#include <string.h>

#include "trainer/graph_internal.h"

#define BN_MOMENTUM 0.1f

static int check_batch(const nas_net *net, int n, nas_err *err)
{
    if (n < 1 || n > net->max_batch)
        return nas_err_set(err, NAS_ERANGE, "batch of %d images is outside [1, %d] (the network "
                           "was built for at most %d)", n, net->max_batch, net->max_batch);
    return 0;
}

int nas_net_set_batch(nas_net *net, const float *images, const int32_t *labels, int n,
                      nas_err *err)
{
    int rc = check_batch(net, n, err);
    if (rc < 0)
        return rc;
    const net_tensor *x = &net->tensors[net->input];
    size_t count = (size_t)n * x->c * x->h * x->w;
    if ((rc = net->be->upload(net->be, x->val, images, count, err)) < 0)
        return rc;
    if (labels) {
        for (int i = 0; i < n; i++)
            if (labels[i] < 0 || labels[i] >= net->arch.classes)
                return nas_err_set(err, NAS_ERANGE, "label %d of image %d is outside [0, %d)",
                                   (int)labels[i], i, net->arch.classes);
        if ((rc = net->be->upload(net->be, net->labels, labels, (size_t)n, err)) < 0)
            return rc;
    }
    return 0;
}

static int forward_node(nas_net *net, net_node *nd, int n, nas_mode mode, nas_err *err)
{
    const nas_backend *be = net->be;
    net_tensor *x = &net->tensors[nd->in], *y = &net->tensors[nd->out];
    int hw = x->h * x->w;
    size_t count = (size_t)n * y->c * y->h * y->w;
    switch (nd->op) {
    case NODE_CONV: {
        const nas_param *w = &net->params[nd->weight];
        if (mode == NAS_MODE_FOLDED && nd->bn_node >= 0) {
            const net_node *bn = &net->nodes[nd->bn_node];
            if (bn->residual < 0) /* conv + bias + act straight into the BN's output */
                return be->conv_fwd(be, nd->plan, n, x->val, nd->fold_w, nd->fold_b, bn->act,
                                    net->tensors[bn->out].val, err);
            return be->conv_fwd(be, nd->plan, n, x->val, nd->fold_w, nd->fold_b, NAS_ACTFN_NONE,
                                y->val, err);
        }
        return be->conv_fwd(be, nd->plan, n, x->val, w->value, NULL, NAS_ACTFN_NONE, y->val, err);
    }
    case NODE_BN: {
        const nas_buf *res = nd->residual >= 0 ? net->tensors[nd->residual].val : NULL;
        if (mode == NAS_MODE_FOLDED) {
            if (!res)
                return 0; /* done by the conv */
            int rc = be->add(be, count, x->val, res, y->val, err);
            return rc < 0 ? rc : be->act_fwd(be, nd->act, count, y->val, y->val, err);
        }
        bool training = mode == NAS_MODE_TRAIN && net_stage_trainable(net, nd->stage);
        nd->ran_frozen = !training;
        return be->bn_fwd(be, training, n, x->c, hw, x->val, res, net->params[nd->gamma].value,
                          net->params[nd->beta].value, net->params[nd->running_mean].value,
                          net->params[nd->running_var].value, BN_MOMENTUM,
                          (float)net->arch.bn_eps, nd->act, y->val, nd->save_mean,
                          nd->save_invstd, err);
    }
    case NODE_SE: {
        int c = x->c, rd = nd->se_rd, rc;
        net_tensor *p = &net->tensors[nd->se_pooled], *r = &net->tensors[nd->se_reduced];
        net_tensor *ra = &net->tensors[nd->se_reduced_act], *e = &net->tensors[nd->se_expanded];
        net_tensor *g = &net->tensors[nd->se_gate];
        if ((rc = be->pool_fwd(be, n, c, hw, x->val, p->val, err)) < 0 ||
            (rc = be->fc_fwd(be, n, c, rd, p->val, net->params[nd->se_w1].value,
                             net->params[nd->se_b1].value, r->val, err)) < 0 ||
            (rc = be->act_fwd(be, nd->act, (size_t)n * rd, r->val, ra->val, err)) < 0 ||
            (rc = be->fc_fwd(be, n, rd, c, ra->val, net->params[nd->se_w2].value,
                             net->params[nd->se_b2].value, e->val, err)) < 0 ||
            (rc = be->act_fwd(be, NAS_ACTFN_SIGMOID, (size_t)n * c, e->val, g->val, err)) < 0)
            return rc;
        return be->se_scale_fwd(be, n, c, hw, x->val, g->val, y->val, err);
    }
    case NODE_POOL:
        return be->pool_fwd(be, n, x->c, hw, x->val, y->val, err);
    case NODE_DROPOUT:
        nd->dropped = mode == NAS_MODE_TRAIN && net_stage_trainable(net, -1);
        if (nd->dropped)
            return be->dropout_fwd(be, count, nd->drop_p, nas_rng_u64(&net->rng), x->val, y->val,
                                   nd->mask, err);
        return be->copy(be, y->val, x->val, count, err);
    case NODE_FC:
        return be->fc_fwd(be, n, x->c, y->c, x->val, net->params[nd->fc_w].value,
                          net->params[nd->fc_b].value, y->val, err);
    }
    return nas_err_set(err, NAS_EINVAL, "network graph: unknown node kind %d", (int)nd->op);
}

int nas_net_forward(nas_net *net, int n, nas_mode mode, nas_err *err)
{
    int rc = check_batch(net, n, err);
    if (rc < 0)
        return rc;
    if (mode == NAS_MODE_FOLDED && !net->folded)
        return nas_err_set(err, NAS_ESTATE, "folded forward before nas_net_fold_bn");
    net->last_n = 0;
    net->have_dlogits = false;
    for (int i = 0; i < net->n_nodes; i++) {
        if ((rc = forward_node(net, &net->nodes[i], n, mode, err)) < 0)
            return rc;
    }
    net->last_n = n;
    net->last_mode = mode;
    return 0;
}

int nas_net_loss(nas_net *net, float label_smoothing, bool want_grad, nas_err *err)
{
    if (net->last_n == 0)
        return nas_err_set(err, NAS_ESTATE, "loss before a forward pass");
    if (!(label_smoothing >= 0.0f && label_smoothing < 1.0f))
        return nas_err_set(err, NAS_ERANGE, "label smoothing %g outside [0, 1)",
                           (double)label_smoothing);
    net_tensor *z = &net->tensors[net->logits];
    int n = net->last_n;
    int rc = net->be->softmax_xent(net->be, n, z->c, z->val, net->labels, label_smoothing,
                                   1.0f / (float)n, want_grad ? z->grad : NULL, net->stats, err);
    if (rc == 0 && want_grad)
        net->have_dlogits = true;
    return rc;
}

/* Does node nd hold parameters that are being trained? */
static bool node_trains(const nas_net *net, const net_node *nd)
{
    bool has_params = nd->op == NODE_CONV || nd->op == NODE_BN || nd->op == NODE_SE ||
                      nd->op == NODE_FC;
    return has_params && net_stage_trainable(net, nd->stage);
}

/* Gradient destination of tensor t for a writer: sets *accumulate and marks it written. */
static nas_buf *grad_dst(nas_net *net, int t, bool *accumulate)
{
    net_tensor *tt = &net->tensors[t];
    *accumulate = tt->grad_written;
    tt->grad_written = true;
    return tt->grad;
}

static int backward_node(nas_net *net, net_node *nd, int n, bool need_dx, nas_err *err)
{
    const nas_backend *be = net->be;
    net_tensor *x = &net->tensors[nd->in], *y = &net->tensors[nd->out];
    int hw = x->h * x->w, rc;
    bool trains = net_stage_trainable(net, nd->stage), acc = false;
    size_t count = (size_t)n * y->c * y->h * y->w;
    if (!y->grad_written)
        return nas_err_set(err, NAS_ESTATE, "network graph: no gradient reached a layer output "
                           "(internal error)");
    need_dx = need_dx && x->grad != NULL;
    switch (nd->op) {
    case NODE_CONV: {
        const nas_param *w = &net->params[nd->weight];
        if (trains &&
            (rc = be->conv_bwd_filter(be, nd->plan, n, x->val, y->grad, w->grad, NULL, err)) < 0)
            return rc;
        if (!need_dx)
            return 0;
        nas_buf *dx = grad_dst(net, nd->in, &acc);
        return be->conv_bwd_data(be, nd->plan, n, y->grad, w->value, dx, acc, err);
    }
    case NODE_BN: {
        const nas_buf *res = nd->residual >= 0 ? net->tensors[nd->residual].val : NULL;
        nas_buf *dres = NULL, *dx = NULL;
        bool acc_res = false;
        if (nd->residual >= 0 && net->tensors[nd->residual].grad)
            dres = grad_dst(net, nd->residual, &acc_res);
        if (need_dx)
            dx = grad_dst(net, nd->in, &acc);
        return be->bn_bwd(be, nd->ran_frozen, n, x->c, hw, x->val, y->val, res, y->grad,
                          net->params[nd->gamma].value, net->params[nd->beta].value,
                          nd->save_mean, nd->save_invstd, nd->act, dx, acc, dres, acc_res,
                          trains ? net->params[nd->gamma].grad : NULL,
                          trains ? net->params[nd->beta].grad : NULL, err);
    }
    case NODE_SE: {
        int c = x->c, rd = nd->se_rd;
        net_tensor *p = &net->tensors[nd->se_pooled], *r = &net->tensors[nd->se_reduced];
        net_tensor *ra = &net->tensors[nd->se_reduced_act], *e = &net->tensors[nd->se_expanded];
        net_tensor *g = &net->tensors[nd->se_gate];
        const nas_param *w1 = &net->params[nd->se_w1], *b1 = &net->params[nd->se_b1];
        const nas_param *w2 = &net->params[nd->se_w2], *b2 = &net->params[nd->se_b2];
        nas_buf *dx = need_dx ? grad_dst(net, nd->in, &acc) : NULL;
        if ((rc = be->se_scale_bwd(be, n, c, hw, x->val, g->val, y->grad, dx, acc, g->grad,
                                   err)) < 0 ||
            (rc = be->act_bwd(be, NAS_ACTFN_SIGMOID, (size_t)n * c, e->val, g->val, g->grad,
                              e->grad, false, err)) < 0 ||
            (rc = be->fc_bwd(be, n, rd, c, ra->val, w2->value, e->grad, ra->grad, false,
                             trains ? w2->grad : NULL, trains ? b2->grad : NULL, err)) < 0 ||
            (rc = be->act_bwd(be, nd->act, (size_t)n * rd, r->val, ra->val, ra->grad, r->grad,
                              false, err)) < 0)
            return rc;
        if (!need_dx) /* only the reduce weights remain */
            return be->fc_bwd(be, n, c, rd, p->val, w1->value, r->grad, NULL, false,
                              trains ? w1->grad : NULL, trains ? b1->grad : NULL, err);
        if ((rc = be->fc_bwd(be, n, c, rd, p->val, w1->value, r->grad, p->grad, false,
                             trains ? w1->grad : NULL, trains ? b1->grad : NULL, err)) < 0)
            return rc;
        return be->pool_bwd(be, n, c, hw, p->grad, dx, true, err);
    }
    case NODE_POOL: {
        if (!need_dx)
            return 0;
        nas_buf *dx = grad_dst(net, nd->in, &acc);
        return be->pool_bwd(be, n, x->c, hw, y->grad, dx, acc, err);
    }
    case NODE_DROPOUT: {
        if (!need_dx)
            return 0;
        nas_buf *dx = grad_dst(net, nd->in, &acc);
        if (nd->dropped)
            return be->dropout_bwd(be, count, nd->mask, y->grad, dx, acc, err);
        return be->act_bwd(be, NAS_ACTFN_NONE, count, NULL, NULL, y->grad, dx, acc, err);
    }
    case NODE_FC: {
        const nas_param *w = &net->params[nd->fc_w], *b = &net->params[nd->fc_b];
        nas_buf *dx = need_dx ? grad_dst(net, nd->in, &acc) : NULL;
        return be->fc_bwd(be, n, x->c, y->c, x->val, w->value, y->grad, dx, acc,
                          trains ? w->grad : NULL, trains ? b->grad : NULL, err);
    }
    }
    return nas_err_set(err, NAS_EINVAL, "network graph: unknown node kind %d", (int)nd->op);
}

int nas_net_backward(nas_net *net, nas_err *err)
{
    if (net->last_n == 0 || net->last_mode != NAS_MODE_TRAIN || !net->have_dlogits)
        return nas_err_set(err, NAS_ESTATE, "backward needs a NAS_MODE_TRAIN forward followed by "
                           "nas_net_loss with want_grad");
    int first_trainable = -1;
    for (int i = 0; i < net->n_nodes && first_trainable < 0; i++)
        if (node_trains(net, &net->nodes[i]))
            first_trainable = i;
    if (first_trainable < 0)
        return 0; /* everything frozen */
    for (int i = 0; i < net->n_tensors; i++)
        net->tensors[i].grad_written = false;
    net->tensors[net->logits].grad_written = true;
    int n = net->last_n;
    for (int i = net->n_nodes - 1; i >= first_trainable; i--) {
        int rc = backward_node(net, &net->nodes[i], n, i > first_trainable, err);
        if (rc < 0)
            return rc;
    }
    return 0;
}

int nas_net_read_stats(nas_net *net, nas_loss_stats *out, nas_err *err)
{
    float s[NAS_LOSS_STATS];
    int rc = net->be->download(net->be, net->stats, s, NAS_LOSS_STATS, err);
    if (rc < 0)
        return rc;
    out->loss_sum = s[NAS_LOSS_STAT_LOSS_SUM];
    out->top1 = s[NAS_LOSS_STAT_TOP1];
    out->top5 = s[NAS_LOSS_STAT_TOP5];
    out->count = s[NAS_LOSS_STAT_COUNT];
    return 0;
}

int nas_net_reset_stats(nas_net *net, nas_err *err)
{
    return net->be->fill(net->be, net->stats, 0.0f, NAS_LOSS_STATS, err);
}

int nas_net_read_logits(nas_net *net, float *out, int n, nas_err *err)
{
    if (net->last_n == 0 || n < 1 || n > net->last_n)
        return nas_err_set(err, NAS_ESTATE, "read logits: %d images asked, the last forward ran %d",
                           n, net->last_n);
    return net->be->download(net->be, net->tensors[net->logits].val, out,
                             (size_t)n * net->arch.classes, err);
}
